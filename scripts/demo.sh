#!/usr/bin/env bash
# Runs the main job on built-in tiny models in the project's virtual environment.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$("$root/scripts/venv.sh")
cd "$root"
exec "$venv/bin/python" -m squeeze_core.demo "$@"
