// Command kindbench measures each runtime kind (go, python:3, nodejs,
// blackbox) on the local Docker engine and prints the markdown of the
// "Runtime kinds" section of docs/benchmarks.md:
//
//   - image build: the runtime layer on a present base (what a new flurry
//     binary costs), and with -scratch the whole chain from an empty cache
//     (mmdebstrap, base image, runtime image);
//
//   - cold start through a standalone without stem cells (client latency
//     of the first invoke of a new action, and the record's initTime);
//
//   - prewarm start: /init plus the first /run on a container that is
//     already running, measured directly (standalone keeps stem cells of
//     the go kind only);
//
//   - warm p50/p99 through REST, sequential;
//
//   - memory of a warm container (docker stats, median over the kind's).
//
// It then measures apps (ADR 010) on the same standalone and prints the
// "Apps" section (see app.go); -apps measures only those:
//
//	go run ./e2e/cmd/kindbench -flurry bin/flurry
//	go run ./e2e/cmd/kindbench -flurry bin/flurry -apps
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flurryfn/flurry/actions/gowrap"
)

const auth = "0c0ffee0-1b2c-4d5e-8f90-a1b2c3d4e5f6:kindbenchkindbenchkindbenchkindbenchkindbenchkindbenchkindbench0"

// kinds are measured with the smallest action that echoes its input.
var kinds = []struct {
	kind, code string
	binary     bool
}{
	{kind: "go"},
	{kind: "python:3", code: "def main(args):\n    return args\n"},
	{kind: "nodejs", code: "function main(params) { return params; }\n"},
	{kind: "blackbox"},
}

func main() {
	flurry := flag.String("flurry", "bin/flurry", "the static flurry binary")
	starts := flag.Int("starts", 8, "cold and prewarm starts per kind")
	n := flag.Int("n", 400, "sequential warm invocations per kind")
	scratch := flag.Bool("scratch", false, "also time building the language kinds' images from nothing (empty rootfs cache; needs mmdebstrap and network, minutes)")
	apps := flag.Bool("apps", false, "measure only apps: deploys, cold and warm requests of the example shop against a plain python:3 action")
	flag.Parse()
	if err := run(*flurry, *starts, *n, *scratch, *apps); err != nil {
		fmt.Fprintln(os.Stderr, "kindbench:", err)
		os.Exit(1)
	}
}

// run measures the kinds (unless appsOnly) and then apps, all on one
// standalone without stem cells, and prints the markdown tables.
func run(bin string, starts, n int, scratch, appsOnly bool) error {
	ctx := context.Background()
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "flurry-kindbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// Images: everything present first, then rebuild timings.
	if out, err := exec.Command(bin, "images").CombinedOutput(); err != nil {
		return fmt.Errorf("flurry images: %v\n%s", err, out)
	}
	var prep *kindsPrep
	if !appsOnly {
		if prep, err = prepareKinds(ctx, bin, tmp, scratch); err != nil {
			return err
		}
	}

	sys, err := start(bin, filepath.Join(tmp, "data"), "--prewarm", "0", "--memory", "8192", "--limit-per-minute", "0")
	if err != nil {
		return err
	}
	if err := sys.launch(); err != nil {
		return err
	}
	defer sys.stop()

	if !appsOnly {
		if err := benchKinds(sys, bin, prep, starts, n); err != nil {
			return err
		}
		fmt.Println()
	}
	return benchApps(ctx, sys, bin, starts, n)
}

// kindsPrep is what the kinds' table needs from before the standalone
// starts: the image build timings and the blackbox image.
type kindsPrep struct {
	build   map[string]string // kind → the table's "image build" cell
	bbImage string
}

