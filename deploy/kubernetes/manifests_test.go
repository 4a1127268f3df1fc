package kubernetes

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"
)

// object is one parsed manifest; the accessors below fail the test on a
// missing or mistyped field, so that a manifest cannot pass by omission.
type object struct {
	file string
	m    map[string]any
}

func (o object) kind() string { return str(o.m["kind"]) }
func (o object) name() string { return str(mapOf(o.m["metadata"])["name"]) }
func (o object) String() string {
	return fmt.Sprintf("%s %s/%s", o.file, o.kind(), o.name())
}

func str(v any) string { s, _ := v.(string); return s }
func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
func list(v any) []any { l, _ := v.([]any); return l }

// path walks nested maps: path(m, "spec", "template", "spec").
func path(v any, keys ...string) any {
	for _, k := range keys {
		v = mapOf(v)[k]
	}
	return v
}

// manifests parses every *.yaml here and the Secrets secrets.sh prints.
func manifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var objs []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, parse(t, f, b)...)
	}
	secretsOnce.Do(func() { secretsOut, secretsErr = secrets() })
	if secretsErr != nil {
		t.Fatal(secretsErr)
	}
	return append(objs, parse(t, "secrets.sh", secretsOut)...)
}

// The Secrets are made once per run: making them builds flurry.
var (
	secretsOnce sync.Once
	secretsOut  []byte
	secretsErr  error
)

func parse(t *testing.T, file string, b []byte) []object {
	t.Helper()
	var objs []object
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if m == nil {
			continue
		}
		objs = append(objs, object{file: file, m: m})
	}
}

// secrets runs secrets.sh with a freshly built flurry.
func secrets() ([]byte, error) {
	dir, err := os.MkdirTemp("", "flurry-k8s-secrets")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "flurry")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/flurry")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build flurry: %w\n%s", err, out)
	}
	cmd := exec.Command("bash", "secrets.sh", filepath.Join(dir, "creds"))
	cmd.Env = append(os.Environ(), "FLURRY="+bin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("secrets.sh: %w\n%s", err, stderr.String())
	}
	return out, nil
}

func TestManifestsHaveTheRequiredFields(t *testing.T) {
	for _, o := range manifests(t) {
		if str(o.m["apiVersion"]) == "" || o.kind() == "" || o.name() == "" {
			t.Errorf("%s: apiVersion, kind and metadata.name are required", o)
		}
		if o.kind() != "Namespace" && str(path(o.m, "metadata", "namespace")) != "flurry" {
			t.Errorf("%s: namespace %q, want flurry", o, path(o.m, "metadata", "namespace"))
		}
	}
}

// TestReferencesResolve checks what kubectl apply would not: that the
// workloads' selectors, volumes, Secrets, ConfigMaps and Services name
// things that exist.
func TestReferencesResolve(t *testing.T) {
	objs := manifests(t)
	byKind := map[string]map[string]object{}
	for _, o := range objs {
		if byKind[o.kind()] == nil {
			byKind[o.kind()] = map[string]object{}
		}
		if _, dup := byKind[o.kind()][o.name()]; dup {
			t.Errorf("%s: defined twice", o)
		}
		byKind[o.kind()][o.name()] = o
	}
	workloads := 0
	for _, o := range objs {
		switch o.kind() {
		case "Deployment", "StatefulSet", "DaemonSet":
			workloads++
			checkWorkload(t, o, byKind)
		case "Service":
			checkService(t, o, objs)
		}
	}
	if workloads != 4 {
		t.Errorf("%d workloads, want 4 (nats, controller, gateway, invoker)", workloads)
	}
}

