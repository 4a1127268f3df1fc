// Package benchsys starts and drives a flurry standalone (and extra
// invokers) for the benchmark commands under e2e/cmd, and reads the pool
// counters the invokers publish in their heartbeats.
package benchsys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/internal/broker"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/natsclient"
)

// Auth is the guest key every system started by Start runs with.
const Auth = "9f0c5e3a-1b2c-4d5e-8f90-a1b2c3d4e5f6:benchbenchbenchbenchbenchbenchbenchbenchbenchbenchbenchbenchbenc"

// PoolStats mirrors the cumulative counters of invoker/pool.Stats that the
// heartbeat carries under "pool" (JSON tags only, so no import of the pool).
type PoolStats struct {
	ColdStarts        uint64  `json:"coldStarts"`
	PrewarmStarts     uint64  `json:"prewarmStarts"`
	WarmHits          uint64  `json:"warmHits"`
	PolicyPrewarms    uint64  `json:"policyPrewarms"`
	PolicyPrewarmHits uint64  `json:"policyPrewarmHits"`
	ScaleOuts         uint64  `json:"scaleOuts"`
	Evictions         uint64  `json:"evictions"`
	Expired           uint64  `json:"expired"`
	MemoryMBSeconds   float64 `json:"memoryMBSeconds"`
	UsedMB            int64   `json:"usedMB"`
	Warm              int     `json:"warm"`
}

// Sub is a − b for the cumulative counters (gauges keep a).
func (a PoolStats) Sub(b PoolStats) PoolStats {
	return PoolStats{
		ColdStarts: a.ColdStarts - b.ColdStarts, PrewarmStarts: a.PrewarmStarts - b.PrewarmStarts,
		WarmHits: a.WarmHits - b.WarmHits, PolicyPrewarms: a.PolicyPrewarms - b.PolicyPrewarms,
		PolicyPrewarmHits: a.PolicyPrewarmHits - b.PolicyPrewarmHits, Evictions: a.Evictions - b.Evictions,
		Expired: a.Expired - b.Expired, MemoryMBSeconds: a.MemoryMBSeconds - b.MemoryMBSeconds, ScaleOuts: a.ScaleOuts - b.ScaleOuts,
		UsedMB: a.UsedMB, Warm: a.Warm,
	}
}

// Add sums the counters and gauges of two invokers.
func (a PoolStats) Add(b PoolStats) PoolStats {
	return PoolStats{
		ColdStarts: a.ColdStarts + b.ColdStarts, PrewarmStarts: a.PrewarmStarts + b.PrewarmStarts,
		WarmHits: a.WarmHits + b.WarmHits, PolicyPrewarms: a.PolicyPrewarms + b.PolicyPrewarms,
		PolicyPrewarmHits: a.PolicyPrewarmHits + b.PolicyPrewarmHits, Evictions: a.Evictions + b.Evictions,
		Expired: a.Expired + b.Expired, MemoryMBSeconds: a.MemoryMBSeconds + b.MemoryMBSeconds, ScaleOuts: a.ScaleOuts + b.ScaleOuts,
		UsedMB: a.UsedMB + b.UsedMB, Warm: a.Warm + b.Warm,
	}
}

// Heartbeats keeps the latest pool counters of every invoker, from the
// health subjects of the system's NATS.
type Heartbeats struct {
	nc   *nats.Conn
	mu   sync.Mutex
	last map[string]PoolStats
	seen map[string]time.Time
}

