#!/usr/bin/env bash
# Prints the Secrets the manifests mount, made from fresh credentials:
#   deploy/kubernetes/secrets.sh CREDS_DIR > secrets.yaml && kubectl apply -f secrets.yaml
# CREDS_DIR keeps the nkey seeds (flurry nats-config; existing seeds are
# kept) and keys.env with the guest and admin keys, so that a rerun prints
# the same Secrets. Needs the flurry binary on PATH (make build) or $FLURRY.
set -euo pipefail
dir=${1:?usage: secrets.sh CREDS_DIR}
flurry=${FLURRY:-flurry}
umask 077
mkdir -p "$dir"
auth=$("$flurry" nats-config --dir "$dir")
if [ ! -f "$dir/keys.env" ]; then
  key() { tr -dc 'A-Za-z0-9' </dev/urandom | head -c 64; }
  {
    echo "FLURRY_GUEST_KEY=$(cat /proc/sys/kernel/random/uuid):$(key)"
    echo "FLURRY_ADMIN_AUTH=$(cat /proc/sys/kernel/random/uuid):$(key)"
  } >"$dir/keys.env"
fi
# shellcheck disable=SC1091
. "$dir/keys.env"
b64() { base64 -w0; }
cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: flurry-nats-auth
  namespace: flurry
data:
  flurry-auth.conf: $(printf '%s\n' "$auth" | b64)
---
# Each Deployment mounts only its role's seed (items:).
apiVersion: v1
kind: Secret
metadata:
  name: flurry-nats-creds
  namespace: flurry
data:
  controller.nk: $(b64 <"$dir/controller.nk")
  gateway.nk: $(b64 <"$dir/gateway.nk")
  invoker.nk: $(b64 <"$dir/invoker.nk")
---
apiVersion: v1
kind: Secret
metadata:
  name: flurry-keys
  namespace: flurry
data:
  guest-key: $(printf '%s' "$FLURRY_GUEST_KEY" | b64)
  admin-auth: $(printf '%s' "$FLURRY_ADMIN_AUTH" | b64)
YAML
