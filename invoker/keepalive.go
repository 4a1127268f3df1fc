package invoker

import (
	"fmt"
	"time"

	"github.com/flurryfn/flurry/invoker/pool"
)

// Names of Config.KeepAlivePolicy (docs/adr/006-keepalive.md).
const (
	// KeepAliveFixed keeps idle containers for IdleTimeout.
	KeepAliveFixed = "fixed"
	// KeepAliveHistogram learns each action's idle times and releases
	// and re-warms its containers around the expected next call; while an
	// action's histogram is not representative it keeps IdleTimeout.
	KeepAliveHistogram = "histogram"
)

// histogramPolicy builds the histogram policy of c, or nil when its
// configuration is invalid (Validate reports why).
func (c Config) histogramPolicy() pool.KeepAlive {
	h, err := pool.NewHistogram(c.histogramConfig())
	if err != nil {
		return nil
	}
	return h
}

// histogramConfig is c.Histogram with the fallback keep-alive defaulting
// to the idle timeout, so that an action the histogram cannot predict is
// treated as under the fixed policy.
func (c Config) histogramConfig() pool.HistogramConfig {
	h := c.Histogram
	if h.Fallback == 0 {
		h.Fallback = c.IdleTimeout
	}
	return h
}

// validateKeepAlive checks the policy name and its configuration.
func (c Config) validateKeepAlive() error {
	switch c.KeepAlivePolicy {
	case "", KeepAliveFixed:
		return nil
	case KeepAliveHistogram:
		return c.histogramConfig().Validate()
	default:
		return fmt.Errorf("keep-alive policy %q: want %q or %q", c.KeepAlivePolicy, KeepAliveFixed, KeepAliveHistogram)
	}
}

// histogramBin is the histogram's bin width when that policy is chosen,
// else 0. It is the time unit of a (possibly compressed) workload.
func (c Config) histogramBin() time.Duration {
	if c.KeepAlivePolicy != KeepAliveHistogram {
		return 0
	}
	if c.Histogram.BinWidth > 0 {
		return c.Histogram.BinWidth
	}
	return pool.DefaultHistogramBin
}

// stemConfig is c.Stems with the demand window defaulting to the
// histogram's bin width, so a compressed replay compresses both.
func (c Config) stemConfig() pool.StemConfig {
	s := c.Stems
	if s.Window == 0 {
		s.Window = c.histogramBin()
	}
	return s
}

// sweepInterval is the pool's sweep period: the pool's default (1 s)
// unless histogram bins are short, when re-warms must be timed finer
// (a sixtieth of a bin, at least 100 ms).
func (c Config) sweepInterval() time.Duration {
	bin := c.histogramBin()
	if bin == 0 || bin >= time.Minute {
		return 0
	}
	return max(bin/60, 100*time.Millisecond)
}
