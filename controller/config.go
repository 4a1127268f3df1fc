package controller

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/provision"
)

// GuestNamespace is the namespace Config.GuestAuth opens.
const GuestNamespace = "guest"

// Config configures a Controller. Zero fields take the defaults.
type Config struct {
	// InstanceID names this controller; results of its blocking invokes
	// come to names.ResultSubject(InstanceID). Default: random.
	InstanceID string
	// GuestAuth is a "uuid:key" ensured to open namespace "guest" at
	// start. Empty: none is ensured.
	GuestAuth string
	// DefaultWait bounds a blocking invoke that gives no wait. Default 60 s.
	DefaultWait time.Duration
	// Provision sizes the JetStream assets ensured at start.
	Provision provision.Options
}

var plainToken = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// withDefaults returns c with zero fields set.
func (c Config) withDefaults() Config {
	if c.InstanceID == "" {
		c.InstanceID = activation.NewID()[:16]
	}
	if c.DefaultWait == 0 {
		c.DefaultWait = DefaultWait
	}
	c.Provision = c.Provision.WithDefaults()
	return c
}

// Validate checks the configuration (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	if !plainToken.MatchString(c.InstanceID) {
		return fmt.Errorf("controller: instance id %q must be letters, digits, '-' or '_'", c.InstanceID)
	}
	if c.DefaultWait < 0 {
		return fmt.Errorf("controller: default wait %v is negative", c.DefaultWait)
	}
	if c.GuestAuth != "" {
		uuid, _, err := entity.ParseAuth(c.GuestAuth)
		if err != nil {
			return fmt.Errorf("controller: guest auth: %w", err)
		}
		if !plainToken.MatchString(uuid) {
			return fmt.Errorf("controller: guest auth uuid %q must be letters, digits, '-' or '_'", uuid)
		}
	}
	if strings.TrimSpace(c.GuestAuth) != c.GuestAuth {
		return fmt.Errorf("controller: guest auth has surrounding spaces")
	}
	return c.Provision.Validate()
}
