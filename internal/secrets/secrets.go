// Package secrets keeps the secret values that releases refer to. A Store
// is one backend: `local` seals values with AES-256-GCM envelope encryption
// in the Spacepods database; `vault` keeps them in HashiCorp Vault's KV v2
// engine. Backends register in registry.go and pass one conformance suite
// (secrets/secretstest).
package secrets

import (
	"context"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Limits on refs and values, the same for every backend.
const (
	MaxRefLen    = 512      // bytes
	MaxValueSize = 64 << 10 // bytes
)

// Store keeps secret values by ref, a path such as
// apps/catalog-api/production/API_TOKEN. Implementations are safe for
// concurrent use. Every method may also return EUNAVAILABLE (the backend
// cannot be reached) or EFORBIDDEN (the backend refused our credentials).
type Store interface {
	// Put stores value under ref, replacing any earlier value. EINVALID for
	// a bad ref, ETOOLARGE for a value over MaxValueSize. A failed Put
	// leaves the earlier value in place.
	Put(ctx context.Context, ref string, value []byte) error
	// Get returns the value stored under ref. ENOTFOUND if there is none,
	// EINVALID for a bad ref.
	Get(ctx context.Context, ref string) ([]byte, error)
	// Delete removes ref. Deleting a missing ref succeeds. EINVALID for a
	// bad ref.
	Delete(ctx context.Context, ref string) error
	// List returns the refs that start with prefix ("" for all), sorted.
	// The prefix need not end at a '/'. EINVALID for a bad prefix.
	List(ctx context.Context, prefix string) ([]string, error)
	// Name returns the backend ID, e.g. "local" or "vault".
	Name() string
}

// ValueLimiter is the optional ability of a backend whose service holds
// smaller values than MaxValueSize (SSM Parameter Store: 8 KB a
// parameter). Put refuses a larger value with ETOOLARGE.
type ValueLimiter interface {
	// MaxValueSize returns the largest value Put takes, in bytes.
	MaxValueSize() int
}

// ValueLimit returns the largest value s takes: its own limit when it has
// one (ValueLimiter), MaxValueSize otherwise.
func ValueLimit(s Store) int {
	if l, ok := s.(ValueLimiter); ok {
		return l.MaxValueSize()
	}
	return MaxValueSize
}

// KeyRotator is the optional ability of a backend that holds its own master
// key (local) to re-wrap every secret under a new one.
type KeyRotator interface {
	// RotateKey re-wraps every secret under newKey in one transaction and
	// then uses newKey. EINVALID for a key of the wrong size; on any error
	// nothing changed.
	RotateKey(ctx context.Context, newKey []byte) error
}

const refHelp = "a ref is a path like apps/catalog-api/production/API_TOKEN: segments of letters, digits, '_', '.' and '-' separated by '/'"

// ValidateRef checks a secret ref. EINVALID says what is wrong.
func ValidateRef(ref string) error {
	if ref == "" {
		return spacepods.Errorf(spacepods.EINVALID, "secret ref is empty: %s", refHelp)
	}
	if err := checkPath(ref, "secret ref"); err != nil {
		return err
	}
	for _, seg := range strings.Split(ref, "/") {
		if seg == "" {
			return spacepods.Errorf(spacepods.EINVALID, "secret ref %q has an empty segment: %s", ref, refHelp)
		}
	}
	return nil
}

// ValidatePrefix checks a List prefix: "" or the start of a ref (it may end
// with '/' or in the middle of a segment). EINVALID says what is wrong.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := checkPath(prefix, "secret prefix"); err != nil {
		return err
	}
	if strings.HasPrefix(prefix, "/") || strings.Contains(prefix, "//") {
		return spacepods.Errorf(spacepods.EINVALID, "secret prefix %q has an empty segment: %s", prefix, refHelp)
	}
	return nil
}

// checkPath holds the rules shared by refs and prefixes.
func checkPath(p, what string) error {
	if len(p) > MaxRefLen {
		return spacepods.Errorf(spacepods.EINVALID, "%s is %d bytes long; the limit is %d", what, len(p), MaxRefLen)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '/') {
			return spacepods.Errorf(spacepods.EINVALID, "%s %q has the character %q at byte %d: %s", what, p, rune(c), i, refHelp)
		}
	}
	if strings.Contains(p, "..") {
		return spacepods.Errorf(spacepods.EINVALID, "%s %q contains '..': %s", what, p, refHelp)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." {
			return spacepods.Errorf(spacepods.EINVALID, "%s %q has a '.' segment: %s", what, p, refHelp)
		}
	}
	return nil
}

// checkPut validates the arguments of Put.
func checkPut(ref string, value []byte) error { return CheckPut(ref, value, MaxValueSize, "64 KiB") }

// CheckPut validates the arguments of a backend's Put whose values hold at
// most limit bytes (limitText says it for people, e.g. "64 KiB"):
// EINVALID for a bad ref, ETOOLARGE for a value over the limit.
func CheckPut(ref string, value []byte, limit int, limitText string) error {
	if err := ValidateRef(ref); err != nil {
		return err
	}
	if len(value) > limit {
		return spacepods.Errorf(spacepods.ETOOLARGE, "secret %q is %d bytes; the limit is %d (%s)", ref, len(value), limit, limitText)
	}
	return nil
}
