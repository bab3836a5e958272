#!/usr/bin/env bash
# The whole test suite from a fresh clone: environment, install, services, lint, types, docs,
# tests, the built wheel, and the dependency matrix (floors/newest x Python 3.11/3.13).
#
#   scripts/test.sh               # everything (CI: .ci/run)
#   scripts/test.sh tests/x.py    # lint, types and pytest with these arguments only
set -euo pipefail
cd "$(dirname "$0")/.."

timings=()
timed() {  # timed NAME COMMAND...: run it, remember how long it took
  local name="$1" started=$SECONDS
  shift
  "$@"
  timings+=("$(printf '%-28s %4d s' "$name" $((SECONDS - started)))")
}
report() {
  local status=$?
  echo "== time per part"
  printf '   %s\n' "${timings[@]}"
  echo "   total $SECONDS s (exit $status)"
}
trap report EXIT

timed setup scripts/bootstrap.sh dev
timed services bash -c 'scripts/ensure-redis.sh; [ ! -x scripts/ensure-chromium.sh ] || scripts/ensure-chromium.sh'
lint() {
  echo "== ruff"
  .venv/bin/ruff check .
  echo "== ruff format"
  .venv/bin/ruff format --check .
  echo "== mypy --strict"
  .venv/bin/mypy --strict lensmor_async
  .venv/bin/mypy --strict --explicit-package-bases examples
  .venv/bin/mypy --strict tests/typecheck # typing contracts (e.g. guard.quote keeps signatures)
}
timed "lint and types" lint
# The docs build (mkdocs --strict, no warnings) runs inside pytest: tests/test_docs_examples.py.
echo "== pytest (Python 3.11, newest dependencies)"
timed "pytest (py3.11 newest)" .venv/bin/python -m pytest "$@"
if [ "$#" -gt 0 ]; then
  echo "== (a targeted run: the wheel check and the dependency matrix are skipped)"
  exit 0
fi
timed "wheel build and install" scripts/ci-wheel.sh
for combo in py3.11-floors py3.13-floors py3.13-newest; do
  timed "matrix $combo" scripts/ci-matrix.sh "$combo"
done
