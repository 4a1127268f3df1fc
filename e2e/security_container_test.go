package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
	"github.com/flurryfn/flurry/internal/testutil"
)

// An action is contained (issue 19, ADR 021): its socket directory is a
// small tmpfs, not the host's disk; it gets CPU in proportion to its
// memory, with a hard limit under --cpu-limit; what it leaves running is
// frozen once its container is idle and dies with the container; a
// namespace with network policy "none" gets no interface but loopback,
// and a warm container never serves a namespace whose policy changed;
// link-local (metadata) addresses are refused by the firewall. No packet
// is sent anywhere but loopback: the rules and attachments are inspected.
func TestContainment(t *testing.T) {
	if !dockerReachable() {
		t.Skip("containment is Docker's; no Docker engine is reachable")
	}
	s := startSystem(t, "", "--cpu-limit", "1", "--prewarm", "0")
	s.createAction(t, "hostile", "hostile", map[string]any{"memory": 256})

	// The first call: it lists its interfaces and tries to fill its
	// socket directory.
	before := diskFree(t, s.dataDir)
	res := s.invokeResult(t, guestAuth, "hostile", map[string]any{"net": true, "write_mb": 200, "path": "/run/flurry/fill"})
	id := containerID(t, res["hostname"])

	// The rules are the host's and outlive a run: what makes them this
	// container's is its attachment to the bridge they name.
	t.Run("MetadataBlocked", func(t *testing.T) {
		nw := inspect(t, id, `{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}`)
		out, err := exec.Command("docker", "network", "inspect", "--format", `{{index .Options "com.docker.network.bridge.name"}}`, nw).Output()
		if err != nil {
			t.Fatal(err)
		}
		bridge := strings.TrimSpace(string(out))
		if out, err = exec.Command("iptables", "-w", "-S").Output(); err != nil {
			t.Fatal(err)
		}
		for _, chain := range []string{"DOCKER-USER", "INPUT"} {
			if !slices.ContainsFunc(lines(string(out)), func(l string) bool {
				return strings.HasPrefix(l, "-A "+chain+" ") && strings.Contains(l, " -d 169.254.0.0/16") &&
					strings.Contains(l, " -i "+bridge+" ") && strings.Contains(l, " -j REJECT")
			}) {
				t.Errorf("the container is on network %s (bridge %q), and no rule in %s refuses 169.254.0.0/16 from it:\n%s", nw, bridge, chain, out)
			}
		}
	})

	t.Run("SocketDirQuota", func(t *testing.T) {
		if kb, _ := res["written_kb"].(float64); kb > 64 || res["write_error"] == nil {
			t.Errorf("wrote %v KiB under /run/flurry (error %v): want at most 64 KiB and an error", res["written_kb"], res["write_error"])
		}
		if lost := before - diskFree(t, s.dataDir); lost > 100<<20 {
			t.Errorf("the data dir's disk lost %d MiB while the action wrote", lost>>20)
		}
		sock := inspect(t, id, `{{index .Config.Labels "io.flurry.socket"}}`)
		var st syscall.Statfs_t
		if err := syscall.Statfs(filepath.Dir(sock), &st); err != nil {
			t.Fatal(err)
		}
		const tmpfsMagic = 0x01021994
		if st.Type != tmpfsMagic {
			t.Errorf("socket directory %s is on file system type %#x, want tmpfs", filepath.Dir(sock), st.Type)
		}
	})

	t.Run("CPUAndNetwork", func(t *testing.T) {
		got := inspect(t, id, `{{.HostConfig.CpuShares}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.NetworkMode}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}`)
		// 256 MiB: a quarter of 1024 shares, and of a core under --cpu-limit 1.
		if want := "256 250000000 256 flurry flurry"; got != want {
			t.Errorf("cpu shares, nano cpus, pids limit, network mode, networks: %q, want %q", got, want)
		}
		if ifs := interfaces(res); !slices.Contains(ifs, "eth0") {
			t.Errorf("a default namespace's container has interfaces %v, want eth0 among them", ifs)
		}
	})

	t.Run("IdleFrozen", func(t *testing.T) {
		r := s.invokeResult(t, guestAuth, "hostile", map[string]any{"spin": 3})
		if r["spun"] != float64(3) || containerID(t, r["hostname"]) != id {
			t.Fatalf("spin: %v, want 3 children in %s", r, id)
		}
		state := cgroupPath(t, id, "freezer", "freezer.state", "cgroup.freeze")
		testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			b, err := os.ReadFile(state)
			if v := strings.TrimSpace(string(b)); err != nil || (v != "FROZEN" && v != "1") {
				return fmt.Errorf("freezer state %q (%v), want frozen", v, err)
			}
			return nil
		})
		// Frozen, the children take no CPU: the usage stays put.
		usage := cgroupPath(t, id, "cpuacct", "cpuacct.usage", "cpu.stat")
		last, since := "", time.Now()
		testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			b, err := os.ReadFile(usage)
			if err != nil {
				return err
			}
			if v := string(b); v != last {
				last, since = v, time.Now()
			}
			if time.Since(since) < time.Second {
				return fmt.Errorf("cpu usage changed %v ago", time.Since(since))
			}
			return nil
		})
		// The next call thaws it; an update of the action removes the
		// old revision's idle container, children and all.
		if r := s.invokeResult(t, guestAuth, "hostile", map[string]any{}); containerID(t, r["hostname"]) != id {
			t.Errorf("warm call ran in %v, want %s", r["hostname"], id)
		}
		s.createAction(t, "hostile", "hostile", map[string]any{"memory": 256})
		s.invokeResult(t, guestAuth, "hostile", map[string]any{})
		testutil.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
			if _, err := os.Stat(filepath.Dir(state)); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("cgroup of %s still there (%v): processes left", id, err)
			}
			if exec.Command("docker", "inspect", id).Run() == nil {
				return fmt.Errorf("container %s still there", id)
			}
			return nil
		})
	})

	t.Run("NetworkNone", func(t *testing.T) {
		sealed := s.addNamespaceKey(t, "sealed")
		s.setNetworkPolicy(t, "sealed", entity.NetworkNone)
		s.createActionAs(t, sealed, "hostile", "hostile")
		r := s.invokeResult(t, sealed, "hostile", map[string]any{"net": true})
		if ifs := interfaces(r); !slices.Equal(ifs, []string{"lo"}) {
			t.Errorf("a namespace without network has interfaces %v, want only lo", ifs)
		}
		// guest's warm container has eth0; once guest's policy is none,
		// that container must not serve it.
		if ifs := interfaces(s.invokeResult(t, guestAuth, "hostile", map[string]any{"net": true})); !slices.Contains(ifs, "eth0") {
			t.Fatalf("guest before its policy changed: interfaces %v", ifs)
		}
		s.setNetworkPolicy(t, "guest", entity.NetworkNone)
		testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if ifs := interfaces(s.invokeResult(t, guestAuth, "hostile", map[string]any{"net": true})); !slices.Equal(ifs, []string{"lo"}) {
				return fmt.Errorf("guest after its policy became none: interfaces %v", ifs)
			}
			return nil
		})
	})
}

