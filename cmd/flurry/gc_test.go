package main

import (
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
