// Crash exits the action's process in the middle of an activation, as a
// crashing native action would: the platform must record a developer
// error and replace the container.
package main

import (
	"fmt"
	"os"
)

// Main logs a line and exits with status 3 without returning.
func Main(args map[string]interface{}) map[string]interface{} {
	fmt.Println("about to crash")
	os.Exit(3)
	return nil
}
