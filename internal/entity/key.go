package entity

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// Key is a stored API key: the namespace it opens and the sha256 of its
// secret. The secret itself is never stored.
type Key struct {
	UUID      string `json:"uuid"`
	Namespace string `json:"namespace"`
	// Hash is hex sha256 of the secret.
	Hash string `json:"hash"`
	// Role is RoleAdmin for the operator's admin credential, which opens
	// no namespace; empty for a tenant's key.
	Role string `json:"role,omitempty"`
}

// RoleAdmin marks the admin credential in Key.Role.
const RoleAdmin = "admin"

// Admin reports whether k is an admin credential.
func (k *Key) Admin() bool { return k.Role == RoleAdmin }

// HashSecret returns the stored form of a key secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Matches reports in constant time whether secret is this key's secret.
func (k *Key) Matches(secret string) bool {
	return subtle.ConstantTimeCompare([]byte(k.Hash), []byte(HashSecret(secret))) == 1
}

// Bounds of a key's parts: generous beside OpenWhisk's 36-character uuid
// and 64-character secret, and small enough that a caller's Authorization
// value never makes an oversized KV key or request.
const (
	MaxKeyUUIDBytes   = 128
	MaxKeySecretBytes = 256
)

// ParseAuth splits OpenWhisk's "uuid:key" form; either part over its
// bound is refused.
func ParseAuth(s string) (uuid, secret string, err error) {
	uuid, secret, ok := strings.Cut(s, ":")
	switch {
	case !ok || uuid == "" || secret == "":
		return "", "", fmt.Errorf("%w: auth must be UUID:KEY", ErrInvalid)
	case len(uuid) > MaxKeyUUIDBytes || len(secret) > MaxKeySecretBytes:
		return "", "", fmt.Errorf("%w: auth UUID:KEY is over %d:%d bytes", ErrInvalid, MaxKeyUUIDBytes, MaxKeySecretBytes)
	}
	return uuid, secret, nil
}

// NewAuth makes a fresh random "uuid:key" pair in OpenWhisk's format
// (a UUID and a 64-character secret).
func NewAuth() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	uuid := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	var s [32]byte
	rand.Read(s[:])
	return uuid + ":" + hex.EncodeToString(s[:])
}