func checkWorkload(t *testing.T, o object, byKind map[string]map[string]object) {
	t.Helper()
	labels := mapOf(path(o.m, "spec", "template", "metadata", "labels"))
	sel := mapOf(path(o.m, "spec", "selector", "matchLabels"))
	if len(sel) == 0 {
		t.Errorf("%s: no spec.selector.matchLabels", o)
	}
	for k, v := range sel {
		if labels[k] != v {
			t.Errorf("%s: selector %s=%v does not match the template's labels %v", o, k, v, labels)
		}
	}
	pod := path(o.m, "spec", "template", "spec")
	volumes := map[string]map[string]any{}
	for _, v := range list(path(pod, "volumes")) {
		volumes[str(mapOf(v)["name"])] = mapOf(v)
	}
	for _, c := range list(path(o.m, "spec", "volumeClaimTemplates")) {
		volumes[str(path(c, "metadata", "name"))] = map[string]any{"persistentVolumeClaim": true}
	}
	if o.kind() == "StatefulSet" {
		svc, ok := byKind["Service"][str(path(o.m, "spec", "serviceName"))]
		if !ok || str(path(svc.m, "spec", "clusterIP")) != "None" {
			t.Errorf("%s: serviceName %q is not a headless Service", o, path(o.m, "spec", "serviceName"))
		}
	}
	for name, v := range volumes {
		for _, src := range list(path(v, "projected", "sources")) {
			if s := mapOf(mapOf(src)["secret"]); s != nil {
				if _, ok := byKind["Secret"][str(s["name"])]; !ok {
					t.Errorf("%s: volume %s: no Secret %q", o, name, s["name"])
				}
			}
			if c := mapOf(mapOf(src)["configMap"]); c != nil {
				if _, ok := byKind["ConfigMap"][str(c["name"])]; !ok {
					t.Errorf("%s: volume %s: no ConfigMap %q", o, name, c["name"])
				}
			}
		}
		if s := mapOf(v["secret"]); s != nil {
			sec, ok := byKind["Secret"][str(s["secretName"])]
			if !ok {
				t.Errorf("%s: volume %s: no Secret %q", o, name, s["secretName"])
				continue
			}
			for _, it := range list(s["items"]) {
				if _, ok := mapOf(sec.m["data"])[str(mapOf(it)["key"])]; !ok {
					t.Errorf("%s: volume %s: Secret %s has no key %v", o, name, sec.name(), mapOf(it)["key"])
				}
			}
		}
		if c := mapOf(v["configMap"]); c != nil {
			if _, ok := byKind["ConfigMap"][str(c["name"])]; !ok {
				t.Errorf("%s: volume %s: no ConfigMap %q", o, name, c["name"])
			}
		}
	}
	containers := list(path(pod, "containers"))
	if len(containers) == 0 {
		t.Errorf("%s: no containers", o)
	}
	for _, c := range containers {
		checkContainer(t, o, mapOf(c), volumes, byKind)
	}
}

func checkContainer(t *testing.T, o object, c map[string]any, volumes map[string]map[string]any, byKind map[string]map[string]object) {
	t.Helper()
	if str(c["image"]) == "" {
		t.Errorf("%s: container %s has no image", o, c["name"])
	}
	ports := map[string]int{}
	for _, p := range list(c["ports"]) {
		n, _ := mapOf(p)["containerPort"].(int)
		ports[str(mapOf(p)["name"])] = n
	}
	mounts := map[string]string{} // mountPath -> volume
	for _, m := range list(c["volumeMounts"]) {
		name := str(mapOf(m)["name"])
		if _, ok := volumes[name]; !ok {
			t.Errorf("%s: mount of an undeclared volume %q", o, name)
		}
		mounts[str(mapOf(m)["mountPath"])] = name
	}
	env := map[string]bool{}
	for _, e := range list(c["env"]) {
		env[str(mapOf(e)["name"])] = true
		if ref := mapOf(path(e, "valueFrom", "secretKeyRef")); ref != nil {
			sec, ok := byKind["Secret"][str(ref["name"])]
			if !ok {
				t.Errorf("%s: env %v: no Secret %q", o, mapOf(e)["name"], ref["name"])
			} else if _, ok := mapOf(sec.m["data"])[str(ref["key"])]; !ok {
				t.Errorf("%s: env %v: Secret %s has no key %q", o, mapOf(e)["name"], sec.name(), ref["key"])
			}
		}
	}
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		if p := path(c, probe, "httpGet", "port"); p != nil {
			if _, ok := ports[str(p)]; !ok {
				t.Errorf("%s: %s port %v is not a declared container port", o, probe, p)
			}
		}
	}
	args := list(c["args"])
	flags := map[string]string{}
	for _, a := range args {
		if k, v, ok := strings.Cut(str(a), "="); ok && strings.HasPrefix(k, "--") {
			flags[k] = v
		}
		for _, ref := range regexp.MustCompile(`\$\(([A-Z_]+)\)`).FindAllStringSubmatch(str(a), -1) {
			if !env[ref[1]] {
				t.Errorf("%s: argument %q refers to $(%s), which is not in env", o, a, ref[1])
			}
		}
	}
	if len(args) > 0 && slices.Contains([]string{"controller", "gateway", "invoker"}, str(args[0])) {
		checkFlurry(t, o, str(args[0]), flags, ports, mounts, volumes, byKind)
	}
}

