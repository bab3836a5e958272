#!/usr/bin/env bash
# The package as users get it: build the wheel and sdist, check their metadata (twine),
# install the wheel into a clean venv, and use it from outside the source tree (import,
# `lensmor --help`, `lensmor --version`, the demo). A module or data file missing from the
# wheel fails here, although every test on the source tree passes.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== wheel: build"
.venv/bin/python -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || {
  cat "$work/build.log"
  exit 1
}
wheel=("$work"/dist/*.whl)
sdist=("$work"/dist/*.tar.gz)
[ "${#wheel[@]}" = 1 ] && [ "${#sdist[@]}" = 1 ] || { echo "expected one wheel and one sdist"; exit 1; }

echo "== wheel: twine check"
.venv/bin/twine check --strict "${wheel[0]}" "${sdist[0]}"

echo "== wheel: contents"
.venv/bin/python - "${wheel[0]}" "${sdist[0]}" <<'EOF'
import sys
import tarfile
import zipfile
from email.parser import Parser

import lensmor_async

wheel, sdist = sys.argv[1], sys.argv[2]
names = set(zipfile.ZipFile(wheel).namelist())
source = {
    p.as_posix()
    for p in __import__("pathlib").Path("lensmor_async").rglob("*")
    if p.is_file() and "__pycache__" not in p.parts
}
missing = sorted(source - names)
if missing:
    sys.exit(f"files missing from the wheel: {missing}")
(meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
meta = Parser().parsestr(zipfile.ZipFile(wheel).read(meta_name).decode())
if meta["Version"] != lensmor_async.__version__:
    sys.exit(f"wheel version {meta['Version']} != __version__ {lensmor_async.__version__}")
if meta["Requires-Python"] != ">=3.11":
    sys.exit(f"Requires-Python is {meta['Requires-Python']!r}")
requires = meta.get_all("Requires-Dist") or []
for name in ("aiohttp", "anyio", "attrs", "cattrs", "orjson"):
    if not any(r.startswith(name) for r in requires):
        sys.exit(f"{name} missing from Requires-Dist: {requires}")
with tarfile.open(sdist) as tar:
    members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
for needed in ("pyproject.toml", "README.md", "lensmor_async/py.typed", "lensmor_async/_version.py"):
    if needed not in members:
        sys.exit(f"{needed} missing from the sdist")
print(f"   {len(names)} files in the wheel, version {meta['Version']}, {len(requires)} requirements")
EOF

echo "== wheel: install into a clean venv"
python="${PYTHON:-python3}"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "${wheel[0]}" >"$work/install.log" 2>&1 || {
  cat "$work/install.log"
  exit 1
}
"$work/venv/bin/python" -m pip check

echo "== wheel: use it from outside the source tree"
cd "$work"  # nothing of the checkout is importable from here
"$work/venv/bin/python" -c '
import lensmor_async, lensmor_async.testing, lensmor_async.bulk, lensmor_async.guard
assert lensmor_async.__file__.startswith("'"$work"'/venv/"), lensmor_async.__file__
print("   imported", lensmor_async.__version__, "from", lensmor_async.__file__)
'
"$work/venv/bin/lensmor" --help >/dev/null
"$work/venv/bin/lensmor" --version
"$work/venv/bin/lensmor" demo >"$work/demo.log" 2>&1 || { cat "$work/demo.log"; exit 1; }
grep -q "(they agree)" "$work/demo.log" || { cat "$work/demo.log"; echo "demo: no agreement line"; exit 1; }
echo "   demo ran: $(grep -c . "$work/demo.log") lines, truth ledger agrees"
cd "$root"
