#!/usr/bin/env bash
# Regenerates the Go code and OpenAPI document beside proto/flurry/v1/*.proto
# with buf and the plugins pinned as Go tool dependencies in go.mod, then
# lints the protos. Runs offline apart from the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
go tool buf generate
go tool buf lint
