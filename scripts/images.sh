#!/usr/bin/env bash
# Builds Flurry's runtime images (go, python:3, nodejs) on the local Docker
# engine with the static flurry binary: `flurry images`, the very code path
# that `flurry standalone` and `flurry invoker` run at start. There is no
# registry: images are tagged by content and only missing ones are built.
# The language kinds' base images come from a Debian root file system made
# with mmdebstrap from this machine's apt sources (cached under
# ~/.cache/flurry), so the first build needs mmdebstrap and apt's network.
#
#   scripts/images.sh [--kinds go,python:3,nodejs] [--rebuild]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/flurry}

if [ ! -x "$BIN" ]; then
  echo "no $BIN; run make build first" >&2
  exit 1
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
  echo "note: mmdebstrap is not installed; python:3 and nodejs images can only be built if their base images exist already (apt-get install mmdebstrap)" >&2
fi
start=$(date +%s)
"$BIN" images "$@"
echo "runtime images ready in $(( $(date +%s) - start )) s" >&2
