// Package host reads what this process may use of its machine: its
// memory (the tightest cgroup memory limit up its hierarchy, v1 or v2,
// else MemTotal) and its CPUs (the online CPUs, lowered to a cgroup CPU
// quota). The invoker sizes its default budget and slots from it, and the
// server commands their garbage collector's soft memory limit.
package host
