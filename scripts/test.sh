#!/usr/bin/env bash
# The whole test suite from a fresh clone: environment, install, services, lint, types, docs, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
scripts/ensure-redis.sh
if [ -x scripts/ensure-chromium.sh ]; then scripts/ensure-chromium.sh; fi
echo "== ruff"; .venv/bin/ruff check .
echo "== ruff format"; .venv/bin/ruff format --check .
echo "== mypy --strict"; .venv/bin/mypy --strict lensmor_async
.venv/bin/mypy --strict --explicit-package-bases examples
.venv/bin/mypy --strict tests/typecheck  # typing contracts (e.g. guard.quote keeps signatures)
# The docs build (mkdocs --strict, no warnings) runs inside pytest: tests/test_docs_examples.py.
echo "== pytest"; exec .venv/bin/python -m pytest "$@"
