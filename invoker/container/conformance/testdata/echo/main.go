// Command echo is the conformance suite's actionloop action: per JSON line
// on stdin it logs one line on stdout and one on stderr and writes
// {"echo": value} on fd 3. A value with "crash" makes it exit; one with
// "alloc_mb" makes it allocate and touch that much memory first.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	result := os.NewFile(3, "result")
	in := bufio.NewReader(os.Stdin)
	var hold [][]byte // keeps allocations alive
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			return
		}
		var msg struct {
			Value        map[string]any `json:"value"`
			ActivationID string         `json:"activation_id"`
		}
		if err := json.Unmarshal(line, &msg); err != nil {
			fmt.Fprintf(result, "{\"error\":%q}\n", err.Error())
			continue
		}
		fmt.Printf("stdout of %s\n", msg.ActivationID)
		fmt.Fprintf(os.Stderr, "stderr of %s\n", msg.ActivationID)
		if _, ok := msg.Value["crash"]; ok {
			os.Exit(7)
		}
		if mb, ok := msg.Value["alloc_mb"].(float64); ok {
			for range int(mb) {
				b := make([]byte, 1<<20)
				for i := range b {
					b[i] = 1 // touch every page so it is resident
				}
				hold = append(hold, b)
			}
		}
		b, _ := json.Marshal(map[string]any{"echo": msg.Value})
		fmt.Fprintf(result, "%s\n", b)
	}
}
