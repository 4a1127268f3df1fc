# A NATS server image from the nats-server/v2 module in go.mod: the server
# Flurry embeds in standalone, built static, because no registry is
# assumed reachable. Its configuration is mounted at /etc/nats (up.sh
# writes it); the JetStream store is the volume at /data.
FROM scratch
COPY rootfs/ /
COPY nats-server /nats-server
EXPOSE 4222 6222
ENTRYPOINT ["/nats-server"]
CMD ["-c", "/etc/nats/nats.conf"]
