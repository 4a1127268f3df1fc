package docker

import dcontainer "github.com/docker/docker/api/types/container"

// Docker's bounds on CPU settings, and the least hard limit Flurry sets.
const (
	minCPUShares = 2
	minNanoCPUs  = 10_000_000 // a hundredth of a core
)

// resources are the cgroup limits of a container with mem bytes of memory:
// no swap, the pids limit, a CPU weight proportional to memory and, when
// configured, a hard CPU limit proportional to memory too. Memory stands
// for the size of the function, as OpenWhisk and Lambda use it: a tenant
// who asks for twice the memory gets twice the CPU.
func (r *Runtime) resources(mem int64) dcontainer.Resources {
	pids := r.cfg.PidsLimit
	res := dcontainer.Resources{
		Memory:     mem,
		MemorySwap: mem, // equal to Memory: no swap
		PidsLimit:  &pids,
		CPUShares:  max(r.cfg.CPUSharesPerGiB*mem>>30, minCPUShares),
	}
	if r.cfg.CPULimitPerGiB > 0 {
		res.NanoCPUs = max(int64(r.cfg.CPULimitPerGiB*float64(mem)/(1<<30)*1e9), minNanoCPUs)
	}
	return res
}
