package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/flurryfn/flurry/invoker"
	"github.com/flurryfn/flurry/invoker/container/docker"
	"github.com/flurryfn/flurry/invoker/pool"
)

// containFlags are an invoker's containment flags (ADR 021): a hard CPU
// limit, freezing idle containers, and the opt-out of the metadata block.
type containFlags struct {
	cpuLimit      float64
	freezeGrace   time.Duration
	allowMetadata bool
}

func (f *containFlags) register(fs *flag.FlagSet) {
	fs.Float64Var(&f.cpuLimit, "cpu-limit", 0, "hard CPU limit of Docker containers in cores per GiB of their memory (e.g. 1: a 256 MB action gets a quarter core); 0 = none, CPU is only shared in proportion to memory")
	fs.DurationVar(&f.freezeGrace, "freeze-grace", pool.DefaultFreezeGrace, "idle containers are frozen (no CPU) after this long without an activation, and thawed for the next; negative = never")
	fs.BoolVar(&f.allowMetadata, "allow-metadata", false, "do not install the firewall rules that keep containers from link-local addresses (169.254.0.0/16, fd00:ec2::254: cloud metadata and credentials)")
}

func (f *containFlags) validate() error {
	if f.cpuLimit < 0 {
		return fmt.Errorf("--cpu-limit %g: must not be negative", f.cpuLimit)
	}
	return nil
}

func (f *containFlags) applyDocker(c *docker.Config) {
	c.CPULimitPerGiB = f.cpuLimit
	c.AllowMetadata = f.allowMetadata
}

func (f *containFlags) applyInvoker(c *invoker.Config) {
	c.FreezeGrace = f.freezeGrace
}
