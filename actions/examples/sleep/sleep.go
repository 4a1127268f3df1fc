// Sleep takes args["ms"] milliseconds, for timeout and concurrency tests.
package main

import "time"

// Main sleeps args["ms"] milliseconds (0 when absent) and answers
// {"slept_ms": ms}.
func Main(args map[string]interface{}) map[string]interface{} {
	ms, _ := args["ms"].(float64)
	time.Sleep(time.Duration(ms * float64(time.Millisecond)))
	return map[string]interface{}{"slept_ms": ms}
}
