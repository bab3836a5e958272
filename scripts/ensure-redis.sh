#!/usr/bin/env bash
# Make sure `redis-server` is on PATH: the ledger tests start a real one (no mocks).
# Idempotent: does nothing when it is already installed. Needs root (CI runs as root).
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-redis: redis-server is missing and installing it needs root" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends redis-server >/dev/null

# The Debian package may start a system-wide instance on 6379; the tests never use it,
# they start their own on a free loopback port, so it is left alone.
if ! command -v redis-server >/dev/null 2>&1; then
    echo "ensure-redis: redis-server still not on PATH after apt-get install" >&2
    exit 1
fi
