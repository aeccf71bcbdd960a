package secrets_test

import (
	"context"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/secrets/vaulttest"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

func TestValidateRef(t *testing.T) {
	for _, tc := range []struct {
		name, ref string
		ok        bool
	}{
		{"typical", "apps/catalog-api/production/API_TOKEN", true},
		{"one segment", "TOKEN", true},
		{"dots inside a name", "apps/a/v1.2/KEY.pem", true},
		{"longest", strings.Repeat("x", secrets.MaxRefLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("x", secrets.MaxRefLen+1), false},
		{"leading slash", "/apps/a", false},
		{"trailing slash", "apps/a/", false},
		{"double slash", "apps//a", false},
		{"dot-dot segment", "apps/../a", false},
		{"dot-dot inside", "apps/a..b", false},
		{"dot segment", "apps/./a", false},
		{"space", "apps/a b", false},
		{"non-ASCII", "apps/ä", false},
		{"backslash", `apps\a`, false},
		{"NUL", "apps/a\x00", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := secrets.ValidateRef(tc.ref)
			if tc.ok && err != nil {
				t.Fatalf("ValidateRef(%q) = %v, want ok", tc.ref, err)
			}
			if !tc.ok && spacepods.ErrorCode(err) != spacepods.EINVALID {
				t.Fatalf("ValidateRef(%q) = %v, want EINVALID", tc.ref, err)
			}
		})
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		ok           bool
	}{
		{"empty lists all", "", true},
		{"folder", "apps/catalog-api/", true},
		{"partial segment", "apps/cat", true},
		{"leading slash", "/apps", false},
		{"double slash", "apps//", false},
		{"dot-dot", "apps/..", false},
		{"bad character", "apps/*", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := secrets.ValidatePrefix(tc.prefix)
			if tc.ok != (err == nil) {
				t.Fatalf("ValidatePrefix(%q) = %v, want ok=%v", tc.prefix, err, tc.ok)
			}
		})
	}
}

func TestOpen_UnknownBackendListsKnownOnes(t *testing.T) {
	_, err := secrets.Open(context.Background(), "awsssm-typo", secrets.Config{})
	if spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Fatalf("err = %v, want EINVALID", err)
	}
	msg := spacepods.ErrorMessage(err)
	for _, id := range []string{"local", "vault", "awsssm-typo"} {
		if !strings.Contains(msg, id) {
			t.Errorf("message %q does not mention %q", msg, id)
		}
	}
}

func TestOpen_BuiltinBackends(t *testing.T) {
	ctx := context.Background()
	key, _ := secrets.GenerateMasterKey()
	local, err := secrets.Open(ctx, "local", secrets.Config{Local: secrets.LocalConfig{Blobs: storetest.MustOpenSQLite(t), MasterKey: key}})
	if err != nil || local.Name() != "local" {
		t.Fatalf("open local: %v", err)
	}
	if _, ok := local.(secrets.KeyRotator); !ok {
		t.Error("local does not offer key rotation")
	}
	srv := vaulttest.New(t)
	v, err := secrets.Open(ctx, "vault", secrets.Config{Vault: secrets.VaultConfig{Address: srv.URL, Token: srv.RootToken}})
	if err != nil || v.Name() != "vault" {
		t.Fatalf("open vault: %v", err)
	}
	if _, ok := v.(secrets.KeyRotator); ok {
		t.Error("vault claims key rotation")
	}
}

func TestOpen_BadConfigIsInvalid(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, id string
		cfg      secrets.Config
		want     string
	}{
		{"local without database", "local", secrets.Config{Local: secrets.LocalConfig{MasterKey: make([]byte, 32)}}, "blob store"},
		{"local with short key", "local", secrets.Config{Local: secrets.LocalConfig{Blobs: storetest.MustOpenSQLite(t), MasterKey: make([]byte, 16)}}, "32 bytes"},
		{"vault without address", "vault", secrets.Config{Vault: secrets.VaultConfig{Token: "t"}}, "--vault-addr"},
		{"vault without credentials", "vault", secrets.Config{Vault: secrets.VaultConfig{Address: "http://127.0.0.1:1"}}, "--vault-token"},
		{"vault with half an AppRole", "vault", secrets.Config{Vault: secrets.VaultConfig{Address: "http://127.0.0.1:1", RoleID: "r"}}, "secret_id"},
		{"vault with token and AppRole", "vault", secrets.Config{Vault: secrets.VaultConfig{Address: "http://127.0.0.1:1", Token: "t", RoleID: "r", SecretID: "s"}}, "not both"},
		{"vault with bad mount", "vault", secrets.Config{Vault: secrets.VaultConfig{Address: "http://127.0.0.1:1", Token: "t", Mount: "a b"}}, "--vault-mount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := secrets.Open(ctx, tc.id, tc.cfg)
			if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), tc.want) {
				t.Fatalf("err = %v, want EINVALID mentioning %q", err, tc.want)
			}
		})
	}
}

func TestRegister_DuplicatePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("registering \"local\" twice did not panic")
		}
	}()
	secrets.Register("local", func(context.Context, secrets.Config) (secrets.Store, error) { return nil, nil })
}
