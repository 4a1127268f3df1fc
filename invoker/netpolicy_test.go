package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
	"github.com/flurryfn/flurry/invoker/container"
)

// liveNetworks returns the network policy of each live container.
func (r *protoRuntime) liveNetworks() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for id, c := range r.live {
		out[id] = c.spec.Network
	}
	return out
}

// A namespace's policy, as the namespaces bucket holds it, reaches the
// containers its actions run in: once it is "none", its next activation
// runs in a container started without network and the idle container
// started with network is removed; deleting the entry restores the
// default.
func TestNetworkPolicyFromNamespaces(t *testing.T) {
	rt := newProtoRuntime()
	e := start(t, rt, Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}, MemoryMB: 1024})
	a := e.action(t, "echo", "go", "echo", entity.Limits{})
	if rec := e.invoke(t, a, `{}`); rec.Response.Status != "success" {
		t.Fatalf("first run: %+v", rec.Response)
	}
	first := rt.liveNetworks()
	for id, n := range first {
		if n != container.NetworkDefault {
			t.Fatalf("container %s of a namespace without entry started with network %q", id, n)
		}
	}
	kv, err := e.js.KeyValue(context.Background(), names.NamespacesBucket)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(entity.Namespace{Name: "guest", Network: entity.NetworkNone})
	if _, err := kv.Put(context.Background(), names.NamespaceKey("guest"), b); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if e.inv.nets.policy("guest", "guest") != container.NetworkNone {
			return errors.New("policy none not seen yet")
		}
		return nil
	})
	if rec := e.invoke(t, a, `{}`); rec.Response.Status != "success" || annotation(t, rec, "start") != "cold" {
		t.Fatalf("run under none: %+v start %v, want a cold start", rec.Response, annotation(t, rec, "start"))
	}
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		nets := rt.liveNetworks()
		if len(nets) != 1 {
			return errors.New("the container with network is still there")
		}
		for _, n := range nets {
			if n != container.NetworkNone {
				return errors.New("the live container has network")
			}
		}
		return nil
	})
	if err := kv.Delete(context.Background(), names.NamespaceKey("guest")); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if e.inv.nets.policy("guest", "guest") != container.NetworkDefault {
			return errors.New("deleted entry still none")
		}
		return nil
	})
}

// An entry that cannot be read, or names an unknown policy, fails closed.
func TestNetworkPolicyFailsClosed(t *testing.T) {
	rt := newProtoRuntime()
	e := start(t, rt, Config{Images: map[string]string{"go": "img-go"}, Prewarm: map[string]int{}, MemoryMB: 1024})
	kv, err := e.js.KeyValue(context.Background(), names.NamespacesBucket)
	if err != nil {
		t.Fatal(err)
	}
	for ns, v := range map[string]string{"garbled": `{"name":`, "odd": `{"name":"odd","network":"host"}`} {
		if _, err := kv.Put(context.Background(), names.NamespaceKey(ns), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		for _, ns := range []string{"garbled", "odd"} {
			if e.inv.nets.policy(ns, "guest") != container.NetworkNone || e.inv.nets.policy("guest", ns) != container.NetworkNone {
				return errors.New(ns + " is not none")
			}
		}
		return nil
	})
}
