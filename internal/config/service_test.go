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

var catalogApp = spacepods.App{Name: "catalog-api", Kind: spacepods.KindWeb, Port: 8080, Dependencies: []string{"pricing-api"}, Env: map[string]string{"LOG_LEVEL": "info", "MODE": "x"}}

func as(role string) context.Context {
	return spacepods.WithActor(context.Background(), &spacepods.Token{Name: "t-" + role, Role: role})
}

func TestConfig_MostSpecificScopeWins(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		sec := secretstest.NewMemory()
		svc := &config.Service{Store: st, Secrets: sec}
		ctx := as(spacepods.RoleDeveloper)
		must := func(req spacepods.SetConfigRequest) {
			t.Helper()
			if _, err := svc.Set(ctx, catalogApp, req); err != nil {
				t.Fatal(err)
			}
		}
		must(spacepods.SetConfigRequest{Vars: map[string]string{"LOG_LEVEL": "warn", "COLOR": "blue"}})
		must(spacepods.SetConfigRequest{Scope: "pods", Vars: map[string]string{"LOG_LEVEL": "debug"}})
		must(spacepods.SetConfigRequest{Scope: "env:production", Vars: map[string]string{"LOG_LEVEL": "error"}})
		must(spacepods.SetConfigRequest{Scope: "env:production", Vars: map[string]string{"API_TOKEN": "s3cr3t-prod"}, Secret: true})
		cases := []struct {
			name, env, kind, want string
			secret                bool
		}{
			{"pod gets the pods scope", "alice", spacepods.EnvPod, "debug", false},
			{"master gets all", "staging", spacepods.EnvMaster, "warn", false},
			{"named env beats all", "production", spacepods.EnvMaster, "error", true},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				custom, err := svc.CustomFor(ctx, "catalog-api", c.env, c.kind)
				if err != nil {
					t.Fatal(err)
				}
				composed := config.Compose(config.Inputs{Env: c.env, App: catalogApp, Build: spacepods.Build{Number: 3, GitSHA: "abcdef1"}})
				vars, refs := config.Merge(composed, catalogApp, custom)
				if vars["LOG_LEVEL"] != c.want || vars["COLOR"] != "blue" || vars["MODE"] != "x" || vars["SPACEPODS_ENV"] != c.env {
					t.Fatalf("vars %v", vars)
				}
				if _, ok := refs["API_TOKEN"]; ok != c.secret {
					t.Fatalf("secret refs %v", refs)
				}
				for k, v := range vars {
					if strings.Contains(v, "s3cr3t") {
						t.Fatalf("secret value in plain vars: %s", k)
					}
				}
				if c.secret {
					vals, err := svc.ResolveSecrets(ctx, refs)
					if err != nil || vals["API_TOKEN"] != "s3cr3t-prod" {
						t.Fatalf("resolve: %v %v", vals, err)
					}
				}
			})
		}
		list, err := svc.List(ctx, "catalog-api", "env:production", false)
		if err != nil || len(list) != 2 {
			t.Fatalf("list: %+v %v", list, err)
		}
		for _, v := range list {
			if v.Key == "API_TOKEN" && (v.Value != "" || !v.Secret || v.UpdatedBy != "t-developer") {
				t.Fatalf("secret listed without reveal must have no value: %+v", v)
			}
		}
		revealed, err := svc.List(as(spacepods.RoleAdmin), "catalog-api", "env:production", true)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, v := range revealed {
			found = found || v.Key == "API_TOKEN" && v.Value == "s3cr3t-prod"
		}
		if !found {
			t.Fatalf("reveal: %+v", revealed)
		}
		audit, _ := st.ListAudit(ctx, 0, 1)
		if len(audit) != 1 || audit[0].Action != "config.reveal" || strings.Contains(audit[0].Details, "s3cr3t") {
			t.Fatalf("reveal must be audited without the value: %+v", audit)
		}
		if err := svc.Unset(ctx, "catalog-api", "env:production", "API_TOKEN"); err != nil {
			t.Fatal(err)
		}
		if sec.Len() != 0 {
			t.Fatalf("unset left %d secrets in the store", sec.Len())
		}
	})
}

