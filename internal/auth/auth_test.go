package auth_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

func TestBootstrap_WritesTheFirstAdminTokenOnceWithMode0600(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	svc := &auth.Service{Store: st}
	dir := t.TempDir()
	path, created, err := svc.Bootstrap(context.Background(), dir)
	if err != nil || !created || path != filepath.Join(dir, "admin.token") {
		t.Fatalf("bootstrap: %s %v %v", path, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v", fi.Mode(), err)
	}
	secret, err := auth.ReadTokenFile(path)
	if err != nil || !strings.HasPrefix(secret, auth.TokenPrefix) {
		t.Fatalf("read: %q %v", secret, err)
	}
	tok, err := svc.Authenticate(context.Background(), secret)
	if err != nil || tok.Role != spacepods.RoleAdmin {
		t.Fatalf("authenticate: %+v %v", tok, err)
	}
	if _, again, err := svc.Bootstrap(context.Background(), dir); err != nil || again {
		t.Fatalf("second bootstrap must not create another token: %v %v", again, err)
	}
	ts, _ := svc.List(context.Background())
	if len(ts) != 1 {
		t.Fatalf("tokens: %+v", ts)
	}
}

func TestTokens_StoredHashedAndValidated(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	svc := &auth.Service{Store: st}
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "root", Role: spacepods.RoleAdmin})
	secret, tok, err := svc.Create(ctx, "ci", spacepods.RoleDeveloper)
	if err != nil || tok.Role != spacepods.RoleDeveloper {
		t.Fatal(err)
	}
	var n int
	st.DB().QueryRow(`SELECT count(*) FROM tokens WHERE hash = ?`, secret).Scan(&n)
	if n != 0 {
		t.Fatal("the secret itself is stored")
	}
	st.DB().QueryRow(`SELECT count(*) FROM tokens WHERE hash = ?`, auth.Hash(secret)).Scan(&n)
	if n != 1 {
		t.Fatal("the hash is not stored")
	}
	for _, c := range []struct{ name, role, want string }{
		{"Bad Name", "viewer", "not a valid name"},
		{"ok", "root", "admin, developer or viewer"},
	} {
		if _, _, err := svc.Create(ctx, c.name, c.role); spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), c.want) {
			t.Errorf("create %q %q: %v", c.name, c.role, err)
		}
	}
	if _, err := svc.Authenticate(ctx, ""); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Fatalf("empty token: %v", err)
	}
	if err := svc.Revoke(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, secret); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Fatalf("revoked token: %v", err)
	}
}
