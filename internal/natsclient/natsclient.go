package natsclient

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/internal/names"
)

// ErrCredsFormat is returned for a credentials file that holds neither a
// user JWT nor an nkey user seed.
var ErrCredsFormat = errors.New("neither a NATS user JWT (.creds) nor an nkey user seed")

// Config says how to authenticate and secure one connection.
type Config struct {
	// Role is the connection's role ("controller", "invoker", ...); its
	// replies arrive under names.InboxPrefix(Role). Required.
	Role string
	// Creds is a credentials file: a .creds file (user JWT and seed) or
	// an nkey seed file. Empty: connect without credentials.
	Creds string
	// CA is a PEM file of the CAs that sign the server's certificate;
	// Cert and Key a client certificate, for servers that verify clients.
	// Any of them turns TLS on. Empty: the system's roots, no client cert.
	CA, Cert, Key string
	// Log gets asynchronous NATS errors. Default slog.Default().
	Log *slog.Logger
}

// Validate checks c and applies defaults.
func (c *Config) Validate() error {
	if c.Role == "" || !names.Plain(c.Role) {
		return fmt.Errorf("natsclient: role %q: want a plain name", c.Role)
	}
	if (c.Cert == "") != (c.Key == "") {
		return errors.New("natsclient: a client certificate needs both its certificate and its key file")
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}

// Options returns the nats.go options of c.
func Options(c Config) ([]nats.Option, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	log := c.Log
	opts := []nats.Option{
		nats.CustomInboxPrefix(names.InboxPrefix(c.Role)),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			if errors.Is(err, nats.ErrPermissionViolation) {
				log.Error("NATS PERMISSION VIOLATION: this role may not do that", "role", c.Role, "subscription", subject, "err", err)
				return
			}
			log.Error("nats error", "role", c.Role, "subscription", subject, "err", err)
		}),
	}
	if c.Creds != "" {
		o, err := credsOption(c.Creds)
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	if c.CA != "" {
		opts = append(opts, nats.RootCAs(c.CA))
	}
	if c.Cert != "" {
		opts = append(opts, nats.ClientCert(c.Cert, c.Key))
	}
	return opts, nil
}

// credsOption reads path to tell a .creds file (user JWT) from an nkey
// seed file.
func credsOption(path string) (nats.Option, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("natsclient: credentials: %w", err)
	}
	defer clear(b)
	switch {
	case bytes.Contains(b, []byte("BEGIN NATS USER JWT")):
		return nats.UserCredentials(path), nil
	case hasUserSeed(b):
		o, err := nats.NkeyOptionFromSeed(path)
		if err != nil {
			return nil, fmt.Errorf("natsclient: credentials %s: %w", path, err)
		}
		return o, nil
	}
	return nil, fmt.Errorf("natsclient: credentials %s: %w", path, ErrCredsFormat)
}

// hasUserSeed reports whether a line of b is an nkey user seed ("SU...").
func hasUserSeed(b []byte) bool {
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("SU")) {
			return true
		}
	}
	return false
}
