package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/actions/gowrap"
	"github.com/flurryfn/flurry/e2e/internal/benchsys"
	"github.com/flurryfn/flurry/internal/broker"
)

// The -msg mode measures message triggers (ADR 008): for a core NATS
// subject, a JetStream stream and a batched stream, the end-to-end lag
// (publish → the action's result on the response subject) of messages
// sent one at a time, then a burst's throughput (messages/s in,
// activations/s out) and its lag. Nothing else runs.

var (
	msgMode  = flag.Bool("msg", false, "measure message trigger throughput and end-to-end lag (only that)")
	msgBurst = flag.Int("msg-n", 5000, "messages per burst in the -msg mode")
)

// msgEchoSource returns its parameters: the message, or the batch, with
// headers, so the response carries each message's send time.
const msgEchoSource = `package main

func Main(args map[string]interface{}) map[string]interface{} { return args }
`

// msgSentHeader carries a message's send time in Unix ns.
const msgSentHeader = "X-Sent"

// runMsgMode runs the message trigger benchmark when -msg is set and
// reports whether it did; it exits on failure.
func runMsgMode(bin string) bool {
	if !*msgMode {
		return false
	}
	if err := runMsg(bin, *msgBurst); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	return true
}

type msgCase struct {
	name    string
	stream  string
	batch   int
	window  int64
	subject string
}

func runMsg(bin string, burst int) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "flurry-bench-msg")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "echo.go")
	if err := os.WriteFile(src, []byte(msgEchoSource), 0o644); err != nil {
		return err
	}
	exe, err := gowrap.Build(ctx, src, "Main")
	if err != nil {
		return err
	}
	natsAddr := benchsys.FreeAddrs(1)[0]
	sys, err := start(bin, filepath.Join(tmp, "a"), "--memory", "4096", "--nats-listen", natsAddr)
	if err != nil {
		return err
	}
	defer sys.Stop()
	fmt.Printf("runtime: %s\n\n", sys.Runtime)
	if err := sys.Put("echo", base64.StdEncoding.EncodeToString(exe), 128); err != nil {
		return err
	}
	if _, err := sys.restInvoke("echo"); err != nil {
		return err
	}
	nc, err := sys.ConnectNATS(broker.RoleAdmin)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"events.guest.bench.js.>"}}); err != nil {
		return err
	}

	cases := []msgCase{
		{name: "core NATS subject", subject: "events.guest.bench.core.in"},
		{name: "JetStream stream", stream: "BENCH", subject: "events.guest.bench.js.in"},
		{name: "JetStream stream, batch 100 / 50 ms", stream: "BENCH", subject: "events.guest.bench.js.batch", batch: 100, window: 50},
	}
	fmt.Printf("| source | lag p50 (1 at a time) | lag p99 (1 at a time) | burst | published/s | results/s (messages) | activations/s | burst lag p50 | burst lag p99 |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|\n")
	for i, c := range cases {
		name := fmt.Sprintf("bench%d", i)
		st, b, err := sys.Request(http.MethodPut, "/api/v1/namespaces/_/triggers/"+name, map[string]any{"source": map[string]any{
			"nats": map[string]any{"subject": c.subject, "stream": c.stream, "batchSize": c.batch, "batchWindow": c.window,
				"responseSubject": "events.guest.bench.out." + name,
				// Retries cover containers that crash under the burst (a
				// developer error); the table counts each message once.
				"retry": map[string]any{"maxAttempts": 3, "initialBackoff": 100}},
		}})
		if err == nil && st != http.StatusOK {
			err = fmt.Errorf("put trigger %s: %d %s", name, st, b)
		}
		if err != nil {
			return err
		}
		st, b, err = sys.Request(http.MethodPut, "/api/v1/namespaces/_/rules/"+name, map[string]any{
			"trigger": "/_/" + name, "action": "/_/echo"})
		if err == nil && st != http.StatusOK {
			err = fmt.Errorf("put rule %s: %d %s", name, st, b)
		}
		if err != nil {
			return err
		}
		r, err := measureMsg(ctx, nc, js, c, "events.guest.bench.out."+name, burst)
		if err != nil {
			return fmt.Errorf("%s: %w\nstandalone output:\n%s", c.name, err, sys.Out.String())
		}
		fmt.Printf("| %s | %s | %s | %d | %.0f | %.0f | %.0f | %s | %s |\n", c.name, ms(benchsys.Percentile(r.lag1, 50)), ms(benchsys.Percentile(r.lag1, 99)),
			burst, r.published, r.results, r.activations, ms(benchsys.Percentile(r.lagN, 50)), ms(benchsys.Percentile(r.lagN, 99)))
	}
	return nil
}

