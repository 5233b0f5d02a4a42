#!/usr/bin/env bash
# The main job: the example workflow, end to end, in a headless ComfyUI on built-in stand-in models.
# Builds the environment, the ComfyUI tree and the stand-ins on first use (all cached), prints the
# image's path and stops the server. Pass another workflow file to run that one instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$("$root/scripts/venv.sh")
cd "$root"
exec "$venv/bin/python" -m tools.run_workflow "$@"
