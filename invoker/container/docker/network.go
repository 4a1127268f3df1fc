package docker

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/flurryfn/flurry/invoker/container"
)

// ErrMetadataRule is wrapped by New when the rules that keep containers
// from the cloud's metadata addresses cannot be installed.
var ErrMetadataRule = errors.New("cannot block containers from link-local metadata addresses")

// metadataRules are the packets a container on Flurry's network must never
// send: link-local destinations, where clouds serve instance metadata and
// credentials (169.254.169.254, and AWS's fd00:ec2::254 over IPv6). They
// are refused in DOCKER-USER (forwarded traffic, evaluated before Docker's
// own rules) and INPUT (a link-local address of the host itself); the
// network is created without IPv6, and the IPv6 address is refused in
// FORWARD and INPUT as well for networks that have it.
var metadataRules = []struct {
	cmd, chain, dest string
}{
	{"iptables", "DOCKER-USER", "169.254.0.0/16"},
	{"iptables", "INPUT", "169.254.0.0/16"},
	{"ip6tables", "FORWARD", "fd00:ec2::254/128"},
	{"ip6tables", "INPUT", "fd00:ec2::254/128"},
}

// ensureNetwork makes sure Config.Network exists (creating Flurry's own
// bridge network when it is DefaultNetwork) and returns the name of its
// bridge interface.
func (r *Runtime) ensureNetwork(ctx context.Context) (string, error) {
	nw, err := r.cli.NetworkInspect(ctx, r.cfg.Network, network.InspectOptions{})
	if client.IsErrNotFound(err) && r.cfg.Network == DefaultNetwork {
		_, err = r.cli.NetworkCreate(ctx, DefaultNetwork, network.CreateOptions{
			Driver:  "bridge",
			Options: map[string]string{"com.docker.network.bridge.name": DefaultBridge},
			Labels:  map[string]string{container.LabelManaged: "true"},
		})
		// Another invoker on the engine may have created it meanwhile.
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			return "", fmt.Errorf("create docker network %q: %w", DefaultNetwork, err)
		}
		nw, err = r.cli.NetworkInspect(ctx, r.cfg.Network, network.InspectOptions{})
	}
	if err != nil {
		return "", fmt.Errorf("docker network %q: %w", r.cfg.Network, err)
	}
	if nw.Driver != "bridge" {
		return "", fmt.Errorf("docker network %q: driver %q, want a bridge network", r.cfg.Network, nw.Driver)
	}
	if name := nw.Options["com.docker.network.bridge.name"]; name != "" {
		return name, nil
	}
	if len(nw.ID) < 12 {
		return "", fmt.Errorf("docker network %q: id %q too short to name its bridge", r.cfg.Network, nw.ID)
	}
	return "br-" + nw.ID[:12], nil
}

// blockMetadata installs metadataRules for packets coming in on bridge,
// each once (checked with -C first, so restarts and other invokers on the
// same engine add no duplicates). The rules stay after the invoker stops:
// containers left running must stay blocked.
func blockMetadata(ctx context.Context, bridge string) error {
	for _, rl := range metadataRules {
		spec := []string{rl.chain, "-i", bridge, "-d", rl.dest, "-m", "comment", "--comment", "flurry: no metadata", "-j", "REJECT"}
		if exec.CommandContext(ctx, rl.cmd, append([]string{"-w", "-C"}, spec...)...).Run() == nil {
			continue
		}
		out, err := exec.CommandContext(ctx, rl.cmd, append([]string{"-w", "-I"}, spec...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s -I %s: %w: %s", ErrMetadataRule, rl.cmd, strings.Join(spec, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// Containment says in one line how containers are contained, for the
// start banner: their network, the metadata rules, their addressing and
// the CPU limit.
func (r *Runtime) Containment() string {
	s := "network " + r.cfg.Network
	if r.cfg.AllowMetadata {
		s += " (link-local/metadata addresses NOT blocked: --allow-metadata)"
	} else {
		s += " (link-local/metadata addresses blocked)"
	}
	switch {
	case r.cfg.SocketDir == "":
		s += ", proxy over TCP (network none unavailable)"
	case r.cfg.UnquotedSocketDirs:
		s += ", unix sockets in plain directories (no quota)"
	default:
		s += ", unix sockets on a 64 KiB tmpfs each"
	}
	if r.cfg.CPULimitPerGiB > 0 {
		s += fmt.Sprintf(", CPU limit %g cores per GiB", r.cfg.CPULimitPerGiB)
	}
	return s
}