type msgResult struct {
	lag1, lagN                      []time.Duration
	published, results, activations float64
}

// measureMsg sends 200 messages one at a time, each after the previous
// result, then a burst of n, and reads the results on out.
func measureMsg(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, c msgCase, out string, n int) (msgResult, error) {
	type got struct {
		at   time.Time
		sent []int64
	}
	results := make(chan got, 1<<16)
	sub, err := nc.Subscribe(out, func(m *nats.Msg) {
		at := time.Now()
		var p struct {
			Headers  nats.Header `json:"headers"`
			Messages []struct {
				Headers nats.Header `json:"headers"`
			} `json:"messages"`
		}
		if json.Unmarshal(m.Data, &p) != nil {
			return
		}
		g := got{at: at}
		add := func(h nats.Header) {
			if v, err := strconv.ParseInt(h.Get(msgSentHeader), 10, 64); err == nil {
				g.sent = append(g.sent, v)
			}
		}
		add(p.Headers)
		for _, mm := range p.Messages {
			add(mm.Headers)
		}
		results <- g
	})
	if err != nil {
		return msgResult{}, err
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return msgResult{}, err
	}
	var mu sync.Mutex
	var pubErr error
	publish := func(async bool) {
		m := &nats.Msg{Subject: c.subject, Data: []byte(`{"x":1}`),
			Header: nats.Header{msgSentHeader: {strconv.FormatInt(time.Now().UnixNano(), 10)}}}
		var err error
		switch {
		case c.stream == "":
			err = nc.PublishMsg(m)
		case async:
			_, err = js.PublishMsgAsync(m)
		default:
			_, err = js.PublishMsg(ctx, m)
		}
		if err != nil {
			mu.Lock()
			pubErr = err
			mu.Unlock()
		}
	}
	// The trigger's consumers start from its KV watch: wait for a first result.
	var r msgResult
	deadline := time.After(30 * time.Second)
	publish(false)
	select {
	case <-results:
	case <-deadline:
		return r, fmt.Errorf("no result within 30s (publish error: %v)", pubErr)
	}
	single := 200
	if c.batch > 1 {
		single = 20 // each waits the batch window
	}
	for range single {
		publish(false)
		select {
		case g := <-results:
			for _, s := range g.sent {
				r.lag1 = append(r.lag1, g.at.Sub(time.Unix(0, s)))
			}
		case <-time.After(30 * time.Second):
			return r, fmt.Errorf("single message: no result within 30s")
		}
	}
	t0 := time.Now()
	for range n {
		publish(true)
	}
	if c.stream != "" {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			return r, fmt.Errorf("burst not stored within a minute")
		}
	} else if err := nc.Flush(); err != nil {
		return r, err
	}
	pubDur := time.Since(t0)
	if pubErr != nil {
		return r, pubErr
	}
	seen, acts := 0, 0
	var last time.Time
	for seen < n {
		select {
		case g := <-results:
			acts++
			seen += len(g.sent)
			last = g.at
			for _, s := range g.sent {
				r.lagN = append(r.lagN, g.at.Sub(time.Unix(0, s)))
			}
		case <-time.After(30 * time.Second):
			return r, fmt.Errorf("burst: %d of %d results, none for 30s", seen, n)
		}
	}
	total := last.Sub(t0).Seconds()
	r.published = float64(n) / pubDur.Seconds()
	r.results = float64(seen) / total
	r.activations = float64(acts) / total
	return r, nil
}
