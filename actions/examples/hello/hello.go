// Hello is the smallest Flurry Go action: it greets args["name"].
package main

import "fmt"

// Main answers {"greeting": "Hello, <name>!"}, with "stranger" when no
// name is given, and logs one line.
func Main(args map[string]interface{}) map[string]interface{} {
	name, _ := args["name"].(string)
	if name == "" {
		name = "stranger"
	}
	fmt.Printf("greeting %s\n", name)
	return map[string]interface{}{"greeting": "Hello, " + name + "!"}
}
