// Command bench measures Flurry's invoke latency and throughput against a
// standalone system it starts itself, beside a baseline measured in the
// same run: a direct HTTP /run call to the warm container that serves the
// same action. Results are printed as the markdown of docs/benchmarks.md.
//
//	go run ./e2e/cmd/bench -flurry bin/flurry   (or: make bench)
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/flurryfn/flurry/e2e/internal/benchsys"
	"github.com/flurryfn/flurry/invoker/container"
	"github.com/flurryfn/flurry/invoker/container/docker"
	flurryv1 "github.com/flurryfn/flurry/proto/flurry/v1"
)

func main() {
	flurry := flag.String("flurry", "bin/flurry", "the static flurry binary")
	n := flag.Int("n", 2000, "sequential warm invocations per path")
	rounds := flag.Int("rounds", 4, "interleaved rounds of the warm paths (n is split over them)")
	starts := flag.Int("starts", 10, "cold and prewarm starts to measure")
	clients := flag.Int("clients", 32, "concurrent clients for the throughput phase")
	duration := flag.Duration("duration", 10*time.Second, "throughput phase length")
	sflags := flag.String("standalone-flags", "", "extra flags of the measured standalone, space separated (e.g. --freeze-grace=1h: the direct baseline cannot reach a frozen container)")
	flag.Parse()
	if runMsgMode(*flurry) {
		return
	}
	if runRoutesMode(*flurry, *n, *rounds) {
		return
	}
	if runFreezeMode(*flurry, *n, *rounds) {
		return
	}
	if err := run(*flurry, strings.Fields(*sflags), *n, *rounds, *starts, *clients, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin string, sflags []string, n, rounds, starts, clients int, duration time.Duration) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "flurry-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	code, err := benchsys.NoopCode(ctx, tmp)
	if err != nil {
		return err
	}

	sys, err := start(bin, filepath.Join(tmp, "a"), append([]string{"--memory", "8192"}, sflags...)...)
	if err != nil {
		return err
	}
	defer sys.Stop()
	fmt.Printf("runtime: %s\n\n", sys.Runtime)

	if err := sys.Put("noop", code, 128); err != nil {
		return err
	}
	if _, err := sys.restInvoke("noop"); err != nil {
		return err
	}
	conn, err := grpc.NewClient(sys.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	inv := flurryv1.NewInvocationServiceClient(conn)
	gctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(benchsys.Auth)))
	params, _ := structpb.NewStruct(map[string]any{"x": 1})
	grpcInvoke := func() error {
		r, err := inv.Invoke(gctx, &flurryv1.InvokeRequest{Namespace: "_", Name: "noop", Params: params, Blocking: true})
		if err == nil && !r.GetActivation().GetResponse().GetSuccess() {
			err = fmt.Errorf("activation failed: %v", r)
		}
		return err
	}
	direct, err := findWarmContainer(sys)
	if err != nil {
		return err
	}

	// Warm-up, then interleaved rounds so that noise hits all paths alike.
	for i := 0; i < 200; i++ {
		if _, err := sys.restInvoke("noop"); err != nil {
			return err
		}
		if err := grpcInvoke(); err != nil {
			return err
		}
		if err := direct(); err != nil {
			return err
		}
	}
	var rest, grpcL, base []time.Duration
	per := n / rounds
	for r := 0; r < rounds; r++ {
		for _, p := range []struct {
			into *[]time.Duration
			fn   func() error
		}{
			{&base, direct},
			{&rest, func() error { _, err := sys.restInvoke("noop"); return err }},
			{&grpcL, grpcInvoke},
		} {
			for i := 0; i < per; i++ {
				t0 := time.Now()
				if err := p.fn(); err != nil {
					return err
				}
				*p.into = append(*p.into, time.Since(t0))
			}
		}
	}
	fmt.Println("| path (warm, blocking, sequential) | n | p50 | p99 | overhead p50 vs direct |")
	fmt.Println("|---|---|---|---|---|")
	bp50 := benchsys.Percentile(base, 50)
	row := func(name string, d []time.Duration) {
		fmt.Printf("| %s | %d | %s | %s | %s |\n", name, len(d), ms(benchsys.Percentile(d, 50)), ms(benchsys.Percentile(d, 99)), ms(benchsys.Percentile(d, 50)-bp50))
	}
	row("direct HTTP /run to the warm container (baseline)", base)
	row("REST POST /api/v1/.../actions/noop?blocking=true&result=true", rest)
	row("gRPC InvocationService.Invoke (blocking)", grpcL)
	fmt.Println()

	// Throughput with concurrent clients.
	var done, failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	phase := func(d time.Duration, record bool) {
		var wg sync.WaitGroup
		end := time.Now().Add(d)
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(end) {
					t0 := time.Now()
					if _, err := sys.restInvoke("noop"); err != nil {
						failed.Add(1)
						continue
					}
					if record {
						mine = append(mine, time.Since(t0))
						done.Add(1)
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	phase(5*time.Second, false) // let the pool grow to its working size
	failed.Store(0)
	phase(duration, true)
	fmt.Printf("| throughput, %d REST clients, warm noop | activations/s | p50 | p99 | failed |\n|---|---|---|---|---|\n", clients)
	fmt.Printf("| %s | %.0f | %s | %s | %d |\n\n", duration, float64(done.Load())/duration.Seconds(), ms(benchsys.Percentile(lat, 50)), ms(benchsys.Percentile(lat, 99)), failed.Load())

	// Prewarm starts: each new action takes the stem cell, which is refilled in between.
	pre, err := startSeries(sys, code, "pw", starts, "prewarm")
	if err != nil {
		return err
	}
	sys.Stop()

	// Cold starts: a system without stem cells.
	cold, err := start(bin, filepath.Join(tmp, "b"), "--prewarm", "0")
	if err != nil {
		return err
	}
	defer cold.Stop()
	coldRes, err := startSeries(cold, code, "cold", starts, "cold")
	if err != nil {
		return err
	}
	fmt.Println("| start | n | client latency p50 | p99 | initTime p50 | waitTime p50 |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range []series{pre, coldRes} {
		fmt.Printf("| %s | %d | %s | %s | %s | %s |\n", s.name, len(s.client), ms(benchsys.Percentile(s.client, 50)), ms(benchsys.Percentile(s.client, 99)), ms(benchsys.Percentile(s.init, 50)), ms(benchsys.Percentile(s.wait, 50)))
	}
	return nil
}

type series struct {
	name               string
	client, init, wait []time.Duration
}

// startSeries deploys count new actions and invokes each once, expecting
// the activation to report the given start ("cold" or "prewarm").
func startSeries(sys *system, code, prefix string, count int, want string) (series, error) {
	s := series{name: want}
	for i := 0; i < count; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if err := sys.Put(name, code, 256); err != nil {
			return s, err
		}
		time.Sleep(1500 * time.Millisecond) // a bench, not a test: let the stem cell be refilled
		t0 := time.Now()
		rec, err := sys.restInvokeRecord(name)
		if err != nil {
			return s, err
		}
		el := time.Since(t0)
		if got := annotationString(rec, "start"); got != want {
			fmt.Fprintf(os.Stderr, "note: %s started %q, expected %q\n", name, got, want)
			continue
		}
		s.client = append(s.client, el)
		s.init = append(s.init, time.Duration(annotationNumber(rec, "initTime"))*time.Millisecond)
		s.wait = append(s.wait, time.Duration(annotationNumber(rec, "waitTime"))*time.Millisecond)
	}
	return s, nil
}

// system is a standalone started by the bench, with the invoke helpers
// the bench's modes share.
type system struct{ *benchsys.System }

func start(bin, dir string, extra ...string) (*system, error) {
	s, err := benchsys.Start(bin, dir, extra...)
	if err != nil {
		return nil, err
	}
	return &system{s}, nil
}

func (s *system) restInvoke(name string) ([]byte, error) {
	st, b, err := s.Request(http.MethodPost, "/api/v1/namespaces/_/actions/"+name+"?blocking=true&result=true", map[string]any{"x": 1})
	if err == nil && st != 200 {
		err = fmt.Errorf("invoke %s: %d %s", name, st, b)
	}
	return b, err
}

func (s *system) restInvokeRecord(name string) (map[string]any, error) {
	st, b, err := s.Request(http.MethodPost, "/api/v1/namespaces/_/actions/"+name+"?blocking=true", map[string]any{})
	if err != nil {
		return nil, err
	}
	if st != 200 {
		return nil, fmt.Errorf("invoke %s: %d %s", name, st, b)
	}
	var rec map[string]any
	return rec, json.Unmarshal(b, &rec)
}

// findWarmContainer returns a function that calls /run directly on the
// container that already serves the noop action, through the same unix
// socket (or loopback port) the invoker uses.
func findWarmContainer(s *system) (func() error, error) {
	if s.Runtime != "docker" {
		return nil, errors.New("the direct baseline needs the docker runtime")
	}
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=io.flurry.managed=true").Output()
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, id := range strings.Fields(string(out)) {
		if sock, err := exec.Command("docker", "inspect", "--format", `{{index .Config.Labels "`+docker.LabelSocket+`"}}`, id).Output(); err == nil && len(bytes.TrimSpace(sock)) > 0 {
			// A Go action serves /run itself on a socket next to the
			// proxy's (ADR 014), and the proxy refuses /run for it: try
			// every socket in the directory.
			socks, _ := filepath.Glob(filepath.Join(filepath.Dir(string(bytes.TrimSpace(sock))), "*.sock"))
			for _, s := range socks {
				addrs = append(addrs, "unix:"+s)
			}
			continue
		}
		if p, err := exec.Command("docker", "port", id, "8080/tcp").Output(); err == nil {
			for _, l := range strings.Fields(string(p)) {
				if strings.HasPrefix(l, "127.0.0.1:") {
					addrs = append(addrs, l)
				}
			}
		}
	}
	for _, a := range addrs {
		// The invoker's own client. It takes the logs inline as the invoker
		// does, so no end marker of this call reaches the container's output
		// (where the invoker's collector would count it).
		client := container.NewClient(a)
		client.InlineLogs(func(_, _ []byte) {})
		call := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := client.Run(ctx, container.RunRequest{Value: json.RawMessage(`{"x":1}`), Namespace: "guest", ActionName: "noop", ActivationID: "bench"})
			if err != nil {
				return err
			}
			if resp.StatusCode != 200 {
				return fmt.Errorf("direct /run: %d", resp.StatusCode)
			}
			return nil
		}
		if call() == nil {
			return call, nil
		}
		client.Close()
	}
	return nil, fmt.Errorf("no warm noop container answers /run among %v", addrs)
}

func annotation(rec map[string]any, key string) any {
	anns, _ := rec["annotations"].([]any)
	for _, a := range anns {
		if m, _ := a.(map[string]any); m["key"] == key {
			return m["value"]
		}
	}
	return nil
}

func annotationString(rec map[string]any, key string) string {
	s, _ := annotation(rec, key).(string)
	return s
}

func annotationNumber(rec map[string]any, key string) float64 {
	f, _ := annotation(rec, key).(float64)
	return f
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }
