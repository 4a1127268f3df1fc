package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/provision"
	"github.com/flurryfn/flurry/invoker"
)

func init() {
	register("standalone", "run everything in one process with an embedded NATS server", false, runStandalone)
}

func defaultDataDir() string {
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".flurry", "data")
	}
	return "flurry-data"
}

func runStandalone(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("standalone", flag.ContinueOnError)
	dataDir := fs.String("data-dir", defaultDataDir(), "directory for JetStream's file store (actions and activation records survive restarts)")
	apiListen := fs.String("api-listen", "127.0.0.1:3233", "REST listen address (OpenWhisk-compatible /api/v1 and grpc-gateway /v1)")
	grpcListen := fs.String("grpc-listen", "127.0.0.1:3234", "gRPC listen address")
	natsListen := fs.String("nats-listen", "127.0.0.1:4222", "embedded NATS client address (other invokers and publishers join here, with credentials from DATA_DIR/nats)")
	natsTLSCert := fs.String("nats-tls-cert", "", "PEM certificate (with its chain) of the embedded NATS; with --nats-tls-key its client port requires TLS. It must name the --nats-listen host")
	natsTLSKey := fs.String("nats-tls-key", "", "PEM key of --nats-tls-cert")
	guestKey := fs.String("guest-key", "", "UUID:KEY of namespace guest (default: kept in the data dir, generated on first start)")
	adminKey := fs.String("admin-key", "", adminAuthFlagUsage+" (default: kept in the data dir as admin.auth, generated on first start)")
	rtFlag := fs.String("runtime", string(runtimeAuto), "container runtime: auto (Docker when reachable), docker or process")
	addrFlag := fs.String("container-addr", string(containerAddrUnix), containerAddrUsage)
	memory := fs.Int64("memory", 0, "invoker "+memoryUsage)
	slots := fs.Int("slots", 0, slotsUsage)
	prewarm := fs.Int("prewarm", -1, "prewarmed stem cells of the go kind (default 1; 0 turns prewarming off)")
	keepAlive := fs.String("keepalive", invoker.KeepAliveFixed, "keep-alive and prewarm policy: fixed (--idle-timeout) or histogram[:BIN] (learned per action, docs/adr/006; BIN is the histogram bin, default 1m: histogram:1s for a 60x compressed replay)")
	idleTimeout := fs.Duration("idle-timeout", invoker.DefaultIdleTimeout, "how long an idle warm container is kept (fixed policy; the histogram policy's fallback)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	debugListen := fs.String("debug-listen", "", "serve Go's /debug/pprof on this address (e.g. 127.0.0.1:6060); off by default")
	var lf limitFlags
	lf.register(fs)
	var gf gatewayFlags
	gf.register(fs)
	var cf containFlags
	cf.register(fs)
	replicas := replicasFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cf.validate(); err != nil {
		return err
	}
	ccfg := controller.Config{Provision: provision.Options{Replicas: *replicas}}
	if err := lf.apply(&ccfg); err != nil {
		return err
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	tuneGC(log)
	fileLimit := raiseFileLimit(log)
	gcfg, err := gf.config(log, fileLimit)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	if *debugListen != "" {
		if err := serveDebug(ctx, *debugListen, log); err != nil {
			return err
		}
	}
	auth, generated, err := guestAuth(*dataDir, *guestKey)
	if err != nil {
		return err
	}
	admin, adminGenerated, err := keptAdminAuth(*dataDir, *adminKey)
	if err != nil {
		return err
	}

	b, err := broker.Start(broker.Config{DataDir: filepath.Join(*dataDir, "jetstream"), Listen: *natsListen,
		MaxConns: natsConnBound(fileLimit),
		CredsDir: filepath.Join(*dataDir, "nats"), TLSCert: *natsTLSCert, TLSKey: *natsTLSKey, Log: log})
	if err != nil {
		return err
	}
	defer b.Shutdown()
	// Controller and invoker connect as their own roles, as they would
	// in a cluster, so a permission they lack shows here too.
	ctlNC, err := connectRole(ctx, b, broker.RoleController, *natsTLSCert, log)
	if err != nil {
		return err
	}
	defer ctlNC.Close()
	invNC, err := connectRole(ctx, b, broker.RoleInvoker, *natsTLSCert, log)
	if err != nil {
		return err
	}
	defer invNC.Close()
	ctx, stopCtlWatch := cancelOnClose(ctx, ctlNC, log)
	defer stopCtlWatch()
	ctx, stopInvWatch := cancelOnClose(ctx, invNC, log)
	defer stopInvWatch()
	ctx, stopBrokerWatch := cancelOnBrokerStop(ctx, b.Done(), log)
	defer stopBrokerWatch()

	ccfg.GuestAuth, ccfg.AdminAuth = auth, admin
	ctl, err := controller.New(ctx, ctlNC, ccfg, log)
	if err != nil {
		return err
	}
	defer ctl.Close()

	// The invoker's id is kept in the data dir, so that a restart removes
	// exactly the containers its previous run left behind, and never those
	// of another Flurry sharing the Docker engine.
	invokerID, err := keptInvokerID(*dataDir)
	if err != nil {
		return err
	}
	icfg := invoker.Config{ID: invokerID, MemoryMB: *memory, MaxConcurrent: *slots}
	if *prewarm >= 0 {
		icfg.Prewarm = map[string]int{entity.KindGo: *prewarm}
	}
	if err := setKeepAlive(&icfg, *keepAlive, *idleTimeout); err != nil {
		return err
	}
	addr, err := parseContainerAddr(*addrFlag)
	if err != nil {
		return err
	}
	cf.applyInvoker(&icfg)
	rt, images, err := containerRuntime(ctx, runtimeChoice(*rtFlag), addr, cf, icfg.ID, filepath.Join(*dataDir, "invoker"), os.Stderr, log)
	if err != nil {
		return err
	}
	// Defaults and validation need the images: stem cells are per kind.
	icfg.Images = images
	icfg = icfg.WithDefaults()
	if err := icfg.Validate(); err != nil {
		return err
	}
	logSizing(log, icfg, *memory, *slots)
	inv, err := invoker.New(invNC, rt, icfg, log)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := inv.Run(ctx); err != nil {
			errs <- fmt.Errorf("invoker: %w", err)
		}
		cancel()
	}()
	go func() {
		defer wg.Done()
		if err := serveGateway(ctx, ctl, gcfg, *apiListen, *grpcListen, log); err != nil {
			errs <- fmt.Errorf("gateway: %w", err)
		}
		cancel()
	}()

	fmt.Fprintf(os.Stderr, "\nFlurry standalone is up.\n")
	fmt.Fprintf(os.Stderr, "  container runtime: %s\n", rt.Name())
	if c, ok := rt.(interface{ Containment() string }); ok {
		fmt.Fprintf(os.Stderr, "  containment: %s\n", c.Containment())
	}
	fmt.Fprintf(os.Stderr, "  REST:  http://%s/api/v1 (OpenWhisk)  http://%s/v1 (grpc-gateway)\n", *apiListen, *apiListen)
	fmt.Fprintf(os.Stderr, "  gRPC:  %s\n", *grpcListen)
	fmt.Fprintf(os.Stderr, "  NATS:  %s (credentials per role in %s)\n", b.ClientURL(), filepath.Join(*dataDir, "nats"))
	fmt.Fprintf(os.Stderr, "  data:  %s\n", *dataDir)
	if generated {
		fmt.Fprintf(os.Stderr, "  guest key (generated, kept in %s):\n", filepath.Join(*dataDir, "guest.auth"))
	} else {
		fmt.Fprintf(os.Stderr, "  guest key:\n")
	}
	fmt.Fprintf(os.Stderr, "    export FLURRY_API_HOST=http://%s FLURRY_AUTH=%s\n", *apiListen, auth)
	kept := "kept"
	if adminGenerated {
		kept = "generated, kept"
	}
	fmt.Fprintf(os.Stderr, "  admin credential (%s in %s; flurry admin --data-dir finds it):\n", kept, filepath.Join(*dataDir, adminAuthFile))
	fmt.Fprintf(os.Stderr, "    export %s=%s\n\n", adminAuthEnv, admin)

	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return natsClosedErr(ctx, errors.Join(all...))
}

// guestAuth returns the guest namespace's key: the flag's, else the one
// kept in the data dir, else a new one that is then kept there. generated
// reports whether it was made now.
func guestAuth(dataDir, flagValue string) (auth string, generated bool, err error) {
	path := filepath.Join(dataDir, "guest.auth")
	if flagValue != "" {
		if _, _, err := entity.ParseAuth(flagValue); err != nil {
			return "", false, fmt.Errorf("--guest-key: %w", err)
		}
		return flagValue, false, os.WriteFile(path, []byte(flagValue+"\n"), 0o600)
	}
	if b, err := os.ReadFile(path); err == nil {
		auth := strings.TrimSpace(string(b))
		if _, _, err := entity.ParseAuth(auth); err != nil {
			return "", false, fmt.Errorf("%s: %w", path, err)
		}
		return auth, false, nil
	}
	auth = entity.NewAuth()
	if err := os.WriteFile(path, []byte(auth+"\n"), 0o600); err != nil {
		return "", false, err
	}
	return auth, true, nil
}
