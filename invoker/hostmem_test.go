package invoker

import (
	"testing"

	"github.com/flurryfn/flurry/internal/host"
)

func TestHostSizing(t *testing.T) {
	tests := []struct {
		name      string
		host      host.Host
		memoryMB  int64
		slots     int
		slotsAtMB int64 // slots for an explicit budget; 0: skip
		slotsAt   int
	}{
		{"unknown memory keeps the fixed default", host.Host{CPUs: 2}, DefaultMemoryMB, 8, 0, 0},
		{"24 GB, 2 CPUs: a quarter reserved, slots capped by CPUs",
			host.Host{MemoryBytes: 24 << 30, CPUs: 2}, 18432, 64, 2048, 8},
		{"2 GB: the 1 GB floor of the reserve", host.Host{MemoryBytes: 2 << 30, CPUs: 1}, 1024, 4, 16384, 32},
		{"1 GB: never under the least budget", host.Host{MemoryBytes: 1 << 30, CPUs: 1}, minHostMemoryMB, 4, 0, 0},
		{"a fractional CPU quota rounds up", host.Host{MemoryBytes: 64 << 30, CPUs: 0.5}, 49152, 32, 0, 0},
		{"CPUs unknown: memory alone", host.Host{MemoryBytes: 8 << 30}, 6144, 24, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := memoryBudgetMB(tt.host)
			if mb != tt.memoryMB {
				t.Fatalf("memoryBudgetMB() = %d, want %d", mb, tt.memoryMB)
			}
			if s := slotsFor(tt.host, mb); s != tt.slots {
				t.Fatalf("slotsFor(%d) = %d, want %d", mb, s, tt.slots)
			}
			if tt.slotsAtMB > 0 {
				if s := slotsFor(tt.host, tt.slotsAtMB); s != tt.slotsAt {
					t.Fatalf("slotsFor(%d) = %d, want %d", tt.slotsAtMB, s, tt.slotsAt)
				}
			}
		})
	}
}
