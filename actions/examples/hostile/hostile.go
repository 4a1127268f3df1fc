// Hostile does what an action must not get away with, for the
// containment tests (e2e/security_container_test.go): it fills a file,
// leaves busy-looping children behind, and lists its network interfaces.
package main

import (
	"errors"
	"os"
	"os/exec"
)

// spinEnv makes a copy of this executable loop forever: the children
// {"spin": n} leaves running.
const spinEnv = "HOSTILE_SPIN"

func init() {
	if os.Getenv(spinEnv) == "1" {
		for {
		}
	}
}

// Main answers {"hostname"} plus, per argument:
//   - "write_mb" N, "path" P: writes up to N MiB to P; "written_kb" and
//     "write_error" say how far it got.
//   - "spin" N: starts N children that loop forever; "spun" counts them.
//   - "net": "interfaces", the names in /sys/class/net.
func Main(args map[string]interface{}) map[string]interface{} {
	host, _ := os.Hostname()
	out := map[string]interface{}{"hostname": host}
	if mb, ok := args["write_mb"].(float64); ok {
		path, _ := args["path"].(string)
		kb, err := fill(path, int(mb))
		out["written_kb"] = kb
		if err != nil {
			out["write_error"] = err.Error()
		}
	}
	if n, ok := args["spin"].(float64); ok {
		self, err := os.Executable()
		spun := 0
		for i := 0; i < int(n) && err == nil; i++ {
			cmd := exec.Command(self)
			cmd.Env = []string{spinEnv + "=1"}
			if err = cmd.Start(); err == nil {
				spun++
			}
		}
		out["spun"] = spun
		if err != nil {
			out["spin_error"] = err.Error()
		}
	}
	if _, ok := args["net"]; ok {
		var names []string
		entries, err := os.ReadDir("/sys/class/net")
		for _, e := range entries {
			names = append(names, e.Name())
		}
		out["interfaces"] = names
		if err != nil {
			out["net_error"] = err.Error()
		}
	}
	return out
}

// fill writes mb MiB to path in 64 KiB blocks and returns the KiB written.
func fill(path string, mb int) (int, error) {
	if path == "" {
		return 0, errors.New("no path")
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	block := make([]byte, 64<<10)
	kb := 0
	for kb < mb<<10 {
		n, err := f.Write(block)
		kb += n >> 10
		if err != nil {
			return kb, err
		}
	}
	return kb, f.Sync()
}
