package natsclient_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/flurryfn/flurry/internal/natsclient"
)

func TestCredentialsFormats(t *testing.T) {
	dir := t.TempDir()
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	jwtCreds := "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.sig\n------END NATS USER JWT------\n\n" +
		"-----BEGIN USER NKEY SEED-----\n" + string(seed) + "\n------END USER NKEY SEED------\n"
	for _, tc := range []struct {
		name, content string
		want          error
	}{
		{"nkey seed", string(seed) + "\n", nil},
		{"jwt creds", jwtCreds, nil},
		{"garbage", "user:password\n", natsclient.ErrCredsFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := natsclient.Options(natsclient.Config{Role: "invoker", Creds: path})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := natsclient.Options(natsclient.Config{Role: "invoker", Creds: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("a missing credentials file was accepted")
	}
	if _, err := natsclient.Options(natsclient.Config{Role: "a.b"}); err == nil {
		t.Fatal("a role with a dot was accepted")
	}
}