// checkFlurry checks a Flurry component's flags against the manifests:
// its NATS servers exist, its credentials are mounted, its listen ports
// are declared.
func checkFlurry(t *testing.T, o object, role string, flags map[string]string, ports map[string]int, mounts map[string]string, volumes map[string]map[string]any, byKind map[string]map[string]object) {
	t.Helper()
	nats := byKind["StatefulSet"]["nats"]
	replicas, _ := path(nats.m, "spec", "replicas").(int)
	servers := strings.Split(flags["--nats"], ",")
	if len(servers) != replicas {
		t.Errorf("%s: --nats names %d servers, the nats StatefulSet has %d", o, len(servers), replicas)
	}
	for _, s := range servers {
		u, err := url.Parse(s)
		if err != nil {
			t.Errorf("%s: --nats %q: %v", o, s, err)
			continue
		}
		// nats-N.nats.flurry.svc: pod N of the StatefulSet under its
		// headless Service, on the Service's client port.
		parts := strings.Split(u.Hostname(), ".")
		if len(parts) < 3 || parts[1] != "nats" || parts[2] != "flurry" {
			t.Errorf("%s: --nats server %q is not a pod of the nats StatefulSet", o, s)
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(parts[0], "nats-"))
		if err != nil || n < 0 || n >= replicas {
			t.Errorf("%s: --nats server %q: no such pod of the %d", o, s, replicas)
		}
		if !servicePort(byKind["Service"]["nats"], u.Port()) {
			t.Errorf("%s: --nats server %q: port %s is not a port of Service nats", o, s, u.Port())
		}
	}
	creds := flags["--nats-creds"]
	vol, ok := mounts[filepath.Dir(creds)]
	if !ok {
		t.Errorf("%s: --nats-creds %q is not in a mounted directory", o, creds)
	} else if items := list(mapOf(volumes[vol]["secret"])["items"]); len(items) != 1 ||
		str(mapOf(items[0])["path"]) != filepath.Base(creds) || str(mapOf(items[0])["key"]) != role+".nk" {
		t.Errorf("%s: --nats-creds %q: volume %s must hold exactly the seed %s.nk", o, creds, vol, role)
	}
	if role == "controller" && flags["--replicas"] != strconv.Itoa(replicas) {
		t.Errorf("%s: --replicas %q, want one copy per NATS server (%d)", o, flags["--replicas"], replicas)
	}
	for _, f := range []string{"--api-listen", "--grpc-listen"} {
		if v, ok := flags[f]; ok {
			_, p, err := net.SplitHostPort(v)
			n, _ := strconv.Atoi(p)
			if err != nil || !slices.Contains(mapsValues(ports), n) {
				t.Errorf("%s: %s %q is not on a declared container port %v", o, f, v, ports)
			}
		}
	}
	if role == "invoker" {
		work := flags["--work-dir"]
		v, ok := volumes[mounts[work]]
		if !ok || str(path(v, "hostPath", "path")) != work {
			t.Errorf("%s: --work-dir %q must be a hostPath at the same path: the engine mounts its socket directories", o, work)
		}
	}
}

func mapsValues(m map[string]int) []int {
	var vs []int
	for _, v := range m {
		vs = append(vs, v)
	}
	return vs
}

func servicePort(svc object, port string) bool {
	for _, p := range list(path(svc.m, "spec", "ports")) {
		if n, _ := mapOf(p)["port"].(int); strconv.Itoa(n) == port {
			return true
		}
	}
	return false
}