// prepareKinds times the image builds, builds the blackbox image and the
// go kind's echo executable (into kinds[0]).
func prepareKinds(ctx context.Context, bin, tmp string, scratch bool) (*kindsPrep, error) {
	// A new binary's cost: a copy of bin with one byte appended (still the
	// same program, a different content hash) gets its own images, built
	// on the present base images.
	other := filepath.Join(tmp, "flurry-other")
	exeBytes, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(other, append(exeBytes, 0), 0o755); err != nil {
		return nil, err
	}
	build := map[string]string{}
	for _, k := range []string{"go", "python:3", "nodejs"} {
		t0 := time.Now()
		if out, err := exec.Command(other, "images", "--kinds", k).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("flurry images --kinds %s: %v\n%s", k, err, out)
		}
		build[k] = fmt.Sprintf("%.1f s", time.Since(t0).Seconds())
		if tag, err := imageTag(other, k); err == nil {
			_ = exec.Command("docker", "rmi", tag).Run()
		}
		if scratch && k != "go" {
			cmd := exec.Command(bin, "images", "--kinds", k, "--rebuild")
			cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(tmp, "cache"))
			t0 := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("flurry images --rebuild --kinds %s: %v\n%s", k, err, out)
			}
			build[k] += fmt.Sprintf(" (from nothing: %.0f s)", time.Since(t0).Seconds())
		}
	}
	build["blackbox"] = "user's image"
	bbImage, err := blackboxImage(tmp)
	if err != nil {
		return nil, err
	}

	src := filepath.Join(tmp, "echo.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc Main(args map[string]interface{}) map[string]interface{} { return args }\n"), 0o644); err != nil {
		return nil, err
	}
	exe, err := gowrap.Build(ctx, src, "Main")
	if err != nil {
		return nil, err
	}
	kinds[0].code, kinds[0].binary = base64.StdEncoding.EncodeToString(exe), true
	return &kindsPrep{build: build, bbImage: bbImage}, nil
}

// benchKinds prints the "Runtime kinds" table: one row per kind.
func benchKinds(sys *system, bin string, prep *kindsPrep, starts, n int) error {
	build, bbImage := prep.build, prep.bbImage
	fmt.Println("| kind | image build (new binary) | cold start p50 (initTime) | prewarm start p50 | warm p50 | warm p99 | memory per warm container |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, k := range kinds {
		x := map[string]any{"kind": k.kind, "code": k.code, "binary": k.binary}
		image := ""
		var err error
		if k.kind == "blackbox" {
			x = map[string]any{"kind": "blackbox", "image": bbImage}
			image = bbImage
		} else if image, err = imageTag(bin, k.kind); err != nil {
			return err
		}
		name := strings.NewReplacer(":", "").Replace(k.kind)
		var cold, initT []time.Duration
		for i := range starts {
			an := fmt.Sprintf("%s-cold-%d", name, i)
			if err := sys.put(an, x); err != nil {
				return err
			}
			t0 := time.Now()
			rec, err := sys.invoke(an, false)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s cold: %v\n", k.kind, err)
				continue
			}
			cold = append(cold, time.Since(t0))
			initT = append(initT, time.Duration(initTime(rec))*time.Millisecond)
		}
		pre, err := prewarm(image, x, starts)
		if err != nil {
			return fmt.Errorf("%s prewarm: %w", k.kind, err)
		}
		warmName := name + "-warm"
		if err := sys.put(warmName, x); err != nil {
			return err
		}
		// A shared engine sees other systems remove Flurry's containers;
		// failed samples are counted and left out.
		var warm []time.Duration
		failed := 0
		for i := range n + 50 {
			t0 := time.Now()
			if _, err := sys.invoke(warmName, true); err != nil {
				fmt.Fprintf(os.Stderr, "%s warm: %v\n", k.kind, err)
				failed++
				continue
			}
			if i >= 50 {
				warm = append(warm, time.Since(t0))
			}
		}
		if failed > n/10 {
			return fmt.Errorf("%s: %d warm invocations failed", k.kind, failed)
		}
		mem, err := warmMemory(k.kind)
		if err != nil {
			return err
		}
		fmt.Printf("| %s | %s | %s (%s) | %s | %s | %s | %s |\n", k.kind, build[k.kind], ms(pct(cold, 50)), ms(pct(initT, 50)),
			ms(pct(pre, 50)), ms(pct(warm, 50)), ms(pct(warm, 99)), mem)
	}
	return nil
}

// imageTag asks `flurry images` (the images are present, so nothing is
// built) for kind's tag.
func imageTag(bin, kind string) (string, error) {
	out, err := exec.Command(bin, "images", "--kinds", kind).Output()
	if err != nil {
		return "", fmt.Errorf("flurry images --kinds %s: %w", kind, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return "", fmt.Errorf("flurry images printed %q", out)
	}
	return f[1], nil
}

// blackboxImage builds actions/testdata/blackbox as the e2e tests do.
func blackboxImage(tmp string) (string, error) {
	dir := filepath.Join(tmp, "blackbox")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "blackbox"), "./actions/testdata/blackbox")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build blackbox: %v\n%s", err, out)
	}
	df, err := os.ReadFile("actions/testdata/blackbox/Dockerfile")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		return "", err
	}
	const tag = "flurry-bench/blackbox:latest"
	if out, err := exec.Command("docker", "build", "-q", "-t", tag, dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker build: %v\n%s", err, out)
	}
	return tag, nil
}

