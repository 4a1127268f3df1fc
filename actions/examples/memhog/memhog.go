// Memhog allocates and touches args["mb"] MiB, to run into the action's
// memory limit.
package main

import (
	"fmt"
	"os"
	"runtime"
)

// Main allocates args["mb"] MiB, writes to every page so the memory is
// really used, and answers {"allocated_mb": mb}.
func Main(args map[string]interface{}) map[string]interface{} {
	mb, _ := args["mb"].(float64)
	fmt.Fprintf(os.Stderr, "allocating %.0f MiB\n", mb)
	chunks := make([][]byte, 0, int(mb))
	for i := 0; i < int(mb); i++ {
		c := make([]byte, 1<<20)
		for j := 0; j < len(c); j += 4096 {
			c[j] = 1
		}
		chunks = append(chunks, c)
	}
	runtime.KeepAlive(chunks)
	return map[string]interface{}{"allocated_mb": mb}
}
