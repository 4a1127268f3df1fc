// Httpecho is an HTTP route and web action example: it answers with an
// HTTP response ({statusCode, headers, body}) describing the request it
// got, so a route's or web action's params can be seen from outside.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Main echoes the request as a JSON body. A route's event carries
// "method", "path", "pathParams", "query", "headers" and "body" (base64
// when "isBase64Encoded"); a web action's params carry __ow_method and the
// other __ow_ fields. args["status"] sets the status code (default 200)
// and a binary body is answered as it came, with its content type.
func Main(args map[string]interface{}) map[string]interface{} {
	status := 200
	if q, ok := args["query"].(map[string]interface{}); ok {
		if s, ok := q["status"].(string); ok {
			fmt.Sscan(s, &status)
		}
	}
	if b64, _ := args["isBase64Encoded"].(bool); b64 {
		body, _ := args["body"].(string)
		raw, _ := base64.StdEncoding.DecodeString(body)
		ct := "application/octet-stream"
		if h, ok := args["headers"].(map[string]interface{}); ok {
			if s, ok := h["content-type"].(string); ok {
				ct = s
			}
		}
		fmt.Printf("echo %d binary bytes\n", len(raw))
		return map[string]interface{}{
			"statusCode": status, "headers": map[string]interface{}{"Content-Type": ct, "X-Echo": "binary"},
			"body": body, "isBase64Encoded": true,
		}
	}
	b, _ := json.Marshal(args)
	fmt.Printf("echo %s %v\n", args["method"], args["path"])
	return map[string]interface{}{
		"statusCode": status,
		"headers":    map[string]interface{}{"Content-Type": "application/json", "X-Echo": "1"},
		"body":       string(b),
	}
}