// prewarm times /init plus the first /run of the action execBody on n
// containers of image that are already running: the work left for an
// activation that finds a stem cell.
func prewarm(image string, execBody map[string]any, n int) ([]time.Duration, error) {
	init := map[string]any{"value": map[string]any{"name": "bench", "main": "main", "code": execBody["code"], "binary": execBody["binary"]}}
	return directStarts(image, directSetup{init: init, run: map[string]any{"x": 1}}, n)
}

// directSetup is what a container of a runtime image is sent, straight
// to its proxy and without the platform: the /init body, the endpoint to
// /specialize for (apps only) and the value of each /run. check, when
// set, judges each /run's answer.
type directSetup struct {
	init     map[string]any
	endpoint string
	run      any
	check    func(res []byte) error
}

// directStarts starts n containers of image, one at a time, and times, on
// each once it answers, the setup (/init, and /specialize for an app)
// plus the first /run.
func directStarts(image string, s directSetup, n int) ([]time.Duration, error) {
	var out []time.Duration
	for range n {
		addr, remove, err := runContainer(image)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		err = s.prepare(addr)
		if err == nil {
			_, err = s.runOnce(addr)
		}
		d := time.Since(t0)
		remove()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// directWarm starts one container of image, sets it up and runs it once;
// run times one more /run, remove removes the container.
func directWarm(image string, s directSetup) (run func() (time.Duration, error), remove func(), err error) {
	addr, remove, err := runContainer(image)
	if err != nil {
		return nil, nil, err
	}
	if err := s.prepare(addr); err != nil {
		remove()
		return nil, nil, err
	}
	if _, err := s.runOnce(addr); err != nil {
		remove()
		return nil, nil, err
	}
	return func() (time.Duration, error) { return s.runOnce(addr) }, remove, nil
}

// prepare sends /init and, for an app, /specialize.
func (s directSetup) prepare(addr string) error {
	if _, err := post("http://"+addr+"/init", s.init); err != nil {
		return err
	}
	if s.endpoint == "" {
		return nil
	}
	_, err := post("http://"+addr+"/specialize?endpoint="+url.QueryEscape(s.endpoint), nil)
	return err
}

// runOnce times one /run and then checks its answer.
func (s directSetup) runOnce(addr string) (time.Duration, error) {
	t0 := time.Now()
	res, err := post("http://"+addr+"/run", map[string]any{"value": s.run, "activation_id": "bench"})
	d := time.Since(t0)
	if err == nil && s.check != nil {
		err = s.check(res)
	}
	return d, err
}

// runContainer starts a container of image as the Docker runtime does and
// returns its proxy's address once the proxy answers; remove removes it.
func runContainer(image string) (addr string, remove func(), err error) {
	id, err := exec.Command("docker", "run", "-d", "--rm", "--read-only", "--tmpfs", "/tmp:rw,exec,uid=65534,gid=65534,size=64m",
		"--cap-drop", "ALL", "--security-opt", "no-new-privileges", "-m", "256m", "-p", "127.0.0.1::8080", image).Output()
	if err != nil {
		return "", nil, fmt.Errorf("docker run %s: %w", image, err)
	}
	cid := strings.TrimSpace(string(id))
	remove = func() { _ = exec.Command("docker", "rm", "-f", cid).Run() }
	port, err := exec.Command("docker", "port", cid, "8080/tcp").Output()
	if err != nil {
		remove()
		return "", nil, fmt.Errorf("docker port %s: %w", cid, err)
	}
	addr = strings.TrimSpace(strings.Split(string(port), "\n")[0])
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			// docker-proxy accepts before the container listens; a
			// 403 /run (not initialized) proves the proxy answers.
			if r, err := http.Post("http://"+addr+"/run", "application/json", strings.NewReader(`{}`)); err == nil {
				r.Body.Close()
				return addr, remove, nil
			}
		}
		if time.Now().After(deadline) {
			remove()
			return "", nil, fmt.Errorf("container %s of %s never answered", cid, image)
		}
	}
}

// post sends body as JSON (none when nil) and returns the answer, which
// must be a 200.
func post(url string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	r, err := http.Post(url, "application/json", rd)
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	rb, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if r.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %d %s", url, r.StatusCode, rb)
	}
	return rb, nil
}

// warmMemory is the median memory use of the kind's containers, all warm
// after their activations.
func warmMemory(kind string) (string, error) {
	ids, err := flurryContainers(kind)
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("no %s containers", kind)
	}
	return medianMemory(ids)
}

