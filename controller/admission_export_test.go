package controller

import "time"

// LeaseTTL is how long a concurrency lease lives without renewal.
const LeaseTTL = leaseTTL

// WithClock returns cfg with the admission clock set to now.
func WithClock(cfg Config, now func() time.Time) Config {
	cfg.now = now
	return cfg
}
