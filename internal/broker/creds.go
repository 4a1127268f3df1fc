package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nkeys"
)

// CredsFile is the path of role's credentials in dir: an nkey user seed,
// which `--nats-creds` and nats.NkeyOptionFromSeed read.
func CredsFile(dir string, r Role) string { return filepath.Join(dir, string(r)+".nk") }

// ensureCreds returns the public nkey of every role, reading each role's
// seed from dir and making (0600) the ones that are missing, so that
// credentials survive restarts and a component started with a file keeps
// working.
func ensureCreds(dir string) (map[Role]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("broker: credentials dir: %w", err)
	}
	pubs := make(map[Role]string, len(Roles))
	for _, r := range Roles {
		path := CredsFile(dir, r)
		seed, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			seed, err = newSeed(path)
		}
		if err != nil {
			return nil, fmt.Errorf("broker: credentials of %s: %w", r, err)
		}
		kp, err := nkeys.FromSeed(bytes.TrimSpace(seed))
		if err != nil {
			return nil, fmt.Errorf("broker: credentials of %s in %s: %w", r, path, err)
		}
		pub, err := kp.PublicKey()
		kp.Wipe()
		if err != nil {
			return nil, fmt.Errorf("broker: credentials of %s in %s: %w", r, path, err)
		}
		if !nkeys.IsValidPublicUserKey(pub) {
			return nil, fmt.Errorf("broker: credentials of %s in %s: not a user seed", r, path)
		}
		pubs[r] = pub
	}
	return pubs, nil
}

// newSeed makes a user nkey and writes its seed to path; O_EXCL, so two
// starts never hand out different keys under one name.
func newSeed(path string) ([]byte, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	defer kp.Wipe()
	seed, err := kp.Seed()
	if err != nil {
		return nil, err
	}
	seed = append(seed, '\n')
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(seed); err != nil {
		f.Close()
		return nil, err
	}
	return seed, f.Close()
}
