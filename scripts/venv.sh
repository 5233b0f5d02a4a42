#!/usr/bin/env bash
# Prints the path of the project's virtual environment, building it first if needed.
# The environment lives outside the clone, keyed by the hash of requirements-test.txt and the
# Python version, so a fresh machine builds it from nothing and later runs reuse it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
key=$( (cat "$root/requirements-test.txt"; "$python" --version) | sha256sum | cut -c1-16)
cache=${SQUEEZE_CACHE:-$HOME/.cache/comfyui-squeeze}
venv="$cache/venv-$key"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  mkdir -p "$cache"
  rm -rf "$venv"
  echo "building the virtual environment in $venv (about 2 minutes)" >&2
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/requirements-test.txt" >&2
  touch "$venv/.complete"
fi
echo "$venv"
