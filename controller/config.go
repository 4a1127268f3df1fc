package controller

import (
	"fmt"
	"strings"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
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
	// AdminAuth is a "uuid:key" ensured at start as the admin credential
	// (stored hashed with entity.RoleAdmin, ADR 022). Empty: none is
	// ensured; one a controller ensured before still works.
	AdminAuth string
	// DefaultWait bounds a blocking invoke that gives no wait. Default 60 s.
	DefaultWait time.Duration
	// Provision sizes the JetStream assets ensured at start.
	Provision provision.Options
	// LimitConcurrent bounds each namespace's activations admitted and not
	// finished, over all controllers (ADR 005). 0 takes
	// entity.DefaultConcurrentInvocations (1000); Unlimited turns it off.
	// A namespace's entity.NamespaceLimits overrides it.
	LimitConcurrent int64
	// LimitPerMinute bounds each namespace's invocations per wall-clock
	// minute, over all controllers. 0 takes
	// entity.DefaultInvocationsPerMinute (60000); Unlimited turns it off.
	LimitPerMinute int64
	// DrainTimeout bounds how long Serve's stop waits for requests in
	// flight (a blocking invoke waits for its result). Default 30 s.
	DrainTimeout time.Duration

	// now is the admission clock; tests inject one (default time.Now).
	now func() time.Time
}

// DefaultDrainTimeout is Config.DrainTimeout's default: a process
// manager's usual grace period (Kubernetes gives 30 s before SIGKILL).
const DefaultDrainTimeout = 30 * time.Second

// Unlimited as Config.LimitConcurrent or LimitPerMinute turns that limit off.
const Unlimited = -1

// withDefaults returns c with zero fields set.
func (c Config) withDefaults() Config {
	if c.InstanceID == "" {
		c.InstanceID = activation.NewID()[:16]
	}
	if c.DefaultWait == 0 {
		c.DefaultWait = DefaultWait
	}
	c.Provision = c.Provision.WithDefaults()
	if c.LimitConcurrent == 0 {
		c.LimitConcurrent = entity.DefaultConcurrentInvocations
	}
	if c.LimitPerMinute == 0 {
		c.LimitPerMinute = entity.DefaultInvocationsPerMinute
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Validate checks the configuration (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	if !names.Plain(c.InstanceID) {
		return fmt.Errorf("controller: instance id %q must be letters, digits, '-' or '_'", c.InstanceID)
	}
	if c.DefaultWait < 0 {
		return fmt.Errorf("controller: default wait %v is negative", c.DefaultWait)
	}
	if c.DrainTimeout < 0 {
		return fmt.Errorf("controller: drain timeout %v is negative", c.DrainTimeout)
	}
	if c.GuestAuth != "" {
		uuid, _, err := entity.ParseAuth(c.GuestAuth)
		if err != nil {
			return fmt.Errorf("controller: guest auth: %w", err)
		}
		if !names.Plain(uuid) {
			return fmt.Errorf("controller: guest auth uuid %q must be letters, digits, '-' or '_'", uuid)
		}
	}
	if err := validateAdminAuth(c.AdminAuth, c.GuestAuth); err != nil {
		return err
	}
	if c.LimitConcurrent < Unlimited || c.LimitPerMinute < Unlimited {
		return fmt.Errorf("controller: limits %d concurrent, %d per minute: below %d (unlimited)", c.LimitConcurrent, c.LimitPerMinute, Unlimited)
	}
	if strings.TrimSpace(c.GuestAuth) != c.GuestAuth {
		return fmt.Errorf("controller: guest auth has surrounding spaces")
	}
	return c.Provision.Validate()
}

// validateAdminAuth checks Config.AdminAuth: well formed, and not the
// guest key's uuid, which would turn the guest key into the admin's.
func validateAdminAuth(admin, guest string) error {
	if admin == "" {
		return nil
	}
	uuid, _, err := entity.ParseAuth(admin)
	if err != nil {
		return fmt.Errorf("controller: admin auth: %w", err)
	}
	if !names.Plain(uuid) || strings.TrimSpace(admin) != admin {
		return fmt.Errorf("controller: admin auth uuid %q must be letters, digits, '-' or '_'", uuid)
	}
	if g, _, _ := strings.Cut(guest, ":"); g == uuid {
		return fmt.Errorf("controller: admin auth and guest auth share uuid %q", uuid)
	}
	return nil
}
