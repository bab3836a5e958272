#!/usr/bin/env bash
# Make the browser test runnable: Debian's Chromium at /usr/bin/chromium and the Python
# `playwright` package in .venv. Idempotent and quiet; installs only what is missing and
# prints the installer's output only when it fails.
#
# Playwright's own browser download (`playwright install`) is never used: this machine
# cannot fetch it, and the tests launch Debian's build with executable_path instead.
set -euo pipefail
cd "$(dirname "$0")/.."

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

quietly() {
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure-chromium: failed: $*" >&2
    exit 1
  fi
}

if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  quietly $sudo apt-get update -qq
  quietly $sudo apt-get install -y -qq chromium
fi

# playwright is in the dev extra; install it here too when only the runtime install
# exists (the range matches pyproject.toml). Its wheel carries the driver, not a browser.
if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import playwright.async_api" 2>/dev/null; then
  quietly .venv/bin/python -m pip install -q "playwright>=1.45"
fi

# Debian's wrapper script prints noise on stderr; only the exit status matters here.
quietly /usr/bin/chromium --version
