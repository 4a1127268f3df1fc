// Package gowrap compiles a Go action into the static Linux executable that
// Flurry's "go" runtime runs: one that speaks the actionloop protocol (one
// JSON activation line on stdin, one JSON result line on file descriptor
// 3, per activation).
//
// An action is package main declaring either its own func main (which must
// speak actionloop itself) or a function, "Main" by default, of type
// func(map[string]any) map[string]any. For the latter Build copies package
// launch (the launcher: the loop, and direct run where the proxy offers it,
// ADR 014) into the build as zz_flurry_launch/ and adds a main calling it.
// Sources are checked with go/parser first, so a missing or mistyped
// function is reported before compiling.
//
// Build runs the go command found on PATH; it never modifies the source
// directory (it compiles a copy) and never downloads a toolchain
// (GOTOOLCHAIN=local).
package gowrap
