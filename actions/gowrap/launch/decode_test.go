package launch

import (
	"encoding/json"
	"reflect"
	"testing"
)

// activationSamples are activation messages as the invoker writes them
// (the first ones) and as others might.
var activationSamples = []string{
	`{"namespace":"guest","action_name":"/guest/hello","action_version":"0.0.1","activation_id":"0123456789abcdef","deadline":"1764892800123","value":{}}`,
	`{"namespace":"guest","action_name":"/guest/hello","action_version":"0.0.1","activation_id":"ab","deadline":"17","api_key":"uuid:key","value":{"name":"Flurry","n":[1,2.5,{"x":null}]}}`,
	`{"namespace":"","action_name":"","action_version":"","activation_id":"","deadline":"","value":null}`,
	// Decoded by encoding/json as a whole.
	`{"value":{"a":1},"namespace":"guest","action_name":"/guest/x","action_version":"1","activation_id":"i","deadline":"1"}`,
	`{"namespace":"gu\u0065st","action_name":"/g/x","action_version":"1","activation_id":"i","deadline":"1","value":{}}`,
	`{"namespace":"güest","action_name":"/g/x","action_version":"1","activation_id":"i","deadline":"1","value":{}}`,
	`{"namespace":"guest","action_name":"/g/x","action_version":"1","activation_id":"i","deadline":1764892800123,"value":{}}`,
	`{"namespace":"guest","action_name":"/g/x","action_version":"1","activation_id":"i","deadline":"1","api_key":null,"value":{}}`,
	`{"namespace":"guest","action_name":"/g/x","action_version":"1","activation_id":"i","deadline":"1","value":{"a":1},"value":{"b":2}}`,
	`{"namespace":"guest","action_name":"/g/x","action_version":"1","activation_id":"i","deadline":"1","value":{"a":1}} `,
	`{"Namespace":"guest","action_name":"/g/x","action_version":"1","activation_id":"i","deadline":"1","value":{}}`,
	// Errors.
	`{"namespace":"guest","action_name":"/g/x","action_version":"1","activation_id":"i","deadline":"1","value":[1]}`,
	`{"namespace":"guest","action_name":"/g/x","action_version":"1","activation_id":"i","deadline":"1","value":{}}}`,
	`{"namespace":"guest","action_name":"/g/x","action_version":"1","activation_id":"i","deadline":"1","value":{"a":}}`,
	`{"namespace":"guest"`,
	`[]`,
	``,
}

// TestDecodeActivationIsUnmarshal: decodeActivation's answer is
// json.Unmarshal's, and the invoker's form takes the plain path.
func TestDecodeActivationIsUnmarshal(t *testing.T) {
	for i, s := range activationSamples {
		checkDecodeActivation(t, []byte(s))
		var msg activation
		if got, want := decodePlain([]byte(s), &msg), i < 3; got != want {
			t.Errorf("%s: plain %v, want %v", s, got, want)
		}
	}
}

func FuzzDecodeActivation(f *testing.F) {
	for _, s := range activationSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecodeActivation(t, data) })
}

func checkDecodeActivation(t *testing.T, data []byte) {
	t.Helper()
	var got, want activation
	err := decodeActivation(data, &got)
	wantErr := json.Unmarshal(data, &want)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%q: error %v, json.Unmarshal %v", data, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: %+v, json.Unmarshal %+v", data, got, want)
	}
}

func BenchmarkDecodeActivation(b *testing.B) {
	data := []byte(activationSamples[0])
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			var msg activation
			if err := decodeActivation(data, &msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var msg activation
			if err := json.Unmarshal(data, &msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
