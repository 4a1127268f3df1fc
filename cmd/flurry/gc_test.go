package main

import (
	"strings"
	"testing"
)

func TestGCSettings(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	const gib = 1 << 30
	cases := []struct {
		name    string
		env     map[string]string
		memory  uint64
		percent int
		limit   int64
	}{
		{"defaults", nil, 24 * gib, serverGCPercent, 6 * gib},
		{"memory unknown", nil, 0, serverGCPercent, 0},
		{"GOGC set", map[string]string{"GOGC": "100"}, 8 * gib, 0, 2 * gib},
		{"GOGC off", map[string]string{"GOGC": "off"}, 8 * gib, 0, 2 * gib},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, 8 * gib, serverGCPercent, 0},
	}
	for _, c := range cases {
		percent, limit := gcSettings(env(c.env), c.memory)
		if percent != c.percent || limit != c.limit {
			t.Errorf("%s: got percent %d limit %d, want %d %d", c.name, percent, limit, c.percent, c.limit)
		}
	}
}

func TestParseMemTotal(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
	}{
		{"MemTotal:       24589372 kB\nMemFree:         1000 kB\n", 24589372 << 10},
		{"MemFree:         1000 kB\nMemTotal: 2048 kB\n", 2048 << 10},
		{"MemFree:         1000 kB\n", 0},
		{"MemTotal:       lots kB\n", 0},
		{"MemTotal:       2048 MB\n", 0},
		{"", 0},
	}
	for _, c := range cases {
		if got := parseMemTotal(strings.NewReader(c.in)); got != c.want {
			t.Errorf("parseMemTotal(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

// On Linux the process can always read its memory: the limit is set.
func TestAvailableMemory(t *testing.T) {
	if availableMemory() == 0 {
		t.Fatal("availableMemory() = 0: neither the cgroup limit nor /proc/meminfo was read")
	}
}
