#!/usr/bin/env bash
# Builds the two images of the compose deployment on the local Docker
# engine, both FROM scratch: $FLURRY_IMAGE (the static flurry binary) and
# $NATS_IMAGE (a static nats-server from the module in go.mod). Go's build
# cache and Docker's layer cache make a rebuild of unchanged sources cheap.
set -euo pipefail
cd "$(dirname "$0")/../.."
FLURRY_IMAGE=${FLURRY_IMAGE:-flurry/flurry:local}
NATS_IMAGE=${NATS_IMAGE:-flurry/nats-server:local}
GO=${GO:-go}

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/tmp" "$ctx/rootfs/data"
chmod 1777 "$ctx/rootfs/tmp"
# Fixed times, so that Docker's cache sees the same context every time.
touch -d @0 "$ctx/rootfs" "$ctx/rootfs/tmp" "$ctx/rootfs/data"
CGO_ENABLED=0 "$GO" build -trimpath -o "$ctx/flurry" ./cmd/flurry
CGO_ENABLED=0 "$GO" build -trimpath -o "$ctx/nats-server" github.com/nats-io/nats-server/v2
docker build -q -f deploy/compose/flurry.Dockerfile -t "$FLURRY_IMAGE" "$ctx"
docker build -q -f deploy/compose/nats-server.Dockerfile -t "$NATS_IMAGE" "$ctx"
