package docker

import "testing"

func TestOwnerOptions(t *testing.T) {
	tests := []struct{ user, want string }{
		{"", ""},
		{"0", "uid=0,gid=0,"},
		{"65534", "uid=65534,gid=65534,"},
		{"65534:100", "uid=65534,gid=100,"},
		{"1000:staff", "uid=1000,"},
		{"nobody", ""},
	}
	for _, tt := range tests {
		if got := ownerOptions(tt.user); got != tt.want {
			t.Errorf("ownerOptions(%q) = %q, want %q", tt.user, got, tt.want)
		}
	}
}

func TestResources(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		mem         int64
		shares, cpu int64
	}{
		{"default 256 MiB", Config{}, 256 << 20, 256, 0},
		{"default 2 GiB", Config{}, 2 << 30, 2048, 0},
		{"tiny floors at 2 shares", Config{}, 1 << 20, 2, 0},
		{"limit 1 core per GiB", Config{CPULimitPerGiB: 1}, 256 << 20, 256, 250_000_000},
		{"limit floors at a hundredth", Config{CPULimitPerGiB: 0.01}, 64 << 20, 64, 10_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			r := &Runtime{cfg: tt.cfg}
			res := r.resources(tt.mem)
			if res.CPUShares != tt.shares || res.NanoCPUs != tt.cpu || res.Memory != tt.mem || res.MemorySwap != tt.mem ||
				res.PidsLimit == nil || *res.PidsLimit != DefaultPidsLimit {
				t.Errorf("resources(%d) = shares %d, nano cpus %d, memory %d/%d, pids %v; want shares %d, nano cpus %d",
					tt.mem, res.CPUShares, res.NanoCPUs, res.Memory, res.MemorySwap, res.PidsLimit, tt.shares, tt.cpu)
			}
		})
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/tmp/x", "/tmp/x"},
		{`/tmp/a\040b`, "/tmp/a b"},
		{`/tmp/tab\011`, "/tmp/tab\t"},
		{`/tmp/trailing\`, `/tmp/trailing\`},
		{`/tmp/bad\09`, `/tmp/bad\09`},
	}
	for _, tt := range tests {
		if got := unescapeMountinfo(tt.in); got != tt.want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
