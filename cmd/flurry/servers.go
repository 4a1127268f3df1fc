package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/host"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/invoker"
)

func init() {
	register("controller", "run a controller against a NATS server (--nats URL)", false, runController)
	register("invoker", "run an invoker against a NATS server (--nats URL)", false, runInvoker)
	register("gateway", "run a gateway (REST + gRPC) against a NATS server (--nats URL)", false, runGateway)
}

// serverFlags are the flags every server command shares.
type serverFlags struct {
	nats     string
	client   natsClientFlags
	logLevel string
}

func (s *serverFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.nats, "nats", nats.DefaultURL, "NATS server URL(s), comma separated; JetStream must be enabled")
	s.client.register(fs)
	fs.StringVar(&s.logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return slog.New(&lazyAttrs{h: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})}), nil
}

// connect dials NATS with extra options (natsopts.go), retrying while
// ctx allows: in a distributed deployment the broker may come up after us.
func connect(ctx context.Context, url, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	for {
		nc, err := nats.Connect(url,
			nats.Name(name),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(250*time.Millisecond),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					log.Warn("nats disconnected", "err", err)
				}
			}),
			nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrl()) }),
			allOptions(extra),
		)
		if err == nil {
			return nc, nil
		}
		log.Warn("nats connect failed; retrying", "url", url, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to %s: %w", url, err)
		case <-time.After(time.Second):
		}
	}
}

// keptInvokerID returns the invoker id stored in dir, making and storing
// a new one (host name and a random suffix) on first use.
func keptInvokerID(dir string) (string, error) {
	path := filepath.Join(dir, "invoker.id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("invoker id: %w", err)
	}
	id := invoker.Config{}.WithDefaults().ID
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("invoker id: %w", err)
	}
	return id, nil
}

// parseFlags parses args, treating -h as a clean exit.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: 0, err: err}
		}
		return &exitError{code: 2, err: err}
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	return nil
}

