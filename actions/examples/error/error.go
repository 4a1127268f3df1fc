// Error fails the way an action reports an application error: a result
// with an "error" field.
package main

// Main answers {"error": "boom"}.
func Main(args map[string]interface{}) map[string]interface{} {
	return map[string]interface{}{"error": "boom"}
}
