#!/usr/bin/env bash
# The whole test suite: every test against the first ComfyUI of the matrix, then the ComfyUI tests (marker
# `comfyui`) against each other one, each ComfyUI in its own virtual environment (built on first use).
# The matrix (tools/comfyui_trees.py): ComfyUI 0.3.75 from PyPI, plus the archive in ../shared/comfyui
# when that folder exists; or $COMFYUI_PATH alone. Arguments go to pytest. The summary names each
# version and how its run ended.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
matrix=$(python3 -m tools.comfyui_trees matrix) || exit 1
status=0
summary=""
selection=()
while IFS=$'\t' read -r version tree; do
  venv=$(scripts/venv.sh "$tree") || exit 1
  echo "=== ComfyUI $version ($tree): ${selection[*]:-every test}"
  COMFYUI_PATH="$tree" "$venv/bin/python" -m pytest "$@" "${selection[@]}"
  rc=$?
  # 5: nothing selected (the arguments named only core tests), which the first run has covered.
  if [ $rc -eq 0 ] || { [ $rc -eq 5 ] && [ ${#selection[@]} -gt 0 ]; }; then
    summary+="ComfyUI $version: passed"$'\n'
  else
    summary+="ComfyUI $version: FAILED (pytest exit $rc)"$'\n'
    status=1
  fi
  selection=(-m comfyui)
done <<< "$matrix"
printf '=== tested ComfyUI versions\n%s' "$summary"
exit $status
