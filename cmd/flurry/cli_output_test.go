package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestCLIDuration(t *testing.T) {
	for ms, want := range map[int64]string{0: "0ms", 12: "12ms", 1500: "1.5s", 123000: "2m3s"} {
		if got := cliDuration(ms); got != want {
			t.Errorf("cliDuration(%d) = %q, want %q", ms, got, want)
		}
	}
}

func TestCLIPrintJSON(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"raw keeps order and unknown fields", json.RawMessage(` {"z":1,"a":{"new":[1,2]}} `), "{\n  \"z\": 1,\n  \"a\": {\n    \"new\": [\n      1,\n      2\n    ]\n  }\n}\n"},
		{"value", map[string]int{"b": 2}, "{\n  \"b\": 2\n}\n"},
		{"not JSON is shown as is", []byte("oops"), "oops\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := cliPrintJSON(&buf, tt.in); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Errorf("got %q, want %q", buf.String(), tt.want)
			}
		})
	}
}
