#!/usr/bin/env bash
# The dependency matrix, besides the main suite (which runs on Python 3.11 with the newest
# releases in .venv): the fast test subset on the declared floors (constraints/floors-py*.txt)
# and on the newest releases, on Python 3.11 and 3.13.
#
#   scripts/ci-matrix.sh                  # every combination below
#   scripts/ci-matrix.sh py3.13-floors    # one of them
#
# Each combination has its own venv under .venv-matrix/, rebuilt when pyproject.toml or its
# constraints change (a "newest" venv also once a day, so it stays newest). Python 3.13 comes
# from pyenv (or PATH): the CI machine image has it; a missing interpreter fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

COMBOS=(py3.11-floors py3.13-floors py3.13-newest)
# The fast subset: the transport, pipeline, guard, models, CLI, fake-server and docs-example
# tests, in about a minute and a half. Left out (they run in the main suite): the docs site
# build, browser, chaos, multi-process, and tests of our own pure code.
FAST_TESTS=(
  tests/test_transport.py tests/test_connections.py tests/test_transport_fallback.py
  tests/test_wire.py tests/test_client.py tests/test_retry_integration.py
  tests/test_guard_paid_routes.py tests/test_guard_round_trips.py tests/test_guard_tasks.py
  tests/test_ledger_sqlite.py tests/test_journal_sqlite.py tests/test_models.py
  tests/test_converter.py tests/test_pagination.py tests/test_bulk.py tests/test_cli.py
  tests/test_fake_server.py tests/test_cancellation.py tests/test_public_api.py
  tests/test_packaging.py tests/test_docs_examples.py tests/test_fake_standalone.py
  tests/test_benchmarks_smoke.py # it hung on some anyio releases: the floor must pass it
  # the docs site build and the examples type check need mkdocs and mypy (the main venv has them)
  --deselect tests/test_docs_examples.py::test_docs_site_builds_strictly_without_a_single_warning
  --deselect tests/test_docs_examples.py::test_every_python_example_and_the_readme_example_pass_mypy_strict
)

find_python() {  # find_python 3.13 -> the path of a working python3.13
  local version="$1" candidate
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version" \
    "$(command -v "python$version" || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c "" 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "ci-matrix: no python$version found (pyenv or PATH); the matrix needs it" >&2
  return 1
}

setup_venv() {  # setup_venv COMBO -> prints the venv's python
  local combo="$1" py="${1%%-*}" kind="${1#*-}" venv=".venv-matrix/$1" python
  python="$(find_python "${py#py}")" || return 1
  local -a constraint=()
  local stamp_input
  stamp_input="$(cat pyproject.toml)$("$python" --version)"
  if [ "$kind" = floors ]; then
    constraint=(-c "constraints/floors-$py.txt")
    stamp_input+="$(cat "constraints/floors-$py.txt")"
  else
    stamp_input+="$(date -u +%F)"
  fi
  local want
  want="$(printf '%s' "$stamp_input" | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$venv/.stamp" ] || [ "$(cat "$venv/.stamp")" != "$want" ]; then
    rm -rf "$venv"
    mkdir -p .venv-matrix
    local log=".venv-matrix/$combo.install.log"
    if ! {
      "$python" -m venv "$venv" &&
        "$venv/bin/python" -m pip install -q --upgrade pip &&
        "$venv/bin/python" -m pip install -q "${constraint[@]}" -e ".[test]" &&
        "$venv/bin/python" -m pip check
    } >"$log" 2>&1; then
      cat "$log" >&2
      return 1
    fi
    echo "$want" >"$venv/.stamp"
  fi
  echo "$venv/bin/python"
}

check_floors() {  # check_floors PYTHON CONSTRAINTS: every pinned floor is what got installed
  "$1" - "$2" <<'EOF'
import sys
from importlib import metadata

wrong = []
for line in open(sys.argv[1], encoding="utf-8"):
    pin = line.split("#")[0].strip()
    if pin:
        name, version = pin.split("==")
        if metadata.version(name) != version:
            wrong.append(f"{name} {metadata.version(name)} (floor {version})")
if wrong:
    sys.exit("floors not installed: " + ", ".join(wrong))
EOF
}

status=0
for combo in "${@:-${COMBOS[@]}}"; do
  started=$SECONDS
  echo "== matrix $combo"
  python="$(setup_venv "$combo")"
  if [ "${combo#*-}" = floors ]; then
    check_floors "$python" "constraints/floors-${combo%%-*}.txt"
  fi
  "$python" -c 'import sys; from importlib.metadata import version as v; print("  ", "python",
    sys.version.split()[0], *(f"{n} {v(n)}" for n in ("aiohttp", "anyio", "attrs", "cattrs", "orjson")))'
  if ! "$python" -m pytest -q "${FAST_TESTS[@]}"; then
    status=1
  fi
  echo "== matrix $combo: $((SECONDS - started)) s"
done
exit "$status"
