#!/usr/bin/env bash
# The main job: a guarded research workflow against the embedded fake server (no API key).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python -m lensmor_async demo "$@"
