package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/flurryfn/flurry/e2e/internal/benchsys"
	"github.com/flurryfn/flurry/internal/activation"
)

// sample is one successful call: its latency at the client and, for
// -breakdown, its record's parts.
type sample struct {
	at  time.Time // when the call arrived (open loop) or was made
	lat time.Duration
	span
}

// span is where a call's time went by its record: wait is admission to
// start (waiting to be pulled and for a container), dur start to end (the
// container's part). Both are zero when only the result was asked for.
type span struct {
	wait, dur time.Duration
}

type invokeFunc func(name string) (span, error)

// invokeCallers asks for the result only (the measured path).
func invokeCallers(cs *benchsys.Callers) invokeFunc {
	params := []byte(`{"x":1}`)
	return func(name string) (span, error) {
		_, err := cs.Invoke(name, params)
		return span{}, err
	}
}

// invokeNetHTTP asks for the result only through net/http's client.
func invokeNetHTTP(sys *benchsys.System) invokeFunc {
	return func(name string) (span, error) {
		_, err := sys.Invoke(name, map[string]any{"x": 1})
		return span{}, err
	}
}

// invokeRecord asks for the whole record and reads its parts.
func invokeRecord(sys *benchsys.System) invokeFunc {
	return func(name string) (span, error) {
		st, b, err := sys.Request(http.MethodPost, "/api/v1/namespaces/_/actions/"+name+"?blocking=true", map[string]any{"x": 1})
		if err == nil && st != http.StatusOK {
			err = fmt.Errorf("invoke %s: %d %s", name, st, b)
		}
		if err != nil {
			return span{}, err
		}
		var rec activation.Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return span{}, fmt.Errorf("invoke %s: record: %w", name, err)
		}
		sp := span{dur: time.Duration(rec.End-rec.Start) * time.Millisecond}
		var waitMs int64
		if err := json.Unmarshal(rec.Annotation(activation.AnnotationWaitTime), &waitMs); err == nil {
			sp.wait = time.Duration(waitMs) * time.Millisecond
		}
		return sp, nil
	}
}

// breakdown summarizes samples: p50 and p99 of the latency and of its
// parts (the rest is the gateway, the controller, NATS both ways and the
// record), and the mean parts of the slowest 1 % of calls.
func breakdown(samples []sample) string {
	if len(samples) == 0 {
		return "no samples"
	}
	parts := map[string][]time.Duration{}
	for _, s := range samples {
		parts["latency"] = append(parts["latency"], s.lat)
		parts["wait"] = append(parts["wait"], s.wait)
		parts["container"] = append(parts["container"], s.dur)
		parts["rest"] = append(parts["rest"], max(s.lat-s.wait-s.dur, 0))
	}
	var b strings.Builder
	b.WriteString("latency breakdown (records have millisecond times)\n\n| part | p50 | p99 | mean of the slowest 1 % |\n|---|---|---|---|\n")
	slow := slices.Clone(samples)
	slices.SortFunc(slow, func(x, y sample) int { return int(y.lat - x.lat) })
	slow = slow[:max(len(slow)/100, 1)]
	var sw, sd, sl time.Duration
	for _, s := range slow {
		sl += s.lat
		sw += s.wait
		sd += s.dur
	}
	n := time.Duration(len(slow))
	means := map[string]time.Duration{"latency": sl / n, "wait": sw / n, "container": sd / n, "rest": max(sl-sw-sd, 0) / n}
	for _, k := range []string{"latency", "wait", "container", "rest"} {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", k, ms(benchsys.Percentile(parts[k], 50)), ms(benchsys.Percentile(parts[k], 99)), ms(means[k]))
	}
	return b.String()
}

// stalls groups samples into windows of width by arrival and reports the
// n windows whose slowest call was slowest, in time order: a tail that
// comes from a few stalls shows as a few bad windows, one that comes from
// steady queueing as many.
func stalls(samples []sample, width time.Duration, n int) string {
	if len(samples) == 0 {
		return "no samples"
	}
	t0 := samples[0].at
	for _, s := range samples {
		if s.at.Before(t0) {
			t0 = s.at
		}
	}
	windows := map[int64][]time.Duration{}
	for _, s := range samples {
		k := int64(s.at.Sub(t0) / width)
		windows[k] = append(windows[k], s.lat)
	}
	keys := make([]int64, 0, len(windows))
	for k := range windows {
		keys = append(keys, k)
	}
	worst := func(k int64) time.Duration { return slices.Max(windows[k]) }
	slices.SortFunc(keys, func(a, b int64) int { return cmp.Compare(worst(b), worst(a)) })
	keys = keys[:min(n, len(keys))]
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "slowest %s windows by arrival\n\n| from | calls | p50 | slowest |\n|---|---|---|---|\n", width)
	for _, k := range keys {
		w := windows[k]
		fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", (time.Duration(k) * width).Round(time.Millisecond), len(w),
			ms(benchsys.Percentile(w, 50)), ms(slices.Max(w)))
	}
	return b.String()
}
