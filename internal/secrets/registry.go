package secrets

import (
	"context"
	"time"

	"github.com/spacepods/spacepods/internal/registry"
)

// Config carries what every backend may need; each reads its own part.
type Config struct {
	Local LocalConfig
	Vault VaultConfig
	// Settings are other backends' own settings by backend ID (the AWS
	// stores, registered from their own package, read theirs here).
	Settings map[string]any
}

// LocalConfig configures the local backend.
type LocalConfig struct {
	// DataDir holds the master key file secrets.key (created if missing).
	DataDir string
	// Blobs persists the sealed secrets; the Spacepods store implements it.
	Blobs BlobStore
	// MasterKey, when set, is used instead of SPACEPODS_MASTER_KEY and the
	// key file (tests, embedding).
	MasterKey []byte
	// PreviousKey, when set, is used instead of
	// SPACEPODS_MASTER_KEY_PREVIOUS (see Local.SetPreviousKey).
	PreviousKey []byte
}

// VaultConfig configures the vault backend.
type VaultConfig struct {
	Address   string // e.g. https://vault.example.com:8200 (--vault-addr)
	Token     string // a Vault token; or RoleID and SecretID for AppRole
	RoleID    string // AppRole role_id
	SecretID  string // AppRole secret_id
	AuthMount string // where AppRole is enabled; default "approle"
	Mount     string // KV v2 mount; default "secret"
	Namespace string // Vault Enterprise namespace, sent as X-Vault-Namespace
	// PathPrefix goes before every ref, e.g. "spacepods" stores
	// apps/x/TOKEN at <mount>/data/spacepods/apps/x/TOKEN.
	PathPrefix string
	// Timeout bounds one request; 0 means the client default (60s).
	Timeout time.Duration
	// MaxRetries of a request that failed to connect or got a 5xx; 0 means
	// the client default (2), a negative number means none.
	MaxRetries int
}

// Factory opens a backend.
type Factory func(ctx context.Context, cfg Config) (Store, error)

var backends = registry.New[Factory]("secret store")

// The built-in backends, all registered here.
func init() {
	Register("local", func(ctx context.Context, cfg Config) (Store, error) { return OpenLocal(ctx, cfg.Local) })
	Register("vault", func(ctx context.Context, cfg Config) (Store, error) { return NewVault(ctx, cfg.Vault) })
}

// Register adds a backend under id. It panics on an empty or duplicate id,
// which is a programming error.
func Register(id string, f Factory) { backends.Register(id, f) }

// Backends returns the registered backend IDs, sorted.
func Backends() []string { return backends.IDs() }

// Open opens the backend registered under id. EINVALID for an unknown id
// (the message lists the known ones) or a bad config.
func Open(ctx context.Context, id string, cfg Config) (Store, error) {
	f, err := backends.Lookup(id)
	if err != nil {
		return nil, err
	}
	return f(ctx, cfg)
}
