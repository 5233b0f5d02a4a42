#!/usr/bin/env bash
# Prints the path of the virtual environment for one ComfyUI tree, building it first if needed.
# Usage: venv.sh [--comfyui-only] [COMFYUI_TREE]  (default: $COMFYUI_PATH, else ComfyUI 0.3.75 unpacked into the cache)
# It installs requirements-test.txt and the tree's own requirements (tools/comfyui_trees.py says which
# lines), lives outside the clone and is keyed by the hash of both and the Python version, so a fresh
# machine builds it from nothing, later runs reuse it, and each ComfyUI gets its own. --comfyui-only builds
# what a user's ComfyUI has before the pack is installed: the tree's requirements and the torch pins alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
project_requirements="$root/requirements-test.txt"
kind=venv
if [ "${1:-}" = "--comfyui-only" ]; then
  kind=comfyui-only
  shift
fi
tree=${1:-$(cd "$root" && "$python" -m tools.comfyui_trees default | cut -f2)}
cache=${SQUEEZE_CACHE:-$HOME/.cache/comfyui-squeeze}
mkdir -p "$cache"
tree_requirements=$(mktemp "$cache/requirements-XXXXXX.txt")
own_requirements=$(mktemp "$cache/requirements-XXXXXX.txt")
trap 'rm -f "$tree_requirements" "$own_requirements"' EXIT
(cd "$root" && "$python" -m tools.comfyui_trees requirements "$tree") > "$tree_requirements"
if [ "$kind" = comfyui-only ]; then
  grep -E '^(torch|torchvision)==' "$project_requirements" > "$own_requirements"
else
  cp "$project_requirements" "$own_requirements"
fi
key=$( (cat "$own_requirements" "$tree_requirements"; "$python" --version) | sha256sum | cut -c1-16)
venv="$cache/$kind-$key"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  echo "building the $kind environment for $tree in $venv (about 2 minutes)" >&2
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$own_requirements" -r "$tree_requirements" >&2
  echo "$tree" > "$venv/.tree"
  touch "$venv/.complete"
  # An environment of the same kind built for this tree before (other requirements) is stale: about 6 GB each.
  for old in "$cache/$kind"-*; do
    if [ "$old" != "$venv" ] && [ -f "$old/.tree" ] && [ "$(cat "$old/.tree")" = "$tree" ]; then
      rm -rf "$old"
    fi
  done
fi
echo "$venv"
