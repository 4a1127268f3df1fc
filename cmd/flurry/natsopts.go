package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/natsclient"
)

// natsClientFlags authenticate a server command to NATS and secure the
// connection (docs/adr/019-nats-credentials.md).
type natsClientFlags struct {
	creds, ca, cert, key string
}

func (f *natsClientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.creds, "nats-creds", "", "NATS credentials file: an nkey seed (a standalone's DATA_DIR/nats/ROLE.nk) or a .creds file with a user JWT")
	fs.StringVar(&f.ca, "nats-ca", "", "PEM file of the CAs that sign the NATS server's certificate (turns TLS on)")
	fs.StringVar(&f.cert, "nats-cert", "", "PEM client certificate, for a NATS server that verifies clients (with --nats-key)")
	fs.StringVar(&f.key, "nats-key", "", "PEM key of --nats-cert")
}

// options are the connection options of role from the flags.
func (f natsClientFlags) options(role broker.Role, log *slog.Logger) ([]nats.Option, error) {
	return natsclient.Options(natsclient.Config{Role: string(role), Creds: f.creds, CA: f.ca, Cert: f.cert, Key: f.key, Log: log})
}

// connectRole connects an in-process component of standalone to its
// embedded broker b as role. With TLS on, it trusts the certificates of
// tlsCert, the broker's own.
func connectRole(ctx context.Context, b *broker.Broker, role broker.Role, tlsCert string, log *slog.Logger) (*nats.Conn, error) {
	opts, err := natsClientFlags{creds: b.CredsFile(role), ca: tlsCert}.options(role, log)
	if err != nil {
		return nil, err
	}
	return connect(ctx, b.ClientURL(), "flurry-"+string(role), log, opts...)
}

// allOptions applies opts in order, as one option.
func allOptions(opts []nats.Option) nats.Option {
	return func(o *nats.Options) error {
		for _, opt := range opts {
			if err := opt(o); err != nil {
				return err
			}
		}
		return nil
	}
}
