package main

import (
	"context"
	"flag"
	"os"

	"github.com/flurryfn/flurry/internal/broker"
)

func init() {
	register("nats-config", "print the nats-server authorization block of Flurry's roles (--dir: where their credentials are kept or made)", false, runNATSConfig)
}

// runNATSConfig prints, for an operator's own NATS cluster, the users and
// permissions the embedded broker uses, making missing credentials.
func runNATSConfig(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("nats-config", flag.ContinueOnError)
	dir := fs.String("dir", "flurry-nats", "directory of the roles' credentials (ROLE.nk, made when missing); give each component its own file with --nats-creds")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b, err := broker.AuthorizationConfig(*dir)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(b)
	return err
}
