package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/flurryfn/flurry/internal/entity"
)

// adminAuthEnv names the admin credential in the environment, for the
// servers and for `flurry admin`.
const adminAuthEnv = "FLURRY_ADMIN_AUTH"

// adminAuthFlagUsage is the usage of the servers' --admin-key.
const adminAuthFlagUsage = "UUID:KEY of the admin credential for `flurry admin` and /v1/admin (env " + adminAuthEnv + ")"

// adminAuthFromFlagOrEnv returns the flag's admin credential, else the
// environment's, checked; "" when neither is set.
func adminAuthFromFlagOrEnv(flagValue string) (string, error) {
	auth, from := flagValue, "--admin-key"
	if auth == "" {
		auth, from = os.Getenv(adminAuthEnv), adminAuthEnv
	}
	if auth == "" {
		return "", nil
	}
	if _, _, err := entity.ParseAuth(auth); err != nil {
		return "", fmt.Errorf("%s: %w", from, err)
	}
	return auth, nil
}

// keptAdminAuth returns standalone's admin credential: the flag's or the
// environment's (then kept in the data dir), else the one kept there, else
// a new one that is then kept there (0600). generated reports whether it
// was made now.
func keptAdminAuth(dataDir, flagValue string) (auth string, generated bool, err error) {
	path := filepath.Join(dataDir, adminAuthFile)
	given, err := adminAuthFromFlagOrEnv(flagValue)
	if err != nil {
		return "", false, err
	}
	if given != "" {
		if err := os.WriteFile(path, []byte(given+"\n"), 0o600); err != nil {
			return "", false, err
		}
		return given, false, os.Chmod(path, 0o600)
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		// A file made by hand or copied may be readable by others.
		if err := os.Chmod(path, 0o600); err != nil {
			return "", false, err
		}
		auth := strings.TrimSpace(string(b))
		if _, _, err := entity.ParseAuth(auth); err != nil {
			return "", false, fmt.Errorf("%s: %w", path, err)
		}
		return auth, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, err
	}
	auth = entity.NewAuth()
	if err := os.WriteFile(path, []byte(auth+"\n"), 0o600); err != nil {
		return "", false, err
	}
	return auth, true, nil
}
