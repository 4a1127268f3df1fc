package invoker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/flurryfn/flurry/internal/host"
	"github.com/flurryfn/flurry/invoker/pool"
)

// Defaults of Config.
const (
	// DefaultMemoryMB is the memory budget when the host's memory is
	// unknown; otherwise the budget is sized from it (Host.MemoryBudgetMB).
	DefaultMemoryMB        = 2048
	DefaultPrewarmMemoryMB = 256
	DefaultIdleTimeout     = 10 * time.Minute
	// DefaultAckProgress is a third of the partition consumers' AckWait
	// (provision.InvokerAckWait, 6 s).
	DefaultAckProgress    = 2 * time.Second
	DefaultFetchMaxWait   = 20 * time.Millisecond
	DefaultPollInterval   = time.Second
	DefaultOverflowMin    = 2
	DefaultDrainTimeout   = 30 * time.Second
	DefaultHealthInterval = time.Second
	DefaultCodeCacheMB    = 128
	// DefaultRecordRetry outlasts a leader election of the records stream
	// (seconds) and the loss of its only node while it restarts.
	DefaultRecordRetry = 30 * time.Second
	// DefaultMinInitTimeout: shipping and starting an action's code is the
	// platform's work and slows with the node's load (tens of ms on a quiet
	// node, hundreds on a busy one), so a short action timeout does not
	// bound /init; Lambda gives its init phase 10 s the same way.
	DefaultMinInitTimeout = 10 * time.Second
	// slotMemoryMB sizes the default number of slots.
	slotMemoryMB = 256
	minSlots     = 4
)

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// Config configures an Invoker. Zero fields take the defaults.
type Config struct {
	// ID names this invoker in container labels, records and heartbeats
	// (default hostname-<random>). It must be stable across restarts for
	// leftover containers to be found.
	ID string
	// MemoryMB is the container memory budget of this node (default:
	// sized from the host's or cgroup's memory, Host.MemoryBudgetMB).
	MemoryMB int64
	// Images maps a runtime kind to its image ("go" → "flurry/runtime-go:abc").
	// Blackbox actions bring their own image.
	Images map[string]string
	// Prewarm maps a kind to the number of stem cells kept (default go:1
	// when Images has "go"; an empty non-nil map disables prewarming).
	Prewarm map[string]int
	// PrewarmMemoryMB is the memory of stem cells (default 256).
	PrewarmMemoryMB int64
	// IdleTimeout is how long an idle warm container is kept (default 10 min).
	IdleTimeout time.Duration
	// KeepAlive overrides the fixed IdleTimeout policy when set.
	KeepAlive pool.KeepAlive
	// KeepAlivePolicy chooses the policy when KeepAlive is nil:
	// KeepAliveFixed (default) or KeepAliveHistogram (docs/adr/006).
	KeepAlivePolicy string
	// Histogram configures the histogram policy (zero: the defaults of
	// "Serverless in the Wild"; Fallback defaults to IdleTimeout).
	Histogram pool.HistogramConfig
	// Stems sizes stem cells of the Prewarm kinds from demand (zero:
	// adaptive, demand window = the histogram's bin width under that
	// policy, else 1 min; Stems.Fixed keeps exactly the Prewarm counts).
	Stems pool.StemConfig
	// MaxConcurrent is the number of activations run at once: the slots
	// the invoker pulls for (default MemoryMB/256, at least 4, at most 32
	// per CPU of the host, Host.Slots).
	MaxConcurrent int
	// AckProgress is how often a running activation's message is
	// progress-acked (default 2 s); keep it well under the consumers'
	// AckWait (provision.InvokerAckWait).
	AckProgress time.Duration
	// FetchMaxWait bounds one pull request (default 20 ms). Requests are
	// sized to the activations doorbells announced, so they are normally
	// served at once; the wait (with the slots the request holds) only
	// matters when another invoker took those activations first.
	FetchMaxWait time.Duration
	// PollInterval is how often every partition is probed even without a
	// doorbell, for redelivered activations (default 1 s).
	PollInterval time.Duration
	// OverflowMinPending is the backlog of another invoker's partition
	// above which this invoker helps with it, and only while that owner
	// reports itself saturated (default 2).
	OverflowMinPending int
	// MemberTimeout is how long an invoker may miss heartbeats before the
	// others take over its partitions (default 3 × HealthInterval).
	MemberTimeout time.Duration
	// DrainTimeout bounds the wait for in-flight activations on shutdown
	// (default 30 s); past it they are cancelled and left for redelivery.
	DrainTimeout time.Duration
	// MinInitTimeout is the least time a cold or prewarm start's /init
	// gets (default 10 s); an action with a longer timeout gets that.
	MinInitTimeout time.Duration
	// HealthInterval is the heartbeat period (default 1 s).
	HealthInterval time.Duration
	// RecordRetry is how long a record (or dead letter) that JetStream
	// does not store is retried, with backoff, while the result waits in
	// memory and the message is kept in progress (default 30 s). Past it
	// the result is dropped and the message left for redelivery (ADR 016).
	RecordRetry time.Duration
	// CodeCacheMB bounds the in-memory cache of action code (default 128).
	CodeCacheMB int64
	// FreezeGrace is how long an idle container waits before it is
	// frozen (pool.Config.FreezeGrace; default pool.DefaultFreezeGrace,
	// negative: never).
	FreezeGrace time.Duration
	// RemoveAllManaged makes Run remove every Flurry-managed container at
	// start, not only this invoker's (standalone: one invoker per engine).
	RemoveAllManaged bool
}

