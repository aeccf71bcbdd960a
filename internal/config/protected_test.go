package config_test

import (
	"context"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/secrets/secretstest"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

func mkEnv(t *testing.T, st *store.Store, name, kind string, protected bool) {
	t.Helper()
	if _, err := st.CreateEnvironment(as(spacepods.RoleAdmin), spacepods.Environment{Name: name, Kind: kind, Owner: "t-admin", Status: spacepods.StatusReady, Protected: protected, Apps: []string{}}); err != nil {
		t.Fatal(err)
	}
}

// TestConfig_ProtectedEnvironmentsConfigIsChangedOnlyByAdmins: a developer
// may not set or unset what reaches a protected environment (its own
// scope, and "all", which reaches it too); pods and unprotected
// environments stay theirs.
func TestConfig_ProtectedEnvironmentsConfigIsChangedOnlyByAdmins(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		svc := &config.Service{Store: st, Secrets: secretstest.NewMemory()}
		dev, admin := as(spacepods.RoleDeveloper), as(spacepods.RoleAdmin)
		set := func(ctx context.Context, scope string, secret bool) error {
			_, err := svc.Set(ctx, catalogApp, spacepods.SetConfigRequest{Scope: scope, Vars: map[string]string{"API_TOKEN": "v"}, Secret: secret})
			return err
		}
		// No protected environment yet: "all" is a developer's.
		mkEnv(t, st, "staging", spacepods.EnvMaster, false)
		if err := set(dev, "all", false); err != nil {
			t.Fatalf("developer sets all with no protected environment: %v", err)
		}
		mkEnv(t, st, "production", spacepods.EnvMaster, true)
		mkEnv(t, st, "p1", spacepods.EnvPod, false)

		for _, c := range []struct {
			scope  string
			secret bool
			want   string // "" = allowed
		}{
			{"env:production", false, "environment production is protected: an admin must"},
			{"env:production", true, "environment production is protected: an admin must"},
			{"all", false, "scope all reaches every environment, protected production included"},
			{"all", true, "--pods"},
			{"pods", true, ""},
			{"env:staging", false, ""},
			{"env:p1", true, ""},
		} {
			err := set(dev, c.scope, c.secret)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("developer sets %s (secret %v): %v", c.scope, c.secret, err)
			case c.want != "" && (spacepods.ErrorCode(err) != spacepods.EFORBIDDEN || !strings.Contains(spacepods.ErrorMessage(err), c.want)):
				t.Errorf("developer sets %s (secret %v): %v, want EFORBIDDEN saying %q", c.scope, c.secret, err, c.want)
			}
			if err := set(admin, c.scope, c.secret); err != nil {
				t.Errorf("admin sets %s: %v", c.scope, err)
			}
		}
		for _, scope := range []string{"env:production", "all"} {
			if err := svc.Unset(dev, catalogApp.Name, scope, "API_TOKEN"); spacepods.ErrorCode(err) != spacepods.EFORBIDDEN {
				t.Errorf("developer unsets %s: %v, want EFORBIDDEN", scope, err)
			}
		}
		if err := svc.Unset(dev, catalogApp.Name, "pods", "API_TOKEN"); err != nil {
			t.Errorf("developer unsets pods: %v", err)
		}
		// The refused writes changed nothing: production keeps the admin's values.
		c, err := svc.CustomFor(admin, catalogApp.Name, "production", spacepods.EnvMaster)
		if err != nil || c.Scopes["API_TOKEN"] != "env:production" {
			t.Fatalf("production's API_TOKEN: %+v %v", c, err)
		}
		for _, scope := range []string{"env:production", "all"} {
			if err := svc.Unset(admin, catalogApp.Name, scope, "API_TOKEN"); err != nil {
				t.Errorf("admin unsets %s: %v", scope, err)
			}
		}
	})
}
