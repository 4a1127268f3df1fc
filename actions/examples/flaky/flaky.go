// Flaky fails until a point in time, to show retries of asynchronous
// activations: {"failUntil": <Unix ms>} answers an application error
// before that time and succeeds after it.
package main

import (
	"fmt"
	"time"
)

// Main answers {"error": "not yet"} while now < args["failUntil"], else
// {"ok": true}; it logs which.
func Main(args map[string]interface{}) map[string]interface{} {
	until, _ := args["failUntil"].(float64)
	now := time.Now().UnixMilli()
	if float64(now) < until {
		fmt.Printf("failing: %d ms to go\n", int64(until)-now)
		return map[string]interface{}{"error": "not yet"}
	}
	fmt.Println("succeeding")
	return map[string]interface{}{"ok": true}
}
