package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// MaxPayload is the largest NATS message Flurry's embedded server accepts.
// An activation carries up to 1 MiB of parameters plus its envelope, and a
// result up to 1 MiB plus its record, so the 1 MiB default is too small.
// An external NATS must be configured with at least this max_payload.
const MaxPayload = 8 << 20

// Config configures the embedded server.
type Config struct {
	// DataDir holds the JetStream file store. Required.
	DataDir string
	// Listen is the client port's host:port; "127.0.0.1:-1" picks a free port.
	// Default "127.0.0.1:4222".
	Listen string
	// MaxMemory and MaxStore bound JetStream; 0 lets the server choose.
	MaxMemory int64
	MaxStore  int64
	// MaxConns bounds the client connections, so that a flood of the
	// client port cannot take the descriptors JetStream's files need;
	// 0 leaves nats-server's default (64K).
	MaxConns int
	// CredsDir holds one nkey seed per Role (CredsFile), made on first
	// start and kept. The client port admits only these users. Default
	// DataDir/creds.
	CredsDir string
	// TLSCert and TLSKey are PEM files; with both, the client port
	// requires TLS. Default: plain TCP.
	TLSCert, TLSKey string
	// Log receives the server's errors: refused logins and permission
	// violations. Default: discarded.
	Log *slog.Logger
	// ServerName names the server; the servers of a cluster need
	// distinct names. Default "flurry".
	ServerName string
	// Cluster, when set, joins the server to a NATS cluster.
	Cluster *Cluster
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("broker: data dir is required")
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:4222"
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("broker: listen %q: %w", c.Listen, err)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return fmt.Errorf("broker: listen %q: bad port", c.Listen)
	}
	_ = host
	if c.CredsDir == "" {
		c.CredsDir = filepath.Join(c.DataDir, "creds")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("broker: TLS needs both a certificate and a key")
	}
	if c.ServerName == "" {
		c.ServerName = "flurry"
	}
	if c.Cluster != nil {
		return c.Cluster.validate()
	}
	return nil
}

// Broker is a running embedded nats-server.
type Broker struct {
	srv      *server.Server
	credsDir string
	done     chan struct{}
}

// Start starts the server and waits until it accepts clients.
func Start(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, portStr, _ := net.SplitHostPort(cfg.Listen)
	port, _ := strconv.Atoi(portStr)
	opts := &server.Options{
		ServerName:         cfg.ServerName,
		Host:               host,
		Port:               port,
		JetStream:          true,
		StoreDir:           cfg.DataDir,
		JetStreamMaxMemory: cfg.MaxMemory,
		JetStreamMaxStore:  cfg.MaxStore,
		MaxPayload:         MaxPayload,
		MaxPending:         4 * MaxPayload,
		MaxConn:            cfg.MaxConns,
		NoSigs:             true,
		NoLog:              true,
	}
	if cfg.Cluster != nil {
		if err := cfg.Cluster.apply(opts); err != nil {
			return nil, err
		}
	}
	pubs, err := ensureCreds(cfg.CredsDir)
	if err != nil {
		return nil, err
	}
	for _, r := range Roles {
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: pubs[r], Permissions: permissions(r)})
	}
	if cfg.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey})
		if err != nil {
			return nil, fmt.Errorf("broker: TLS: %w", err)
		}
		opts.TLS, opts.TLSConfig, opts.TLSTimeout = true, tc, 2
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if cfg.Log != nil {
		srv.SetLogger(serverLog{cfg.Log}, false, false)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("broker: nats-server on %s not ready after 10s", cfg.Listen)
	}
	b := &Broker{srv: srv, credsDir: cfg.CredsDir, done: make(chan struct{})}
	go func() {
		srv.WaitForShutdown()
		close(b.done)
	}()
	return b, nil
}

// Done is closed once the server has shut down, by Shutdown or on its own;
// the process embedding it can then no longer work.
func (b *Broker) Done() <-chan struct{} { return b.done }

// CredsFile is the path of role r's credentials (an nkey seed file).
func (b *Broker) CredsFile(r Role) string { return CredsFile(b.credsDir, r) }

// ClientURL is the nats:// URL clients connect to.
func (b *Broker) ClientURL() string { return b.srv.ClientURL() }

// Shutdown stops the server and waits for it to finish.
func (b *Broker) Shutdown() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}
