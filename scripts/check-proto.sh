#!/usr/bin/env bash
# Regenerates the protos in place and fails when the result differs from the
# committed files (changed, deleted or new untracked files under proto/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/proto.sh
status=0
if ! git diff --quiet --exit-code -- proto; then
	echo "check-proto: generated code differs from the committed files; run scripts/proto.sh and commit:" >&2
	git diff --stat -- proto >&2
	status=1
fi
untracked=$(git ls-files --others --exclude-standard -- proto)
if [ -n "$untracked" ]; then
	echo "check-proto: untracked files under proto/ (commit them or remove them):" >&2
	echo "$untracked" >&2
	status=1
fi
exit "$status"