// flurryContainers lists the running containers Flurry started for kind.
func flurryContainers(kind string) ([]string, error) {
	out, err := exec.Command("docker", "ps", "-q", "--no-trunc", "--filter", "label=io.flurry.managed=true", "--filter", "label=io.flurry.kind="+kind).Output()
	if err != nil {
		return nil, fmt.Errorf("docker ps: %w", err)
	}
	return strings.Fields(string(out)), nil
}

// medianMemory is the median docker stats MemUsage (page cache excluded)
// of the containers ids, as "9.7 MiB (n=7)".
func medianMemory(ids []string) (string, error) {
	out, err := exec.Command("docker", append([]string{"stats", "--no-stream", "--format", "{{.MemUsage}}"}, ids...)...).Output()
	if err != nil {
		return "", fmt.Errorf("docker stats: %w", err)
	}
	var mib []float64
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		used := strings.TrimSpace(strings.Split(l, "/")[0])
		v, unit := used, 1.0
		switch {
		case strings.HasSuffix(used, "GiB"):
			v, unit = strings.TrimSuffix(used, "GiB"), 1024
		case strings.HasSuffix(used, "MiB"):
			v = strings.TrimSuffix(used, "MiB")
		case strings.HasSuffix(used, "KiB"):
			v, unit = strings.TrimSuffix(used, "KiB"), 1.0/1024
		}
		f, err := strconv.ParseFloat(v, 64)
		if err == nil {
			mib = append(mib, f*unit)
		}
	}
	if len(mib) == 0 {
		return "", fmt.Errorf("docker stats printed %q", out)
	}
	slices.Sort(mib)
	return fmt.Sprintf("%.1f MiB (n=%d)", mib[len(mib)/2], len(mib)), nil
}

type system struct {
	cmd *exec.Cmd
	api string
	out bytes.Buffer
}

func start(bin, dataDir string, extra ...string) (*system, error) {
	// Distinct free ports: all are held until all are chosen.
	var addrs []string
	var lns []net.Listener
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	args := append([]string{"standalone", "--data-dir", dataDir, "--api-listen", addrs[0], "--grpc-listen", addrs[1],
		"--nats-listen", addrs[2], "--guest-key", auth, "--runtime", "docker", "--log-level", "warn"}, extra...)
	s := &system{cmd: exec.Command(bin, args...), api: "http://" + addrs[0]}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	return s, nil
}

func (s *system) launch() error {
	if err := s.cmd.Start(); err != nil {
		return err
	}
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r, err := http.Get(s.api + "/api/v1"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
		}
	}
	return fmt.Errorf("standalone not up:\n%s", s.out.String())
}

func (s *system) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		_ = s.cmd.Wait()
	}
}

// request calls the API with the key; body is sent as JSON unless nil.
func (s *system) request(method, path string, body any) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.api+path, rd)
	if err != nil {
		return nil, 0, err
	}
	u, k, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(u, k)
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer r.Body.Close()
	rb, err := io.ReadAll(r.Body)
	return rb, r.StatusCode, err
}

func (s *system) put(name string, execBody map[string]any) error {
	b, st, err := s.request(http.MethodPut, "/api/v1/namespaces/_/actions/"+name+"?overwrite=true", map[string]any{"exec": execBody})
	if err == nil && st != 200 {
		err = fmt.Errorf("put %s: %d %s", name, st, b)
	}
	return err
}

// invoke runs name blocking and returns the record (or the result).
func (s *system) invoke(name string, result bool) (map[string]any, error) {
	q := "blocking=true"
	if result {
		q += "&result=true"
	}
	b, st, err := s.request(http.MethodPost, "/api/v1/namespaces/_/actions/"+name+"?"+q, map[string]any{"x": 1})
	if err != nil {
		return nil, err
	}
	if st != 200 {
		return nil, fmt.Errorf("invoke %s: %d %s", name, st, b)
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// initTime is the record's initTime annotation in milliseconds (0 when
// the activation found a warm container).
func initTime(rec map[string]any) float64 { return annotationNumber(rec, "initTime") }

// annotationNumber is the record's numeric annotation key, or 0.
func annotationNumber(rec map[string]any, key string) float64 {
	anns, _ := rec["annotations"].([]any)
	for _, a := range anns {
		m, _ := a.(map[string]any)
		if m["key"] == key {
			f, _ := m["value"].(float64)
			return f
		}
	}
	return 0
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
