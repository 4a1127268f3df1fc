#!/usr/bin/env bash
# Starts distributed Flurry with docker-compose:
#   deploy/compose/up.sh [DIR] [docker-compose up flags...]
# DIR (default ./flurry-deploy) receives what the stack mounts, made once
# and kept on later runs so that restarts keep their credentials:
#   creds/ROLE.nk       one nkey seed per role (flurry nats-config, ADR 019)
#   nats/*.conf         each NATS server's configuration and the roles' authorization block
#   keys.env            FLURRY_GUEST_KEY and FLURRY_ADMIN_AUTH (UUID:KEY each)
# Then it makes sure Flurry's container network and its metadata rules
# exist on this engine and runs `docker-compose up -d`. The images come
# from `make compose-images`. COMPOSE_PROJECT_NAME names the stack as
# usual; FLURRY_ALLOW_METADATA=1 skips the metadata rules (do so only
# where containers may reach link-local addresses).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-flurry-deploy}
[ $# -gt 0 ] && shift
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
FLURRY_IMAGE=${FLURRY_IMAGE:-flurry/flurry:local}
NATS_IMAGE=${NATS_IMAGE:-flurry/nats-server:local}
export FLURRY_IMAGE NATS_IMAGE FLURRY_DEPLOY_DIR=$dir

for img in "$FLURRY_IMAGE" "$NATS_IMAGE"; do
  if ! docker image inspect "$img" >/dev/null 2>&1; then
    echo "up.sh: image $img is missing: run make compose-images" >&2
    exit 1
  fi
done

umask 077
# The seeds, made by the flurry image itself so that no flurry binary is
# needed on this machine; existing seeds are kept. The authorization block
# it prints is regenerated from them every time.
mkdir -p "$dir/creds" "$dir/nats"
docker run --rm --network none -u "$(id -u):$(id -g)" -v "$dir/creds:/creds" "$FLURRY_IMAGE" \
  nats-config --dir /creds >"$dir/nats/flurry-auth.conf.new"
mv "$dir/nats/flurry-auth.conf.new" "$dir/nats/flurry-auth.conf"

for i in 1 2 3; do
  cat >"$dir/nats/nats$i.conf" <<CONF
# NATS server nats$i of Flurry's compose stack (written by up.sh).
server_name: nats$i
listen: 0.0.0.0:4222
# Activations carry up to 1 MiB of parameters, results and code more.
max_payload: 8MB
jetstream { store_dir: /data }
# Routes are on the stack's own network only: nothing publishes 6222.
cluster {
  name: flurry
  listen: 0.0.0.0:6222
  routes: [nats-route://nats1:6222, nats-route://nats2:6222, nats-route://nats3:6222]
}
include ./flurry-auth.conf
CONF
done
# The files stay private (umask 077): the containers run as root, which
# reads them regardless.

if [ ! -f "$dir/keys.env" ]; then
  key() { tr -dc 'A-Za-z0-9' </dev/urandom | head -c 64; }
  {
    echo "FLURRY_GUEST_KEY=$(cat /proc/sys/kernel/random/uuid):$(key)"
    echo "FLURRY_ADMIN_AUTH=$(cat /proc/sys/kernel/random/uuid):$(key)"
  } >"$dir/keys.env"
fi
set -a
# shellcheck disable=SC1091
. "$dir/keys.env"
set +a

# Flurry's network, made as the invoker makes it (invoker/container/docker
# network.go), so that compose can attach the invoker to it.
if ! docker network inspect flurry >/dev/null 2>&1; then
  docker network create --driver bridge --opt com.docker.network.bridge.name=flurry0 \
    --label io.flurry.managed=true flurry >/dev/null 2>&1 || docker network inspect flurry >/dev/null
fi
# The rules the invoker installs itself when it runs on the host: no
# container on Flurry's network reaches a link-local address (cloud
# metadata and credentials). Each is inserted once.
if [ "${FLURRY_ALLOW_METADATA:-}" != 1 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v iptables >/dev/null; then
    echo "up.sh: installing the metadata rules needs root and iptables (or FLURRY_ALLOW_METADATA=1)" >&2
    exit 1
  fi
  rule() {
    local cmd=$1; shift
    "$cmd" -w -C "$@" 2>/dev/null || "$cmd" -w -I "$@"
  }
  c=(-m comment --comment "flurry: no metadata" -j REJECT)
  rule iptables DOCKER-USER -i flurry0 -d 169.254.0.0/16 "${c[@]}"
  rule iptables INPUT -i flurry0 -d 169.254.0.0/16 "${c[@]}"
  if command -v ip6tables >/dev/null; then
    rule ip6tables FORWARD -i flurry0 -d fd00:ec2::254/128 "${c[@]}"
    rule ip6tables INPUT -i flurry0 -d fd00:ec2::254/128 "${c[@]}"
  fi
fi

exec docker-compose -f "$here/docker-compose.yml" up -d "$@"