func runController(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	var sf serverFlags
	sf.register(fs)
	guestKey := fs.String("guest-key", "", "ensure this UUID:KEY opens namespace guest")
	adminKey := fs.String("admin-key", "", adminAuthFlagUsage)
	var lf limitFlags
	lf.register(fs)
	replicas := replicasFlag(fs)
	drain := drainFlag(fs, controller.DefaultDrainTimeout, "requests in flight (a blocking invoke waits for its result)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(sf.logLevel)
	if err != nil {
		return err
	}
	tuneGC(log)
	raiseFileLimit(log)
	nopts, err := sf.client.options(broker.RoleController, log)
	if err != nil {
		return err
	}
	nc, err := connect(ctx, sf.nats, "flurry-controller", log, nopts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, stopWatch := cancelOnClose(ctx, nc, log)
	defer stopWatch()
	admin, err := adminAuthFromFlagOrEnv(*adminKey)
	if err != nil {
		return err
	}
	ccfg := controller.Config{GuestAuth: *guestKey, AdminAuth: admin, Provision: provision.Options{Replicas: *replicas},
		DrainTimeout: *drain}
	if err := lf.apply(&ccfg); err != nil {
		return err
	}
	c, err := controller.New(ctx, nc, ccfg, log)
	if err != nil {
		return err
	}
	defer c.Close()
	stop, err := controller.Serve(ctx, nc, c)
	if err != nil {
		return err
	}
	defer stop()
	log.Info("controller serving its API on NATS", "nats", nc.ConnectedUrl())
	<-ctx.Done()
	return natsClosedErr(ctx, nil)
}

func runInvoker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("invoker", flag.ContinueOnError)
	var sf serverFlags
	sf.register(fs)
	id := fs.String("id", "", "invoker id (default: kept in --work-dir, made from the host name and a random suffix on first start; one invoker per work dir)")
	memory := fs.Int64("memory", 0, memoryUsage)
	slots := fs.Int("slots", 0, slotsUsage)
	prewarm := fs.Int("prewarm", -1, "prewarmed stem cells of the go kind (default 1; 0 turns prewarming off)")
	keepAlive := fs.String("keepalive", invoker.KeepAliveFixed, "keep-alive and prewarm policy: fixed (--idle-timeout) or histogram[:BIN] (learned per action, docs/adr/006; BIN is the histogram bin, default 1m: histogram:1s for a 60x compressed replay)")
	idleTimeout := fs.Duration("idle-timeout", invoker.DefaultIdleTimeout, "how long an idle warm container is kept (fixed policy; the histogram policy's fallback)")
	rtFlag := fs.String("runtime", string(runtimeAuto), "container runtime: auto, docker or process")
	addrFlag := fs.String("container-addr", string(containerAddrUnix), containerAddrUsage)
	workDir := fs.String("work-dir", os.TempDir()+"/flurry-invoker", "directory for the invoker id and the process runtime's containers")
	var cf containFlags
	cf.register(fs)
	drain := drainFlag(fs, invoker.DefaultDrainTimeout, "activations running (those still waiting for a container go back to the queue at once; past it the rest are cancelled and redelivered)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cf.validate(); err != nil {
		return err
	}
	log, err := newLogger(sf.logLevel)
	if err != nil {
		return err
	}
	tuneGC(log)
	raiseFileLimit(log)
	nopts, err := sf.client.options(broker.RoleInvoker, log)
	if err != nil {
		return err
	}
	nc, err := connect(ctx, sf.nats, "flurry-invoker", log, nopts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, stopWatch := cancelOnClose(ctx, nc, log)
	defer stopWatch()
	if *id == "" {
		// Kept in the work dir so that a restart cleans up after itself.
		if *id, err = keptInvokerID(*workDir); err != nil {
			return err
		}
	}
	cfg := invoker.Config{ID: *id, MemoryMB: *memory, MaxConcurrent: *slots, DrainTimeout: *drain}
	if *prewarm >= 0 {
		cfg.Prewarm = map[string]int{entity.KindGo: *prewarm}
	}
	if err := setKeepAlive(&cfg, *keepAlive, *idleTimeout); err != nil {
		return err
	}
	addr, err := parseContainerAddr(*addrFlag)
	if err != nil {
		return err
	}
	cf.applyInvoker(&cfg)
	rt, images, err := containerRuntime(ctx, runtimeChoice(*rtFlag), addr, cf, cfg.ID, *workDir, os.Stderr, log)
	if err != nil {
		return err
	}
	// Defaults and validation need the images: stem cells are per kind.
	cfg.Images = images
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	inv, err := invoker.New(nc, rt, cfg, log)
	if err != nil {
		return err
	}
	logSizing(log, cfg, *memory, *slots)
	log.Info("invoker running", "id", cfg.ID, "runtime", rt.Name(), "memoryMB", cfg.MemoryMB)
	if c, ok := rt.(interface{ Containment() string }); ok {
		log.Info("containers contained", "how", c.Containment())
	}
	return natsClosedErr(ctx, inv.Run(ctx))
}

// Help of the invoker's --memory and --slots (invoker and standalone).
const (
	memoryUsage = "memory budget for containers, MiB (0: sized from the host, its or its cgroup's memory less a quarter, at least 1 GiB, kept for Flurry, the engine and the OS)"
	slotsUsage  = "activations the invoker runs at once (0: memory/256, at least 4, at most 32 per CPU); raise it for actions smaller than 256 MB"
)

// logSizing says what the invoker's budget and slots are and where they
// came from: a flag (non-zero) or the host.
func logSizing(log *slog.Logger, cfg invoker.Config, memoryFlag int64, slotsFlag int) {
	h := host.Detect()
	from := func(flag bool) string {
		if flag {
			return "flag"
		}
		return "host"
	}
	log.Info("invoker sized", "memoryMB", cfg.MemoryMB, "memoryFrom", from(memoryFlag != 0),
		"slots", cfg.MaxConcurrent, "slotsFrom", from(slotsFlag != 0),
		"hostMemoryMB", h.MemoryBytes>>20, "hostMemorySource", h.MemorySource, "hostCPUs", h.CPUs)
}

func runGateway(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	var sf serverFlags
	sf.register(fs)
	apiListen := fs.String("api-listen", "127.0.0.1:3233", "REST (OpenWhisk-compatible and grpc-gateway) listen address")
	grpcListen := fs.String("grpc-listen", "127.0.0.1:3234", "gRPC listen address")
	var gf gatewayFlags
	gf.register(fs)
	drain := drainFlag(fs, gateway.DefaultShutdownTimeout, "API requests in flight (no new connection is taken meanwhile)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(sf.logLevel)
	if err != nil {
		return err
	}
	tuneGC(log)
	gcfg, err := gf.config(log, raiseFileLimit(log))
	if err != nil {
		return err
	}
	gcfg.ShutdownTimeout = *drain
	nopts, err := sf.client.options(broker.RoleGateway, log)
	if err != nil {
		return err
	}
	nc, err := connect(ctx, sf.nats, "flurry-gateway", log, nopts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, stopWatch := cancelOnClose(ctx, nc, log)
	defer stopWatch()
	backend := controller.NewClient(nc, 10*time.Second)
	return natsClosedErr(ctx, serveGateway(ctx, backend, gcfg, *apiListen, *grpcListen, log))
}

// serveGateway listens on both addresses and serves until ctx is done.
func serveGateway(ctx context.Context, b gateway.Backend, cfg gateway.Config, apiAddr, grpcAddr string, log *slog.Logger) error {
	g, err := gateway.New(b, cfg)
	if err != nil {
		return err
	}
	apiLn, err := net.Listen("tcp", apiAddr)
	if err != nil {
		return fmt.Errorf("--api-listen: %w", err)
	}
	grpcLn, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("--grpc-listen: %w", err)
	}
	log.Info("gateway listening", "api", "http://"+apiLn.Addr().String(), "grpc", grpcLn.Addr().String())
	return g.Serve(ctx, apiLn, grpcLn)
}

// setKeepAlive applies --keepalive (fixed, histogram or histogram:BIN)
// and --idle-timeout to cfg.
func setKeepAlive(cfg *invoker.Config, policy string, idle time.Duration) error {
	if idle <= 0 {
		return fmt.Errorf("--idle-timeout %v: must be positive", idle)
	}
	cfg.IdleTimeout = idle
	name, bin, hasBin := strings.Cut(policy, ":")
	switch {
	case name == invoker.KeepAliveFixed && !hasBin:
	case name == invoker.KeepAliveHistogram:
		if hasBin {
			d, err := time.ParseDuration(bin)
			if err != nil || d <= 0 {
				return fmt.Errorf("--keepalive %q: bin width %q is not a positive duration", policy, bin)
			}
			cfg.Histogram.BinWidth = d
		}
	default:
		return fmt.Errorf("--keepalive %q: want fixed, histogram or histogram:BIN", policy)
	}
	cfg.KeepAlivePolicy = name
	return nil
}

// drainFlag registers --drain-timeout: on SIGTERM a server stops taking
// work and waits this long at most for what it is doing (ADR 026).
func drainFlag(fs *flag.FlagSet, def time.Duration, what string) *time.Duration {
	d := new(time.Duration)
	fs.Func("drain-timeout", fmt.Sprintf("on SIGTERM, how long to wait at most for %s (default %v)", what, def), func(s string) error {
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			return fmt.Errorf("%q is not a positive duration", s)
		}
		*d = v
		return nil
	})
	*d = def
	return d
}

// replicasFlag registers --replicas of standalone and controller.
// A count outside JetStream's range is refused before connecting.
func replicasFlag(fs *flag.FlagSet) *int {
	n := new(int)
	fs.Func("replicas", "`N` replicas of every JetStream stream, bucket and object store (default 0: 3 when NATS has 3 or more JetStream servers, else 1); existing ones are raised to it, never lowered", func(s string) error {
		v, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		if v < 0 || v > provision.MaxReplicas {
			return fmt.Errorf("%d is outside [0, %d]", v, provision.MaxReplicas)
		}
		*n = v
		return nil
	})
	return n
}

// limitFlags are the admission limits of standalone and controller.
type limitFlags struct{ concurrent, perMinute int64 }

func (l *limitFlags) register(fs *flag.FlagSet) {
	fs.Int64Var(&l.concurrent, "limit-concurrent", entity.DefaultConcurrentInvocations,
		"activations per namespace admitted and not finished, over all controllers (0: unlimited)")
	fs.Int64Var(&l.perMinute, "limit-per-minute", entity.DefaultInvocationsPerMinute,
		"invocations per namespace and minute, over all controllers (0: unlimited)")
}

// apply sets cfg's admission limits; 0 turns a limit off.
func (l limitFlags) apply(cfg *controller.Config) error {
	conv := func(flag string, v int64) (int64, error) {
		switch {
		case v < 0:
			return 0, fmt.Errorf("--%s %d: must be 0 (unlimited) or positive", flag, v)
		case v == 0:
			return controller.Unlimited, nil
		}
		return v, nil
	}
	var err error
	if cfg.LimitConcurrent, err = conv("limit-concurrent", l.concurrent); err != nil {
		return err
	}
	cfg.LimitPerMinute, err = conv("limit-per-minute", l.perMinute)
	return err
}