// setNetworkPolicy writes namespace ns with policy network into the
// namespaces bucket, as the admin API does.
func (s *system) setNetworkPolicy(t *testing.T, ns, network string) {
	t.Helper()
	js, err := jetstream.New(s.connectNATS(t))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), names.NamespacesBucket)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(entity.Namespace{Name: ns, Created: time.Now().UnixMilli(), Network: network})
	if _, err := kv.Put(context.Background(), names.NamespaceKey(ns), b); err != nil {
		t.Fatal(err)
	}
}

// createActionAs deploys example as action name in auth's namespace.
func (s *system) createActionAs(t *testing.T, auth, name, exampleName string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{
		"exec": map[string]any{"kind": "go", "binary": true, "code": base64.StdEncoding.EncodeToString(example(t, exampleName))},
	})
	r := s.do(t, http.MethodPut, "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", auth, strings.NewReader(string(b)))
	if r.status != http.StatusOK {
		t.Fatalf("create %s: %d %s", name, r.status, r.body)
	}
}

// invokeResult invokes action name in auth's namespace, blocking, and
// returns its result, failing unless the activation succeeded.
func (s *system) invokeResult(t *testing.T, auth, name string, params map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(params)
	r := s.do(t, http.MethodPost, "/api/v1/namespaces/_/actions/"+name+"?blocking=true&result=true", auth, strings.NewReader(string(b)))
	if r.status != http.StatusOK {
		t.Fatalf("invoke %s: %d %s", name, r.status, r.body)
	}
	return r.json(t)
}

// containerID is the full id of the container whose host name is host.
func containerID(t *testing.T, host any) string {
	t.Helper()
	h, _ := host.(string)
	if h == "" {
		t.Fatalf("no host name in the result: %v", host)
	}
	return inspect(t, h, "{{.Id}}")
}

// inspect formats container id's docker inspect with format.
func inspect(t *testing.T, id, format string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "--format", format, id).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", id, err)
	}
	return strings.TrimSpace(string(out))
}

// cgroupPath is container id's cgroup file: controller/docker/id/v1 under
// cgroup v1 (the cgroupfs driver), docker/id/v2 under v2.
func cgroupPath(t *testing.T, id, controller, v1, v2 string) string {
	t.Helper()
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup", controller, "docker", id, v1),
		filepath.Join("/sys/fs/cgroup/docker", id, v2),
		filepath.Join("/sys/fs/cgroup/system.slice", "docker-"+id+".scope", v2),
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("no cgroup %s of container %s", controller, id)
	return ""
}

// interfaces is the "interfaces" list of a hostile result.
func interfaces(res map[string]any) []string {
	raw, _ := res["interfaces"].([]any)
	var out []string
	for _, v := range raw {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// diskFree is the free bytes of dir's file system.
func diskFree(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}
