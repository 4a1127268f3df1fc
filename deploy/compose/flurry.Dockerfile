# Flurry's own image: the static flurry binary and nothing else. The same
# binary is every component (controller, gateway, invoker) and, built into
# the runtime images by the invoker at start, the in-container action proxy
# (docs/adr/002), so the image needs no shell, libc or package manager.
# Build it with `make compose-images` (deploy/compose/images.sh), which
# prepares the context: flurry, and rootfs/ with /tmp (mode 1777) because
# the invoker keeps its id and the image builder its cache there.
FROM scratch
COPY rootfs/ /
COPY flurry /flurry
ENTRYPOINT ["/flurry"]