// WithDefaults returns c with zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.ID == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "invoker"
		}
		var b [3]byte
		rand.Read(b[:])
		// One subject token: dots in a host name would split it.
		c.ID = idUnsafe.ReplaceAllString(host, "-") + "-" + hex.EncodeToString(b[:])
	}
	if c.MemoryMB == 0 {
		c.MemoryMB = memoryBudgetMB(host.Detect())
	}
	if c.PrewarmMemoryMB == 0 {
		c.PrewarmMemoryMB = DefaultPrewarmMemoryMB
	}
	if c.Prewarm == nil && c.Images["go"] != "" {
		c.Prewarm = map[string]int{"go": 1}
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.KeepAlive == nil && c.KeepAlivePolicy == KeepAliveHistogram {
		c.KeepAlive = c.histogramPolicy()
	}
	if c.KeepAlive == nil {
		c.KeepAlive = pool.FixedKeepAlive(c.IdleTimeout)
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = slotsFor(host.Detect(), c.MemoryMB)
	}
	if c.AckProgress == 0 {
		c.AckProgress = DefaultAckProgress
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = DefaultFetchMaxWait
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.MinInitTimeout == 0 {
		c.MinInitTimeout = DefaultMinInitTimeout
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.RecordRetry == 0 {
		c.RecordRetry = DefaultRecordRetry
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.OverflowMinPending == 0 {
		c.OverflowMinPending = DefaultOverflowMin
	}
	if c.MemberTimeout == 0 {
		c.MemberTimeout = 3 * c.HealthInterval
	}
	if c.CodeCacheMB == 0 {
		c.CodeCacheMB = DefaultCodeCacheMB
	}
	return c
}

// Validate checks c after defaults are applied.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if c.MemoryMB < 0 || c.PrewarmMemoryMB < 0 || c.CodeCacheMB < 0 {
		errs = append(errs, errors.New("negative memory size"))
	}
	if c.MaxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("max concurrent %d is not positive", c.MaxConcurrent))
	}
	if c.IdleTimeout < 0 || c.AckProgress < 0 || c.FetchMaxWait < 0 || c.DrainTimeout < 0 || c.MinInitTimeout < 0 || c.HealthInterval < 0 ||
		c.PollInterval < 0 || c.MemberTimeout < 0 || c.RecordRetry < 0 {
		errs = append(errs, errors.New("negative duration"))
	}
	if c.OverflowMinPending < 1 {
		errs = append(errs, fmt.Errorf("overflow min pending %d is not positive", c.OverflowMinPending))
	}
	if c.MemberTimeout > 0 && c.MemberTimeout <= c.HealthInterval {
		errs = append(errs, fmt.Errorf("member timeout %v is not above the heartbeat interval %v", c.MemberTimeout, c.HealthInterval))
	}
	if c.AckProgress > 0 && c.AckProgress < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("ack progress %v is under 100 ms", c.AckProgress))
	}
	if err := c.validateKeepAlive(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invoker config: %w", err)
	}
	if err := c.poolConfig().Validate(); err != nil {
		return fmt.Errorf("invoker config: %w", err)
	}
	return nil
}

// poolConfig derives the pool's configuration (c has defaults applied).
func (c Config) poolConfig() pool.Config {
	var pre []pool.PrewarmSpec
	for kind, n := range c.Prewarm {
		if n > 0 {
			pre = append(pre, pool.PrewarmSpec{Kind: kind, MemoryMB: c.PrewarmMemoryMB, Count: n})
		}
	}
	return pool.Config{
		InvokerID: c.ID,
		MemoryMB:  c.MemoryMB,
		Images:    c.Images,
		Prewarm:   pre,
		KeepAlive: c.KeepAlive,

		Stems:         c.stemConfig(),
		SweepInterval: c.sweepInterval(),
		FreezeGrace:   c.FreezeGrace,
	}
}
