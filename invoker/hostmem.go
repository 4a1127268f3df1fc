package invoker

import (
	"math"

	"github.com/flurryfn/flurry/internal/host"
)

// Sizing of the defaults from the host (docs/adr/024-memory-pressure.md).
const (
	// hostReserveFraction of the host's memory is left to everything but
	// the containers: the Flurry server itself (its Go soft memory limit
	// is a quarter of the same figure, ADR 017), the container engine and
	// the operating system's page cache.
	hostReserveFraction = 4
	// hostReserveMinMB is the least reserve, for small hosts: the engine,
	// the OS and a Flurry server at rest need about this much.
	hostReserveMinMB = 1024
	// minHostMemoryMB is the least auto budget: one stem cell and one
	// action of the default memory.
	minHostMemoryMB = 512
	// slotsPerCPU caps the auto slots: short actions saturate a CPU well
	// below this many at once, and a slot held by a waiting activation is
	// one a warm one could have used.
	slotsPerCPU = 32
)

// memoryBudgetMB is the container memory budget for host h: its memory less a
// reserve of a quarter (at least hostReserveMinMB), never under
// minHostMemoryMB; DefaultMemoryMB when the memory is unknown.
func memoryBudgetMB(h host.Host) int64 {
	if h.MemoryBytes == 0 {
		return DefaultMemoryMB
	}
	total := int64(h.MemoryBytes >> 20)
	reserve := max(total/hostReserveFraction, hostReserveMinMB)
	return max(total-reserve, minHostMemoryMB)
}

// slotsFor is the default number of activations run at once with a budget
// of memoryMB: one per slotMemoryMB (the default action memory), at
// least minSlots, at most slotsPerCPU per CPU of h.
func slotsFor(h host.Host, memoryMB int64) int {
	slots := max(int(memoryMB/slotMemoryMB), minSlots)
	if h.CPUs > 0 {
		slots = min(slots, max(int(math.Ceil(h.CPUs))*slotsPerCPU, minSlots))
	}
	return slots
}
