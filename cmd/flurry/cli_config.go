package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/flurryfn/flurry/internal/client"
)

// Defaults of the client commands' configuration.
const (
	cliDefaultAPIHost   = "http://127.0.0.1:3233"
	cliDefaultNamespace = "_"
)

// cliConfig is where the client commands send requests and as whom. Each
// value comes from, in order of precedence: a flag, the environment
// (FLURRY_API_HOST, FLURRY_AUTH, FLURRY_NAMESPACE), the properties file
// ($FLURRY_CONFIG, else ~/.flurry/config, in wskprops format: APIHOST=,
// AUTH=, NAMESPACE=), a default.
type cliConfig struct {
	APIHost   string
	Auth      string
	Namespace string
	// Source says where each value came from: "flag", "env NAME",
	// "file PATH" or "default" (keys: apihost, auth, namespace).
	Source map[string]string
}

// cliConfigFile returns the properties file to read and whether the user
// named it explicitly.
func cliConfigFile() (string, bool) {
	if p := os.Getenv("FLURRY_CONFIG"); p != "" {
		return p, true
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", false
	}
	return filepath.Join(home, ".flurry", "config"), false
}

// cliReadProps reads a wskprops-style file: KEY=VALUE lines, # comments.
// Keys are returned upper-case.
func cliReadProps(r io.Reader) (map[string]string, error) {
	props := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want KEY=VALUE", n)
		}
		props[strings.ToUpper(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	return props, sc.Err()
}

// cliLoadConfig resolves the configuration for parsed flags p.
func cliLoadConfig(p *cliArgs) (cliConfig, error) {
	cfg := cliConfig{Source: map[string]string{}}
	props := map[string]string{}
	path, explicit := cliConfigFile()
	if path != "" {
		f, err := os.Open(path)
		switch {
		case err == nil:
			props, err = cliReadProps(f)
			f.Close()
			if err != nil {
				return cfg, fmt.Errorf("config file %s: %w", path, err)
			}
		case errors.Is(err, fs.ErrNotExist) && !explicit:
		default:
			return cfg, fmt.Errorf("config file (FLURRY_CONFIG): %w", err)
		}
	}
	pick := func(key, flag, env, prop, def string) string {
		if p.has(flag) {
			cfg.Source[key] = "flag"
			return p.str(flag)
		}
		if v := os.Getenv(env); v != "" {
			cfg.Source[key] = "env " + env
			return v
		}
		if v := props[prop]; v != "" {
			cfg.Source[key] = "file " + path
			return v
		}
		cfg.Source[key] = "default"
		return def
	}
	cfg.APIHost = pick("apihost", "apihost", "FLURRY_API_HOST", "APIHOST", cliDefaultAPIHost)
	cfg.Auth = pick("auth", "auth", "FLURRY_AUTH", "AUTH", "")
	cfg.Namespace = pick("namespace", "namespace", "FLURRY_NAMESPACE", "NAMESPACE", cliDefaultNamespace)
	if cfg.Source["auth"] == "default" {
		cfg.Source["auth"] = "unset"
	}
	return cfg, nil
}

// client returns an API client for the configuration.
func (c cliConfig) client() (*client.Client, error) {
	if c.Auth == "" {
		path, _ := cliConfigFile()
		return nil, fmt.Errorf("no API key: pass --auth UUID:KEY, set FLURRY_AUTH, or write AUTH=UUID:KEY to %s (flurry standalone prints its key at start)", path)
	}
	cl, err := client.New(c.APIHost, c.Auth, client.WithUserAgent("flurry-cli"))
	if err != nil {
		return nil, fmt.Errorf("api host %q or auth: %w", c.APIHost, err)
	}
	return cl, nil
}

// maskAuth hides the secret half of a key.
func maskAuth(auth string) string {
	if auth == "" {
		return ""
	}
	uuid, _, ok := strings.Cut(auth, ":")
	if !ok {
		return "****"
	}
	return uuid + ":****"
}

func init() {
	register("property", "show the API host, auth and namespace in use", false, func(ctx context.Context, args []string) error {
		return cliProperty(ctx, cliStd(), args)
	})
}

const cliPropertyUsage = `usage: flurry property [get] [--show-auth] [common flags]

Shows the API host, key and namespace the client commands use and where
each comes from (flag > env FLURRY_API_HOST/FLURRY_AUTH/FLURRY_NAMESPACE >
$FLURRY_CONFIG or ~/.flurry/config > default). The key's secret is masked
unless --show-auth.
`

func cliProperty(_ context.Context, out cliIO, args []string) error {
	p, err := cliParse(args, []cliFlag{{name: "show-auth", usage: "print the whole key"}})
	if err != nil {
		return err
	}
	if p.has("help") {
		return out.help(cliPropertyUsage, nil)
	}
	if len(p.pos) > 0 && p.pos[0] == "get" {
		p.pos = p.pos[1:]
	}
	if err := p.positional(0, 0, "flurry property [get]"); err != nil {
		return err
	}
	mode, err := cliOutputMode(p)
	if err != nil {
		return err
	}
	cfg, err := cliLoadConfig(p)
	if err != nil {
		return err
	}
	auth := maskAuth(cfg.Auth)
	if p.has("show-auth") {
		auth = cfg.Auth
	}
	host := cfg.APIHost
	if h, err := client.NormalizeAPIHost(host); err == nil {
		host = h
	}
	if mode == cliJSON {
		return cliPrintJSON(out.stdout, map[string]string{"apihost": host, "auth": auth, "namespace": cfg.Namespace})
	}
	fmt.Fprintf(out.stdout, "api host    %s (%s)\n", host, cfg.Source["apihost"])
	fmt.Fprintf(out.stdout, "auth        %s (%s)\n", auth, cfg.Source["auth"])
	fmt.Fprintf(out.stdout, "namespace   %s (%s)\n", cfg.Namespace, cfg.Source["namespace"])
	return nil
}
