#!/usr/bin/env bash
# Runs the whole test suite in the project's virtual environment (built on first use).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$("$root/scripts/venv.sh")
cd "$root"
exec "$venv/bin/python" -m pytest "$@"
