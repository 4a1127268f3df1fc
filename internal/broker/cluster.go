package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster joins the embedded server to a NATS cluster, so that JetStream
// replicates across servers. Flurry itself runs on an operator's cluster
// (flurry nats-config); this is for tests that need one in-process.
type Cluster struct {
	// Name of the cluster; every server of it gives the same. Required.
	Name string
	// Listen is the route port's host:port. Required (a fixed port:
	// the other servers' Routes name it, also after a restart).
	Listen string
	// Routes are the route URLs (nats-route://host:port) of the other
	// servers; listing the server itself is harmless.
	Routes []string
}

// validate checks c.
func (c *Cluster) validate() error {
	if c.Name == "" {
		return errors.New("broker: cluster name is required")
	}
	if _, _, err := splitHostPort(c.Listen); err != nil {
		return fmt.Errorf("broker: cluster listen: %w", err)
	}
	if len(c.Routes) == 0 {
		return errors.New("broker: a cluster needs routes")
	}
	return nil
}

// apply sets the server options that join c.
func (c *Cluster) apply(opts *server.Options) error {
	host, port, _ := splitHostPort(c.Listen)
	opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: port}
	for _, r := range c.Routes {
		u := server.RoutesFromStr(r)
		if len(u) == 0 {
			return fmt.Errorf("broker: route %q is not a URL", r)
		}
		opts.Routes = append(opts.Routes, u...)
	}
	return nil
}

// splitHostPort is net.SplitHostPort with a numeric port.
func splitHostPort(hostport string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", hostport, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: bad port", hostport)
	}
	return host, port, nil
}