// WatchHeartbeats subscribes to every invoker heartbeat on the system's NATS.
func WatchHeartbeats(s *System) (*Heartbeats, error) {
	nc, err := s.ConnectNATS(broker.RoleAdmin)
	if err != nil {
		return nil, err
	}
	h := &Heartbeats{nc: nc, last: map[string]PoolStats{}, seen: map[string]time.Time{}}
	_, err = nc.Subscribe(names.InvokerHealthSubjects, func(m *nats.Msg) {
		var hb struct {
			ID   string    `json:"id"`
			Pool PoolStats `json:"pool"`
		}
		if json.Unmarshal(m.Data, &hb) != nil {
			return
		}
		h.mu.Lock()
		h.last[hb.ID] = hb.Pool
		h.seen[hb.ID] = time.Now()
		h.mu.Unlock()
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return h, nil
}

// Invokers is the number of invokers heard from since t.
func (h *Heartbeats) Invokers(since time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, t := range h.seen {
		if t.After(since) {
			n++
		}
	}
	return n
}

// Fresh waits for a heartbeat of every invoker newer than now (they come
// every second) and returns the sum of their counters.
func (h *Heartbeats) Fresh() PoolStats {
	t0 := time.Now()
	deadline := t0.Add(5 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		ok := true
		for _, t := range h.seen {
			ok = ok && t.After(t0)
		}
		h.mu.Unlock()
		if ok {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var s PoolStats
	for _, p := range h.last {
		s = s.Add(p)
	}
	return s
}

// Snapshot copies the latest counters per invoker id.
func (h *Heartbeats) Snapshot() map[string]PoolStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := make(map[string]PoolStats, len(h.last))
	for id, p := range h.last {
		m[id] = p
	}
	return m
}

// Close ends the subscription.
func (h *Heartbeats) Close() { h.nc.Close() }

// System is a standalone flurry (and any extra invokers) started by the bench.
type System struct {
	procs  []*exec.Cmd
	exited []chan struct{} // closed when procs[i] has exited
	API    string
	GRPC   string // gRPC host:port
	NATS   string
	// Data is standalone's data dir; its nats/ holds the role credentials.
	Data string
	// Runtime is the container runtime standalone reported ("docker", ...).
	Runtime string
	Out     *lockedBuffer
	Client  *http.Client
	stopped bool
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreeAddrs returns n distinct free loopback addresses; the listeners are
// held until all are chosen so the kernel cannot hand out one port twice.
func FreeAddrs(n int) []string {
	var addrs []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// Start runs `bin standalone` with its data in dir, free loopback ports,
// Auth as the guest key and no admission limits, plus extra flags, and
// waits until its API answers.
func Start(bin, dir string, extra ...string) (*System, error) {
	a := FreeAddrs(3)
	api, grpcAddr, natsAddr := a[0], a[1], a[2]
	args := append([]string{"standalone", "--data-dir", dir, "--api-listen", api, "--grpc-listen", grpcAddr,
		"--nats-listen", natsAddr, "--guest-key", Auth, "--log-level", "warn",
		"--limit-concurrent", "0", "--limit-per-minute", "0"}, extra...)
	s := &System{API: "http://" + api, GRPC: grpcAddr, NATS: "nats://" + natsAddr, Data: dir, Out: &lockedBuffer{},
		Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}, Timeout: 120 * time.Second}}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = s.Out, s.Out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := s.track(cmd)
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return nil, fmt.Errorf("standalone exited:\n%s", s.Out.String())
		default:
		}
		if r, err := http.Get(s.API + "/api/v1"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				for _, l := range strings.Split(s.Out.String(), "\n") {
					if _, rt, ok := strings.Cut(l, "container runtime:"); ok {
						s.Runtime = strings.TrimSpace(rt)
					}
				}
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Stop()
	return nil, fmt.Errorf("standalone not up:\n%s", s.Out.String())
}

// NATSCreds is the credentials file standalone made for role.
func (s *System) NATSCreds(role broker.Role) string {
	return broker.CredsFile(filepath.Join(s.Data, "nats"), role)
}

// ConnectNATS connects to the system's NATS as role.
func (s *System) ConnectNATS(role broker.Role) (*nats.Conn, error) {
	opts, err := natsclient.Options(natsclient.Config{Role: string(role), Creds: s.NATSCreds(role)})
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(s.NATS, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s as %s: %w", s.NATS, role, err)
	}
	return nc, nil
}

// AddInvoker starts `flurry invoker` against the system's NATS.
func (s *System) AddInvoker(bin string, args ...string) error {
	cmd := exec.Command(bin, append([]string{"invoker", "--nats", s.NATS, "--nats-creds", s.NATSCreds(broker.RoleInvoker),
		"--log-level", "warn"}, args...)...)
	cmd.Stdout, cmd.Stderr = s.Out, s.Out
	if err := cmd.Start(); err != nil {
		return err
	}
	s.track(cmd)
	return nil
}

// track records a started process and reaps it.
func (s *System) track(cmd *exec.Cmd) chan struct{} {
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.procs = append(s.procs, cmd)
	s.exited = append(s.exited, exited)
	return exited
}

// Stop interrupts the extra invokers first, then the standalone.
func (s *System) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	for i := len(s.procs) - 1; i >= 0; i-- {
		c := s.procs[i]
		c.Process.Signal(os.Interrupt)
		select {
		case <-s.exited[i]:
		case <-time.After(60 * time.Second):
			c.Process.Kill()
		}
	}
}

// Request sends an authenticated JSON request to the system's REST API.
func (s *System) Request(method, path string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, s.API+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	u, k, _ := strings.Cut(Auth, ":")
	req.SetBasicAuth(u, k)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// Put creates or replaces a go action from base64 code with memory MB.
func (s *System) Put(name, code string, memory int) error {
	st, b, err := s.Request(http.MethodPut, "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", map[string]any{
		"exec":   map[string]any{"kind": "go", "binary": true, "code": code},
		"limits": map[string]any{"memory": memory},
	})
	if err == nil && st != 200 {
		err = fmt.Errorf("put %s: %d %s", name, st, b)
	}
	return err
}

// Invoke runs name blocking and returns the result.
func (s *System) Invoke(name string, params any) ([]byte, error) {
	st, b, err := s.Request(http.MethodPost, "/api/v1/namespaces/_/actions/"+name+"?blocking=true&result=true", params)
	if err == nil && st != 200 {
		err = fmt.Errorf("invoke %s: %d %s", name, st, b)
	}
	return b, err
}

// Percentile returns the p-th percentile (nearest rank) of d; 0 for none.
func Percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s[i]
}
