package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestComposeDeployment builds the FROM-scratch images of deploy/compose,
// starts the stack with its up.sh (three NATS servers with JetStream and
// credentials, two controllers with --replicas 3, two gateways, an invoker
// on the host's Docker engine) under a project name of its own, deploys an
// action through one gateway and invokes it through the other. The stack
// and its volumes are removed whatever happens.
func TestComposeDeployment(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("docker-compose is not installed (.ci/run installs it)")
		}
		t.Fatal("docker-compose is not installed; CI must run the compose deployment (.ci/run installs it)")
	}
	if !dockerReachable() {
		// As every Docker test does; .ci/run warns loudly about it.
		t.Skip("no Docker engine reachable")
	}
	c := startCompose(t)

	// The controllers provision every stream and bucket with three
	// replicas before they answer, so the first requests may find none.
	create := map[string]any{"exec": map[string]any{"kind": "go", "binary": true,
		"code": base64.StdEncoding.EncodeToString(example(t, "hello"))}}
	c.retry(t, 3*time.Minute, func() error {
		st, body := c.do(t, c.api[0], http.MethodPut, "/api/v1/namespaces/_/actions/hello?overwrite=true", create)
		if st != http.StatusOK {
			return fmt.Errorf("create hello through gateway1: %d %s", st, body)
		}
		return nil
	})
	// The other gateway: the action lives in JetStream, not in a gateway.
	// The invoker may still be building its runtime image.
	c.retry(t, 2*time.Minute, func() error {
		st, body := c.do(t, c.api[1], http.MethodPost, "/api/v1/namespaces/_/actions/hello?blocking=true&result=true",
			map[string]any{"name": "compose"})
		if st != http.StatusOK {
			return fmt.Errorf("invoke hello through gateway2: %d %s", st, body)
		}
		var res map[string]any
		if err := json.Unmarshal(body, &res); err != nil {
			return fmt.Errorf("invoke hello: result is not a JSON object (%v): %s", err, body)
		}
		if res["greeting"] != "Hello, compose!" {
			t.Fatalf("invoke hello: result %s, want greeting \"Hello, compose!\"", body)
		}
		return nil
	})
	// A wrong key is refused by the same stack: the guest key is not
	// simply ignored.
	st, body := c.doAuth(t, c.api[0], http.MethodGet, "/api/v1/namespaces/_/actions", nil, strings.Split(c.guest, ":")[0]+":wrong")
	if st != http.StatusUnauthorized {
		t.Fatalf("list with a wrong key: %d %s, want 401", st, body)
	}
}

// composeStack is one running deploy/compose stack.
type composeStack struct {
	project string
	dir     string   // up.sh's directory: credentials, NATS configuration, keys.env
	env     []string // what every docker-compose command of the stack needs
	api     []string // each gateway's REST base URL
	guest   string   // UUID:KEY of namespace guest
}

// startCompose builds the images, runs up.sh and registers the teardown.
func startCompose(t *testing.T) *composeStack {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	c := &composeStack{project: "flurrye2e" + hex.EncodeToString(b[:]), dir: t.TempDir()}
	tag := c.project
	ports := freeAddrs(t, 4)
	port := func(i int) string { _, p, _ := net.SplitHostPort(ports[i]); return p }
	c.env = append(os.Environ(),
		"COMPOSE_PROJECT_NAME="+c.project,
		"FLURRY_IMAGE=flurry/flurry:"+tag,
		"NATS_IMAGE=flurry/nats-server:"+tag,
		"FLURRY_DEPLOY_DIR="+c.dir,
		"FLURRY_API_PORT_1="+port(0), "FLURRY_GRPC_PORT_1="+port(1),
		"FLURRY_API_PORT_2="+port(2), "FLURRY_GRPC_PORT_2="+port(3),
	)
	if os.Geteuid() != 0 {
		// The metadata rules need root; without it the stack still runs.
		c.env = append(c.env, "FLURRY_ALLOW_METADATA=1")
	}
	c.api = []string{"http://" + ports[0], "http://" + ports[2]}

	c.run(t, 5*time.Minute, filepath.Join(repoRoot, "deploy", "compose", "images.sh"))
	t.Cleanup(func() {
		c.command(2*time.Minute, "docker", "rmi", "flurry/flurry:"+tag, "flurry/nats-server:"+tag)
	})
	// Registered before up.sh: a stack that came up half is removed too.
	t.Cleanup(func() { c.down(t) })
	c.run(t, 3*time.Minute, filepath.Join(repoRoot, "deploy", "compose", "up.sh"), c.dir)

	if err := c.loadKeys(); err != nil {
		t.Fatal(err)
	}
	return c
}

// loadKeys adds the keys up.sh made to the stack's environment.
func (c *composeStack) loadKeys() error {
	keys, err := os.ReadFile(filepath.Join(c.dir, "keys.env"))
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(keys))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			c.env = append(c.env, sc.Text())
			if k == "FLURRY_GUEST_KEY" {
				c.guest = v
			}
		}
	}
	if c.guest == "" {
		return fmt.Errorf("keys.env has no FLURRY_GUEST_KEY:\n%s", keys)
	}
	return nil
}

// down stops the stack, removes its volumes and checks that the invoker
// removed its action containers on the way out.
func (c *composeStack) down(t *testing.T) {
	if c.guest == "" && c.loadKeys() != nil {
		return // up.sh writes the keys before it starts anything
	}
	logs, _ := c.command(time.Minute, "docker-compose", "-f", c.composeFile(), "logs", "--no-color", "--tail", "60")
	if t.Failed() {
		t.Logf("docker-compose logs:\n%s", logs)
	}
	invokerID := ""
	for _, l := range strings.Split(logs, "\n") {
		if _, rest, ok := strings.Cut(l, `msg="invoker running" id=`); ok {
			invokerID, _, _ = strings.Cut(rest, " ")
		}
	}
	if out, err := c.command(2*time.Minute, "docker-compose", "-f", c.composeFile(), "down", "-v", "--timeout", "45"); err != nil {
		t.Errorf("docker-compose down: %v\n%s", err, out)
	}
	if invokerID == "" {
		return
	}
	out, err := c.command(time.Minute, "docker", "ps", "-aq", "--filter", "label=io.flurry.invoker="+invokerID)
	if err != nil {
		t.Errorf("docker ps: %v\n%s", err, out)
		return
	}
	if ids := strings.Fields(out); len(ids) > 0 {
		t.Errorf("invoker %s left %d containers after docker-compose down", invokerID, len(ids))
		c.command(time.Minute, "docker", append([]string{"rm", "-f"}, ids...)...)
	}
}

func (c *composeStack) composeFile() string {
	return filepath.Join(repoRoot, "deploy", "compose", "docker-compose.yml")
}

// command runs name with the stack's environment and returns its output.
func (c *composeStack) command(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s did not finish within %v", name, timeout)
	}
	return string(out), err
}

// run is command that fails the test.
func (c *composeStack) run(t *testing.T, timeout time.Duration, name string, args ...string) {
	t.Helper()
	if out, err := c.command(timeout, name, args...); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// retry calls fn until it succeeds or timeout passes.
func (c *composeStack) retry(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// do sends v as JSON with the guest key and returns the status and body;
// a request that gets no answer is status 0.
func (c *composeStack) do(t *testing.T, base, method, path string, v any) (int, []byte) {
	t.Helper()
	return c.doAuth(t, base, method, path, v, c.guest)
}

func (c *composeStack) doAuth(t *testing.T, base, method, path string, v any, auth string) (int, []byte) {
	t.Helper()
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	u, k, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(u, k)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	return resp.StatusCode, b
}