// checkService checks that a Service selects some workload's pods and
// that each target port is one those pods declare.
func checkService(t *testing.T, svc object, objs []object) {
	t.Helper()
	sel := mapOf(path(svc.m, "spec", "selector"))
	for _, o := range objs {
		labels := mapOf(path(o.m, "spec", "template", "metadata", "labels"))
		if labels == nil {
			continue
		}
		match := len(sel) > 0
		for k, v := range sel {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		declared := map[string]bool{}
		for _, c := range list(path(o.m, "spec", "template", "spec", "containers")) {
			for _, p := range list(mapOf(c)["ports"]) {
				declared[str(mapOf(p)["name"])] = true
				n, _ := mapOf(p)["containerPort"].(int)
				declared[strconv.Itoa(n)] = true
			}
		}
		for _, p := range list(path(svc.m, "spec", "ports")) {
			tp := fmt.Sprint(mapOf(p)["targetPort"])
			if !declared[tp] {
				t.Errorf("%s: targetPort %s is not a port of %s", svc, tp, o)
			}
		}
		return
	}
	t.Errorf("%s: selector %v selects no workload", svc, sel)
}

// TestNATSRoutes checks that the NATS configuration routes to every pod
// of the StatefulSet and to nothing else.
func TestNATSRoutes(t *testing.T) {
	var conf string
	var replicas int
	for _, o := range manifests(t) {
		switch {
		case o.kind() == "ConfigMap" && o.name() == "nats-config":
			conf = str(path(o.m, "data", "nats.conf"))
		case o.kind() == "StatefulSet" && o.name() == "nats":
			replicas, _ = path(o.m, "spec", "replicas").(int)
		}
	}
	got := regexp.MustCompile(`nats-route://([a-z0-9.-]+):6222`).FindAllStringSubmatch(conf, -1)
	var want []string
	for i := range replicas {
		want = append(want, fmt.Sprintf("nats-%d.nats.flurry.svc", i))
	}
	var hosts []string
	for _, m := range got {
		hosts = append(hosts, m[1])
	}
	if !slices.Equal(hosts, want) || replicas < 3 {
		t.Errorf("routes %v, want %v (and at least 3 servers for --replicas 3)", hosts, want)
	}
	if !strings.Contains(conf, "include ./flurry-auth.conf") || !strings.Contains(conf, "max_payload: 8MB") {
		t.Errorf("nats.conf must include the roles' authorization and allow 8 MB payloads:\n%s", conf)
	}
}

// TestNATSConfigLoads has nats-server read the configuration as the pods
// see it: nats.conf beside the roles' block from the Secret.
func TestNATSConfigLoads(t *testing.T) {
	dir := t.TempDir()
	for _, o := range manifests(t) {
		switch {
		case o.kind() == "ConfigMap" && o.name() == "nats-config":
			for k, v := range mapOf(o.m["data"]) {
				if err := os.WriteFile(filepath.Join(dir, k), []byte(str(v)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		case o.kind() == "Secret" && o.name() == "flurry-nats-auth":
			for k, v := range mapOf(o.m["data"]) {
				b, err := base64.StdEncoding.DecodeString(str(v))
				if err != nil {
					t.Fatalf("%s: key %s: %v", o, k, err)
				}
				if err := os.WriteFile(filepath.Join(dir, k), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Setenv("POD_NAME", "nats-1")
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats.conf"))
	if err != nil {
		t.Fatalf("nats-server rejects nats.conf: %v", err)
	}
	if opts.ServerName != "nats-1" || !opts.JetStream || opts.StoreDir != "/data" ||
		opts.MaxPayload < 8<<20 || opts.Cluster.Port != 6222 || opts.Port != 4222 || len(opts.Nkeys) != 4 {
		t.Errorf("nats.conf: name %q, jetstream %v in %q, max_payload %d, cluster port %d, client port %d, %d nkey users; "+
			"want nats-1, JetStream in /data, 8 MB, 6222, 4222 and the 4 roles",
			opts.ServerName, opts.JetStream, opts.StoreDir, opts.MaxPayload, opts.Cluster.Port, opts.Port, len(opts.Nkeys))
	}
}
