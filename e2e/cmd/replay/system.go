package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/internal/names"
)

const auth = "9f0c5e3a-1b2c-4d5e-8f90-a1b2c3d4e5f6:benchbenchbenchbenchbenchbenchbenchbenchbenchbenchbenchbenchbenc"

// poolStats mirrors the cumulative counters of invoker/pool.Stats that the
// heartbeat carries under "pool" (JSON tags only, so no import of the pool).
type poolStats struct {
	ColdStarts        uint64  `json:"coldStarts"`
	PrewarmStarts     uint64  `json:"prewarmStarts"`
	WarmHits          uint64  `json:"warmHits"`
	PolicyPrewarms    uint64  `json:"policyPrewarms"`
	PolicyPrewarmHits uint64  `json:"policyPrewarmHits"`
	Evictions         uint64  `json:"evictions"`
	Expired           uint64  `json:"expired"`
	MemoryMBSeconds   float64 `json:"memoryMBSeconds"`
	UsedMB            int64   `json:"usedMB"`
	Warm              int     `json:"warm"`
}

func (a poolStats) sub(b poolStats) poolStats {
	return poolStats{
		ColdStarts: a.ColdStarts - b.ColdStarts, PrewarmStarts: a.PrewarmStarts - b.PrewarmStarts,
		WarmHits: a.WarmHits - b.WarmHits, PolicyPrewarms: a.PolicyPrewarms - b.PolicyPrewarms,
		PolicyPrewarmHits: a.PolicyPrewarmHits - b.PolicyPrewarmHits, Evictions: a.Evictions - b.Evictions,
		Expired: a.Expired - b.Expired, MemoryMBSeconds: a.MemoryMBSeconds - b.MemoryMBSeconds,
		UsedMB: a.UsedMB, Warm: a.Warm,
	}
}

func (a poolStats) add(b poolStats) poolStats {
	return poolStats{
		ColdStarts: a.ColdStarts + b.ColdStarts, PrewarmStarts: a.PrewarmStarts + b.PrewarmStarts,
		WarmHits: a.WarmHits + b.WarmHits, PolicyPrewarms: a.PolicyPrewarms + b.PolicyPrewarms,
		PolicyPrewarmHits: a.PolicyPrewarmHits + b.PolicyPrewarmHits, Evictions: a.Evictions + b.Evictions,
		Expired: a.Expired + b.Expired, MemoryMBSeconds: a.MemoryMBSeconds + b.MemoryMBSeconds,
		UsedMB: a.UsedMB + b.UsedMB, Warm: a.Warm + b.Warm,
	}
}

// heartbeats keeps the latest pool counters of every invoker, from the
// health subjects of the system's NATS.
type heartbeats struct {
	nc   *nats.Conn
	mu   sync.Mutex
	last map[string]poolStats
	seen map[string]time.Time
}

func watchHeartbeats(url string) (*heartbeats, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	h := &heartbeats{nc: nc, last: map[string]poolStats{}, seen: map[string]time.Time{}}
	_, err = nc.Subscribe(names.InvokerHealthSubjects, func(m *nats.Msg) {
		var hb struct {
			ID   string    `json:"id"`
			Pool poolStats `json:"pool"`
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

// invokers is the number of invokers heard from since t.
func (h *heartbeats) invokers(since time.Time) int {
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

// fresh waits for a heartbeat of every invoker newer than now (they come
// every second) and returns the sum of their counters.
func (h *heartbeats) fresh() poolStats {
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
	var s poolStats
	for _, p := range h.last {
		s = s.add(p)
	}
	return s
}

// snapshot copies the latest counters per invoker id.
func (h *heartbeats) snapshot() map[string]poolStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := make(map[string]poolStats, len(h.last))
	for id, p := range h.last {
		m[id] = p
	}
	return m
}

func (h *heartbeats) close() { h.nc.Close() }

// system is a standalone flurry (and any extra invokers) started by the bench.
type system struct {
	procs   []*exec.Cmd
	exited  []chan struct{} // closed when procs[i] has exited
	api     string
	nats    string
	out     *lockedBuffer
	client  *http.Client
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

// freeAddrs returns n distinct free loopback addresses; the listeners are
// held until all are chosen so the kernel cannot hand out one port twice.
func freeAddrs(n int) []string {
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

func start(bin, dir string, extra ...string) (*system, error) {
	a := freeAddrs(3)
	api, grpcAddr, natsAddr := a[0], a[1], a[2]
	args := append([]string{"standalone", "--data-dir", dir, "--api-listen", api, "--grpc-listen", grpcAddr,
		"--nats-listen", natsAddr, "--guest-key", auth, "--log-level", "warn",
		"--limit-concurrent", "0", "--limit-per-minute", "0"}, extra...)
	s := &system{api: "http://" + api, nats: "nats://" + natsAddr, out: &lockedBuffer{},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}, Timeout: 120 * time.Second}}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := s.track(cmd)
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return nil, fmt.Errorf("standalone exited:\n%s", s.out.String())
		default:
		}
		if r, err := http.Get(s.api + "/api/v1"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("standalone not up:\n%s", s.out.String())
}

// addInvoker starts `flurry invoker` against the system's NATS.
func (s *system) addInvoker(bin string, args ...string) error {
	cmd := exec.Command(bin, append([]string{"invoker", "--nats", s.nats, "--log-level", "warn"}, args...)...)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return err
	}
	s.track(cmd)
	return nil
}

// track records a started process and reaps it.
func (s *system) track(cmd *exec.Cmd) chan struct{} {
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.procs = append(s.procs, cmd)
	s.exited = append(s.exited, exited)
	return exited
}

// stop interrupts the extra invokers first, then the standalone.
func (s *system) stop() {
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

func (s *system) request(method, path string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, s.api+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	u, k, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(u, k)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

func (s *system) put(name, code string, memory int) error {
	st, b, err := s.request(http.MethodPut, "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", map[string]any{
		"exec":   map[string]any{"kind": "go", "binary": true, "code": code},
		"limits": map[string]any{"memory": memory},
	})
	if err == nil && st != 200 {
		err = fmt.Errorf("put %s: %d %s", name, st, b)
	}
	return err
}

// invoke runs name blocking and returns the result.
func (s *system) invoke(name string, params any) ([]byte, error) {
	st, b, err := s.request(http.MethodPost, "/api/v1/namespaces/_/actions/"+name+"?blocking=true&result=true", params)
	if err == nil && st != 200 {
		err = fmt.Errorf("invoke %s: %d %s", name, st, b)
	}
	return b, err
}
