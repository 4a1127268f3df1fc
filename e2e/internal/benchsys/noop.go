package benchsys

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"

	"github.com/flurryfn/flurry/actions/gowrap"
)

// noopSource is the benches' no-op Go action: it returns its parameters.
const noopSource = `package main

func Main(args map[string]interface{}) map[string]interface{} { return args }
`

// NoopCode builds the no-op Go action with gowrap in dir and returns the
// executable as base64, the code of an action of kind go.
func NoopCode(ctx context.Context, dir string) (string, error) {
	src := filepath.Join(dir, "noop.go")
	if err := os.WriteFile(src, []byte(noopSource), 0o644); err != nil {
		return "", err
	}
	exe, err := gowrap.Build(ctx, src, "Main")
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(exe), nil
}
