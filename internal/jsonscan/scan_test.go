package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var validityCases = []string{
	`{}`, ` { } `, `[]`, `[1,2,3]`, `"s"`, `""`, `0`, `-0`, `1.5`, `-1.5e+10`, `1E5`, `true`, `false`, `null`,
	`{"a":1}`, `{"a":{"b":[1,{"c":null}]},"d":"e"}`, `"\u00e9\n\t\"\\\/"`, "\"caf\xc3\xa9\"", "\"\xff\"",
	`{"a":1,}`, `{"a" 1}`, `{"a":}`, `{a:1}`, `[1,]`, `[,1]`, `01`, `1.`, `.5`, `1e`, `1e+`, `-`, `+1`,
	`tru`, `nul`, `True`, `"abc`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\x01\"", `{"a":1}}`, `{"a":1} x`,
	`[1 2]`, `{"a":1 "b":2}`, ``, ` `, `{`, `[`, `"`, `{"a":[}`, `[{]}`, `{"a":1}{}`, "\t[\r\n]\n",
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	for _, c := range validityCases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", c, got, want)
		}
	}
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if Valid([]byte(deep)) || json.Valid([]byte(deep)) {
		t.Errorf("nesting deeper than %d accepted", maxDepth)
	}
}

func TestMembers(t *testing.T) {
	var keys, values []string
	ok := Members([]byte(` {"a" : 1, "b":{"c":[true,null]} ,"d":"x\"y", "":[] } `), func(k, v []byte) bool {
		keys, values = append(keys, string(k)), append(values, string(v))
		return true
	})
	if !ok {
		t.Fatal("Members refused a valid object")
	}
	if got, want := strings.Join(keys, "|"), "a|b|d|"; got != want {
		t.Errorf("keys %q, want %q", got, want)
	}
	if got, want := strings.Join(values, "|"), `1|{"c":[true,null]}|"x\"y"|[]`; got != want {
		t.Errorf("values %q, want %q", got, want)
	}

	for _, bad := range []string{`[]`, `1`, `{"a":1,}`, `{"a":1} {}`, `{"a\u0062":1}`, `{"a":tru}`, `{"a":1`, ``} {
		if Members([]byte(bad), func(k, v []byte) bool { return true }) {
			t.Errorf("Members(%q) = true", bad)
		}
	}
	// f ends the walk.
	n := 0
	if Members([]byte(`{"a":1,"b":2}`), func(k, v []byte) bool { n++; return false }) || n != 1 {
		t.Errorf("Members went on after f said stop (%d calls)", n)
	}
	if !Members([]byte(`{}`), func(k, v []byte) bool { t.Error("f called for {}"); return true }) {
		t.Error("Members({}) = false")
	}
}

func TestElements(t *testing.T) {
	var got []string
	if !Elements([]byte(` [1, "a" ,{"b":[]},[ ],null] `), func(v []byte) bool { got = append(got, string(v)); return true }) {
		t.Fatal("Elements refused a valid array")
	}
	if s, want := strings.Join(got, "|"), `1|"a"|{"b":[]}|[ ]|null`; s != want {
		t.Errorf("elements %q, want %q", s, want)
	}
	for _, bad := range []string{`{}`, `[1,]`, `[1] [2]`, `[`, `["\x"]`} {
		if Elements([]byte(bad), func(v []byte) bool { return true }) {
			t.Errorf("Elements(%q) = true", bad)
		}
	}
	if !Elements([]byte(`[]`), func(v []byte) bool { t.Error("f called for []"); return true }) {
		t.Error("Elements([]) = false")
	}
}

func TestPlainString(t *testing.T) {
	for raw, want := range map[string]string{`"abc"`: "abc", `""`: ""} {
		if s, ok := PlainString([]byte(raw)); !ok || s != want {
			t.Errorf("PlainString(%s) = %q, %v", raw, s, ok)
		}
	}
	for _, raw := range []string{`"a\nb"`, "\"caf\xc3\xa9\"", `abc`, `"`, `1`, `null`, `"a"b"`} {
		if _, ok := PlainString([]byte(raw)); ok {
			t.Errorf("PlainString(%s) ok", raw)
		}
	}
}

// FuzzScan checks the scanner against encoding/json: the same validity,
// and for an object, the members encoding/json decodes.
func FuzzScan(f *testing.F) {
	for _, c := range validityCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := Valid(data), json.Valid(data); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid says %v", data, got, want)
		}
		var elems []json.RawMessage
		if Elements(data, func(v []byte) bool { elems = append(elems, v); return true }) {
			var want []json.RawMessage
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatalf("Elements accepted %q, encoding/json: %v", data, err)
			}
			if len(want) != len(elems) {
				t.Fatalf("%q: %d elements, encoding/json has %d", data, len(elems), len(want))
			}
			for i := range want {
				if !bytes.Equal(want[i], elems[i]) {
					t.Fatalf("%q: element %d is %q, encoding/json has %q", data, i, elems[i], want[i])
				}
			}
		}
		last := map[string][]byte{}
		if !Members(data, func(k, v []byte) bool { last[string(k)] = v; return true }) {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("Members accepted %q, encoding/json: %v", data, err)
		}
		for k, v := range last {
			if !utf8.ValidString(k) {
				continue // encoding/json's key has U+FFFD in place of the bad bytes
			}
			if !bytes.Equal(m[k], v) {
				t.Fatalf("member %q: %q, encoding/json has %q", k, v, m[k])
			}
		}
	})
}

func BenchmarkMembers(b *testing.B) {
	data := []byte(`{"activationId":"0123456789abcdef0123456789abcdef","namespace":"guest","action":{"namespace":"guest","name":"hello","version":"0.0.3","exec":{"kind":"go","binary":true,"codeDigest":"9f86d081884c7d659a2feaa0c55ad015"},"limits":{"timeout":60000,"memory":64},"annotations":[{"key":"exec","value":"go"}]},"params":{"n":17},"subject":"23bc46b1","blocking":true,"admitted":1764892800123}`)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if !Members(data, func(k, v []byte) bool { return true }) {
			b.Fatal("refused")
		}
	}
}