func TestConfig_BadInputIsRejectedAndKeepsOldValues(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	sec := secretstest.NewMemory()
	svc := &config.Service{Store: st, Secrets: sec}
	ctx := as(spacepods.RoleDeveloper)
	if _, err := svc.Set(ctx, catalogApp, spacepods.SetConfigRequest{Vars: map[string]string{"TOKEN": "old"}, Secret: true}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  spacepods.SetConfigRequest
		code string
		want string
	}{
		{"invalid name", spacepods.SetConfigRequest{Vars: map[string]string{"1BAD": "x"}}, spacepods.EINVALID, "not a valid env var name"},
		{"standard var", spacepods.SetConfigRequest{Vars: map[string]string{"DATABASE_URL": "x"}}, spacepods.EINVALID, "--override"},
		{"dependency url", spacepods.SetConfigRequest{Vars: map[string]string{"PRICING_API_URL": "x"}}, spacepods.EINVALID, "set by Spacepods"},
		{"too large", spacepods.SetConfigRequest{Vars: map[string]string{"BIG": strings.Repeat("a", spacepods.MaxConfigValue+1)}}, spacepods.ETOOLARGE, "over the limit"},
		{"bad scope", spacepods.SetConfigRequest{Scope: "prod", Vars: map[string]string{"A": "b"}}, spacepods.EINVALID, "env:<name>"},
		{"nothing", spacepods.SetConfigRequest{}, spacepods.EINVALID, "nothing to set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := svc.Set(ctx, catalogApp, c.req)
			if spacepods.ErrorCode(err) != c.code || !strings.Contains(spacepods.ErrorMessage(err), c.want) {
				t.Fatalf("want %s %q, got %v", c.code, c.want, err)
			}
		})
	}
	sec.FailPuts(spacepods.Errorf(spacepods.EUNAVAILABLE, "secret store down"))
	if _, err := svc.Set(ctx, catalogApp, spacepods.SetConfigRequest{Vars: map[string]string{"TOKEN": "new"}, Secret: true}); err == nil {
		t.Fatal("a failed secret write must fail the set")
	}
	sec.FailPuts(nil)
	c, _ := svc.CustomFor(ctx, "catalog-api", "x", spacepods.EnvMaster)
	got, _ := svc.ResolveSecrets(ctx, c.Refs)
	if got["TOKEN"] != "old" {
		t.Fatalf("a failed write must keep the old value, got %q", got["TOKEN"])
	}
	if _, err := svc.Set(as(spacepods.RoleAdmin), catalogApp, spacepods.SetConfigRequest{Vars: map[string]string{"PORT": "9090"}, Override: true}); err != nil {
		t.Fatalf("explicit override: %v", err)
	}
	c, _ = svc.CustomFor(ctx, "catalog-api", "x", spacepods.EnvMaster)
	vars, _ := config.Merge(config.Compose(config.Inputs{Env: "x", App: catalogApp}), catalogApp, c)
	if vars["PORT"] != "9090" {
		t.Fatalf("override not applied: %v", vars["PORT"])
	}
	audit, _ := st.ListAudit(ctx, 0, 1)
	if !strings.Contains(audit[0].Details, "overrides a standard var") {
		t.Fatalf("override must be audited: %+v", audit[0])
	}
}

// countingSecrets counts the values read from it.
type countingSecrets struct {
	*secretstest.Memory
	gets int
}

func (s *countingSecrets) Get(ctx context.Context, ref string) ([]byte, error) {
	s.gets++
	return s.Memory.Get(ctx, ref)
}

// TestConfig_RevealFailsWhenItsAuditEntryCannotBeWritten: an admin's reveal
// is audited before any value is read; with the audit log unwritable (its
// table gone) the reveal fails, reads no secret and returns none, and a
// listing without reveal still works.
func TestConfig_RevealFailsWhenItsAuditEntryCannotBeWritten(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		sec := &countingSecrets{Memory: secretstest.NewMemory()}
		svc := &config.Service{Store: st, Secrets: sec}
		ctx := as(spacepods.RoleAdmin)
		const planted = "PLANTED-reveal-7e2a"
		if _, err := svc.Set(ctx, catalogApp, spacepods.SetConfigRequest{Vars: map[string]string{"API_TOKEN": planted}, Secret: true}); err != nil {
			t.Fatal(err)
		}
		vars, err := svc.List(ctx, "catalog-api", "", true)
		if err != nil || len(vars) != 1 || vars[0].Value != planted {
			t.Fatalf("reveal with a working audit log = %+v, %v", vars, err)
		}
		if a, _ := st.ListAudit(ctx, 0, 1); len(a) == 0 || a[0].Action != "config.reveal" {
			t.Fatalf("the reveal was not audited: %+v", a)
		}

		// The audit log breaks (as a full disk or a lost table would).
		if _, err := st.DB().ExecContext(ctx, "ALTER TABLE audit RENAME TO audit_unwritable"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.DB().ExecContext(context.Background(), "ALTER TABLE audit_unwritable RENAME TO audit") })
		sec.gets = 0
		vars, err = svc.List(ctx, "catalog-api", "", true)
		if err == nil {
			t.Fatalf("reveal with an unwritable audit log returned %+v and no error", vars)
		}
		if vars != nil || strings.Contains(err.Error(), planted) {
			t.Fatalf("the failed reveal returned %+v, %v: the secret must not come back", vars, err)
		}
		if sec.gets != 0 {
			t.Errorf("the failed reveal read %d secret values from the store, want none", sec.gets)
		}
		if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE || !strings.Contains(spacepods.ErrorMessage(err), "audit log") {
			t.Errorf("error %v: want unavailable, saying the audit log failed", err)
		}
		vars, err = svc.List(ctx, "catalog-api", "", false)
		if err != nil || len(vars) != 1 || vars[0].Value != "" || !vars[0].Secret {
			t.Fatalf("listing without reveal = %+v, %v; want the masked var", vars, err)
		}
	})
}
