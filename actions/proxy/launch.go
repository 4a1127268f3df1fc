package proxy

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// Language is the kind of code a proxy runs. Native (the zero value) runs
// an executable that speaks the actionloop protocol itself; Python and
// Nodejs run source code, or a zip of it with its dependencies, under an
// embedded launcher that speaks the protocol for it.
type Language string

// Languages the proxy can launch.
const (
	Native Language = ""
	Python Language = "python"
	Nodejs Language = "nodejs"
)

// Default interpreters: the paths of Debian's packages, which the runtime
// images are built from. Config.Interpreter overrides them.
const (
	DefaultPython = "/usr/bin/python3"
	DefaultNode   = "/usr/bin/node"
)

// Entry files of source actions. Text code is written to the first;
// a Python zip must hold __main__.py (as OpenWhisk's python runtime
// requires), a Node.js zip package.json with "main" or index.js.
const (
	pythonTextEntry = "main__.py"
	pythonZipEntry  = "__main__.py"
	nodeTextEntry   = "main__.js"
)

//go:embed launchers/launcher.py
var pythonLauncher string

//go:embed launchers/launcher.js
var nodeLauncher string

// identifier is what main may be for a source action: a function name.
var identifier = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

// ParseLanguage accepts "" or "native", "python" and "nodejs".
func ParseLanguage(s string) (Language, error) {
	switch s {
	case "", "native":
		return Native, nil
	case string(Python), string(Nodejs):
		return Language(s), nil
	}
	return "", fmt.Errorf("proxy: unknown language %q (want native, python or nodejs)", s)
}

// interpreter is the program that runs l's launcher.
func (c *Config) interpreter() string {
	if c.Interpreter != "" {
		return c.Interpreter
	}
	if c.Language == Python {
		return DefaultPython
	}
	return DefaultNode
}

// prepareSource puts text code or a zip of a source action into dir and
// returns the command line that starts its launcher there.
func (p *server) prepareSource(code []byte, binary bool, main string) ([]string, error) {
	if main == "" {
		main = "main"
	}
	if !identifier.MatchString(main) || (p.cfg.Language == Python && main[0] == '$') {
		return nil, fmt.Errorf("main %q is not a function name", main)
	}
	dir := p.cfg.Dir
	var entry string
	switch {
	case binary && !isZip(code):
		return nil, fmt.Errorf("binary code of a %s action must be a zip", p.cfg.Language)
	case binary:
		// Virtualenvs and node_modules hold symlinks (bin/python, .bin/*)
		// that the action does not need; they are skipped, never followed.
		if err := unpackZip(code, dir, maxUnpacked, true); err != nil {
			return nil, fmt.Errorf("unpack zip: %w", err)
		}
		if p.cfg.Language == Python {
			entry = pythonZipEntry
			if !regularFile(filepath.Join(dir, entry)) {
				return nil, fmt.Errorf("zip has no %s at its root", pythonZipEntry)
			}
		} else {
			entry = "."
			if !regularFile(filepath.Join(dir, "package.json")) && !regularFile(filepath.Join(dir, "index.js")) {
				return nil, fmt.Errorf("zip has neither package.json nor index.js at its root")
			}
		}
	case p.cfg.Language == Python:
		entry = pythonTextEntry
		if err := os.WriteFile(filepath.Join(dir, entry), code, 0o644); err != nil {
			return nil, fmt.Errorf("write code: %w", err)
		}
	default:
		entry = nodeTextEntry
		// A plain script's top-level function is not exported; this line,
		// appended so that line numbers stay the user's, hands it over.
		src := append(append([]byte(nil), code...), fmt.Sprintf(
			"\n;try { if (typeof %[1]s === 'function') module.exports.__flurryMain = %[1]s; } catch (e) {}\n", main)...)
		if err := os.WriteFile(filepath.Join(dir, entry), src, 0o644); err != nil {
			return nil, fmt.Errorf("write code: %w", err)
		}
	}
	if p.cfg.Language == Python {
		return []string{p.cfg.interpreter(), "-u", "-c", pythonLauncher, entry, main}, nil
	}
	return []string{p.cfg.interpreter(), "-e", nodeLauncher, entry, main}, nil
}

func regularFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
