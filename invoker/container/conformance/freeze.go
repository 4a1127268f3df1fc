package conformance

import (
	"context"
	"errors"
	"testing"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/invoker/container"
)

// testFreeze checks the container.Freezer contract on runtimes that have
// the ability: a frozen container serves again once thawed, freezing and
// thawing twice do nothing, a frozen container can be removed, and an
// unknown id is ErrNotFound.
func (s *suite) testFreeze(t *testing.T) {
	fz, ok := s.rt.(container.Freezer)
	if !ok {
		t.Skipf("%s runtime cannot freeze", s.rt.Name())
	}
	c := s.start(t, nil)
	s.init(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	for range 2 {
		if err := fz.Freeze(ctx, c.ID); err != nil {
			t.Fatalf("freeze: %v", err)
		}
	}
	for range 2 {
		if err := fz.Thaw(ctx, c.ID); err != nil {
			t.Fatalf("thaw: %v", err)
		}
	}
	resp, err := run(t, c, "thawed", `{"n":1}`)
	checkEcho(t, resp, err, `{"n":1}`)
	if err := fz.Freeze(ctx, c.ID); err != nil {
		t.Fatalf("freeze: %v", err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), startTimeout)
	defer rcancel()
	if err := s.rt.Remove(rctx, c.ID); err != nil {
		t.Fatalf("remove a frozen container: %v", err)
	}
	for _, f := range []func(context.Context, string) error{fz.Freeze, fz.Thaw} {
		if err := f(ctx, c.ID); !errors.Is(err, container.ErrNotFound) {
			t.Errorf("freeze or thaw of a removed container: got %v, want ErrNotFound", err)
		}
	}
}

// testNetworkNone checks Spec.Network "none": the runtime either refuses
// it with ErrNetworkPolicy or starts a container whose action protocol
// works without network.
func (s *suite) testNetworkNone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := s.rt.Start(ctx, container.Spec{Name: "flurry-conf-" + randomID(), Image: s.image, Kind: entity.KindGo,
		MemoryBytes: 128 << 20, Labels: map[string]string{labelTest: s.run}, Network: container.NetworkNone})
	if errors.Is(err, container.ErrNetworkPolicy) {
		t.Logf("%s refuses network none: %v", s.rt.Name(), err)
		return
	}
	if err != nil {
		t.Fatalf("start without network: %v", err)
	}
	t.Cleanup(func() { _ = s.rt.Remove(context.Background(), c.ID) })
	cl, logs := container.Connect(c)
	defer cl.Close()
	if err := cl.WaitReady(ctx); err != nil {
		t.Fatalf("wait ready without network: %v", err)
	}
	if err := cl.Init(ctx, container.InitRequest{Name: "echo", Main: "main", Code: s.code, Binary: true}); err != nil {
		t.Fatalf("init without network: %v", err)
	}
	st := &started{Container: c, client: cl, logs: logs}
	resp, err := run(t, st, "nonet", `{"n":2}`)
	checkEcho(t, resp, err, `{"n":2}`)
}
