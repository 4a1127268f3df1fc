package main

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestCLIParse(t *testing.T) {
	defs := []cliFlag{
		{name: "param", short: "p", nargs: 2},
		{name: "kind", nargs: 1},
		{name: "blocking", short: "b"},
	}
	tests := []struct {
		name    string
		args    []string
		pos     []string
		vals    map[string][][]string
		wantErr bool
	}{
		{name: "empty", args: nil, vals: map[string][][]string{}},
		{name: "pairs and flags after positionals",
			args: []string{"hello", "-p", "a", "1", "file.go", "--param", "b", `{"x":2}`, "-b", "--kind", "go"},
			pos:  []string{"hello", "file.go"},
			vals: map[string][][]string{"param": {{"a", "1"}, {"b", `{"x":2}`}}, "blocking": {nil}, "kind": {{"go"}}}},
		{name: "inline value and single-dash long name",
			args: []string{"-kind=blackbox", "--apihost=h:1", "x"},
			pos:  []string{"x"},
			vals: map[string][][]string{"kind": {{"blackbox"}}, "apihost": {{"h:1"}}}},
		{name: "values may start with a dash", args: []string{"-p", "n", "-5"},
			vals: map[string][][]string{"param": {{"n", "-5"}}}},
		{name: "bool false", args: []string{"-b", "--blocking=false"}, vals: map[string][][]string{}},
		{name: "double dash ends flags", args: []string{"a", "--", "-b", "--kind"}, pos: []string{"a", "-b", "--kind"},
			vals: map[string][][]string{}},
		{name: "lone dash is positional", args: []string{"-"}, pos: []string{"-"}, vals: map[string][][]string{}},
		{name: "common short flags", args: []string{"-u", "a:b", "-o", "json"},
			vals: map[string][][]string{"auth": {{"a:b"}}, "output": {{"json"}}}},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: true},
		{name: "missing second value", args: []string{"-p", "k"}, wantErr: true},
		{name: "missing value", args: []string{"--kind"}, wantErr: true},
		{name: "inline value on pair", args: []string{"--param=k"}, wantErr: true},
		{name: "bad bool", args: []string{"--blocking=maybe"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := cliParse(tt.args, defs)
			if tt.wantErr {
				if !errors.Is(err, errUsage) || exitCode(err) != 2 {
					t.Fatalf("err = %v, want a usage error with exit code 2", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.pos, tt.pos) || !reflect.DeepEqual(p.vals, tt.vals) {
				t.Errorf("got pos %q vals %q, want %q %q", p.pos, p.vals, tt.pos, tt.vals)
			}
		})
	}
}

func TestCLIArgsValues(t *testing.T) {
	p, err := cliParse([]string{"--n", "7", "--n", "8", "--d", "1500", "--e", "2s", "--bad", "x"},
		[]cliFlag{{name: "n", nargs: 1}, {name: "d", nargs: 1}, {name: "e", nargs: 1}, {name: "bad", nargs: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := p.int64("n"); n != 8 || err != nil {
		t.Errorf("int64 = %d, %v; the last value wins", n, err)
	}
	if n, err := p.int64("absent"); n != 0 || err != nil {
		t.Errorf("absent = %d, %v", n, err)
	}
	if _, err := p.int64("bad"); exitCode(err) != 2 {
		t.Errorf("bad int: %v", err)
	}
	if d, err := p.duration("d", time.Millisecond); d != 1500*time.Millisecond || err != nil {
		t.Errorf("duration ms = %v, %v", d, err)
	}
	if d, err := p.duration("e", time.Millisecond); d != 2*time.Second || err != nil {
		t.Errorf("duration = %v, %v", d, err)
	}
	if _, err := p.duration("bad", time.Second); exitCode(err) != 2 {
		t.Errorf("bad duration: %v", err)
	}
}

func TestCLIValue(t *testing.T) {
	tests := map[string]string{
		"hello":      `"hello"`,
		"42":         `42`,
		"true":       `true`,
		`"quoted"`:   `"quoted"`,
		`{"a": [1]}`: `{"a":[1]}`,
		"":           `""`,
		"a b":        `"a b"`,
	}
	for in, want := range tests {
		if got := string(cliValue(in)); got != want {
			t.Errorf("cliValue(%q) = %s, want %s", in, got, want)
		}
	}
}
