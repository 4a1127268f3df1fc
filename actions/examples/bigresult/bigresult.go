// Bigresult returns a result of args["bytes"] bytes, to test the result
// size limit.
package main

import "strings"

// envelope is the size of the result without its data: {"data":""}.
const envelope = len(`{"data":""}`)

// Main answers {"data": "xxx..."} whose JSON encoding is args["bytes"]
// bytes long (at least the envelope's 11).
func Main(args map[string]interface{}) map[string]interface{} {
	n, _ := args["bytes"].(float64)
	size := int(n) - envelope
	if size < 0 {
		size = 0
	}
	return map[string]interface{}{"data": strings.Repeat("x", size)}
}
