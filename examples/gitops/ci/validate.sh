#!/usr/bin/env bash
# Merge gate of a HashRelay fleet repository: every hosts/*.yaml must pass `hashrelay validate`.
# Exit 0 when all do; exit 1 otherwise, after printing every error as file:line:col: key: message (hint).
# HASHRELAY names the binary (default: hashrelay on PATH). Private keys live on the machines, not in
# git, so key files are not checked here (--skip-key-files); the agents check them when they load.
set -euo pipefail
cd "$(dirname "$0")/.."

hashrelay="${HASHRELAY:-hashrelay}"
shopt -s nullglob
files=(hosts/*.yaml)
if [ "${#files[@]}" -eq 0 ]; then
  echo "ci/validate.sh: no hosts/*.yaml to validate" >&2
  exit 1
fi

failed=0
for file in "${files[@]}"; do
  # validate exits 0 (valid) or 2 (invalid or unreadable); anything else is a broken gate.
  code=0
  "$hashrelay" validate --skip-key-files --config "$file" || code=$?
  case "$code" in
    0) ;;
    2) failed=$((failed + 1)) ;;
    *) echo "ci/validate.sh: $hashrelay validate exited $code on $file" >&2; exit "$code" ;;
  esac
done

if [ "$failed" -gt 0 ]; then
  echo "ci/validate.sh: $failed of ${#files[@]} host files are invalid" >&2
  exit 1
fi
echo "ci/validate.sh: all ${#files[@]} host files are valid"
