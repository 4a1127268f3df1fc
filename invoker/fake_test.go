package invoker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flurryfn/flurry/invoker/container"
)

// protoRuntime is a container.Runtime whose "containers" are in-process
// HTTP servers speaking the action protocol. The code sent to /init picks
// the behaviour of /run: "echo" (returns its params and logs a line),
// "apperror", "sleep" (sleeps params.ms), "crash" (drops the connection),
// "notdict", "big" (2 MiB result), "badinit" (init fails), "slowinit:MS"
// (init takes MS milliseconds, then the action is "echo").
type protoRuntime struct {
	mu      sync.Mutex
	seq     int
	live    map[string]*protoContainer
	starts  int
	removes int
}

var _ container.Runtime = (*protoRuntime)(nil)

type protoContainer struct {
	spec   container.Spec
	srv    *http.Server
	ln     net.Listener
	outW   *io.PipeWriter
	errW   *io.PipeWriter
	mu     sync.Mutex
	code   string
	inited bool
	// endpoint is what /specialize dedicated an app container to.
	endpoint string
}

func newProtoRuntime() *protoRuntime { return &protoRuntime{live: map[string]*protoContainer{}} }

func (r *protoRuntime) Name() string { return "proto-fake" }

func (r *protoRuntime) Start(_ context.Context, spec container.Spec) (*container.Container, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	pc := &protoContainer{spec: spec, ln: ln, outW: outW, errW: errW}
	pc.srv = &http.Server{Handler: pc}
	go pc.srv.Serve(ln)
	r.mu.Lock()
	r.seq++
	id := fmt.Sprintf("p%d", r.seq)
	r.live[id] = pc
	r.starts++
	r.mu.Unlock()
	return &container.Container{ID: id, Addr: ln.Addr().String(), Stdout: outR, Stderr: errR}, nil
}

func (r *protoRuntime) Remove(_ context.Context, id string) error {
	r.mu.Lock()
	pc, ok := r.live[id]
	delete(r.live, id)
	if ok {
		r.removes++
	}
	r.mu.Unlock()
	if !ok {
		return container.ErrNotFound
	}
	pc.kill()
	return nil
}

func (r *protoRuntime) List(_ context.Context, labels map[string]string) ([]container.Info, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []container.Info
	for id, pc := range r.live {
		ok := true
		for k, v := range labels {
			ok = ok && pc.spec.Labels[k] == v
		}
		if ok {
			out = append(out, container.Info{ID: id, Name: pc.spec.Name, Labels: maps.Clone(pc.spec.Labels)})
		}
	}
	return out, nil
}

func (r *protoRuntime) counts() (live, starts, removes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live), r.starts, r.removes
}

func (pc *protoContainer) kill() {
	pc.srv.Close()
	pc.outW.Close()
	pc.errW.Close()
}

func (pc *protoContainer) marker() {
	fmt.Fprintln(pc.outW, container.EndMarker)
	fmt.Fprintln(pc.errW, container.EndMarker)
}

func (pc *protoContainer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/init":
		var body struct {
			Value struct {
				Code string `json:"code"`
			} `json:"value"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		pc.mu.Lock()
		defer pc.mu.Unlock()
		if pc.inited {
			http.Error(w, `{"error":"Cannot initialize the action more than once."}`, http.StatusForbidden)
			return
		}
		if body.Value.Code == "badinit" {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"error":"cannot compile"}`)
			return
		}
		code := body.Value.Code
		if ms, ok := strings.CutPrefix(code, "slowinit:"); ok {
			d, _ := strconv.Atoi(ms)
			select {
			case <-time.After(time.Duration(d) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
			code = "echo"
		}
		pc.inited, pc.code = true, code
		io.WriteString(w, `{"ok":true}`)
	case "/register":
		pc.mu.Lock()
		code := pc.code
		pc.mu.Unlock()
		pc.marker()
		if code == "badregister" {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"error":"the app has no url_map"}`)
			return
		}
		io.WriteString(w, `{"routes":[{"methods":["GET"],"rule":"/","endpoint":"index"}]}`)
	case "/specialize":
		ep := r.URL.Query().Get("endpoint")
		pc.mu.Lock()
		defer pc.mu.Unlock()
		switch {
		case ep == "nosuch":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"the app has no endpoint \"nosuch\""}`)
		case pc.endpoint != "" && pc.endpoint != ep:
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"error":"specialized already"}`)
		default:
			pc.endpoint = ep
			io.WriteString(w, `{"ok":true}`)
		}
	case "/run":
		var body struct {
			Value        json.RawMessage `json:"value"`
			ActivationID string          `json:"activation_id"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		pc.mu.Lock()
		code := pc.code
		pc.mu.Unlock()
		fmt.Fprintf(pc.outW, "running %s\n", body.ActivationID)
		fmt.Fprintf(pc.errW, "warning from %s\n", code)
		switch code {
		case "echo":
			w.Write(body.Value)
		case "app":
			pc.mu.Lock()
			ep := pc.endpoint
			pc.mu.Unlock()
			fmt.Fprintf(w, `{"statusCode":200,"body":%q}`, ep)
		case "apperror":
			io.WriteString(w, `{"error":"no such thing"}`)
		case "sleep":
			var p struct{ MS int }
			json.Unmarshal(body.Value, &p)
			select {
			case <-time.After(time.Duration(p.MS) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, `{"slept":true}`)
		case "crash":
			pc.marker()
			if hj, ok := w.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
			}
			return
		case "notdict":
			io.WriteString(w, `[1,2,3]`)
		case "big":
			io.WriteString(w, `{"x":"`+strings.Repeat("a", 2<<20)+`"}`)
		}
		pc.marker()
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}
