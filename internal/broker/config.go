package broker

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats-server/v2/server"
)

// AuthorizationConfig is the `authorization` block of a nats-server
// configuration file that gives an external NATS (a cluster) the users
// and permissions of the embedded one, with the roles' credentials read
// from, or made in, credsDir. The permissions are this package's own, so
// a cluster and a standalone never drift apart.
func AuthorizationConfig(credsDir string) ([]byte, error) {
	pubs, err := ensureCreds(credsDir)
	if err != nil {
		return nil, err
	}
	type user struct {
		Nkey        string              `json:"nkey"`
		Permissions *server.Permissions `json:"permissions,omitempty"`
	}
	var users []user
	for _, r := range Roles {
		users = append(users, user{Nkey: pubs[r], Permissions: permissions(r)})
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Flurry's NATS users (flurry nats-config): one per role, seeds in %s\nauthorization: ", credsDir)
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // ">" as is: the configuration is read by people too
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"users": users}); err != nil {
		return nil, fmt.Errorf("broker: authorization config: %w", err)
	}
	return b.Bytes(), nil
}
