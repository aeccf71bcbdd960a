package config_test

import (
	"testing"

	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/secrets/secretstest"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestConfig_WithoutSecretsDropsSecretsAndEnvScopedVars: a fork's pull
// request pod gets neither a secret (of any scope) nor a var set for that
// environment by name; plain vars of the pods and all scopes stay.
func TestConfig_WithoutSecretsDropsSecretsAndEnvScopedVars(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		svc := &config.Service{Store: st, Secrets: secretstest.NewMemory()}
		ctx := as(spacepods.RoleAdmin)
		for _, req := range []spacepods.SetConfigRequest{
			{Vars: map[string]string{"COLOR": "blue"}},
			{Scope: "pods", Vars: map[string]string{"LOG_LEVEL": "debug"}},
			{Scope: "pods", Vars: map[string]string{"PODS_TOKEN": "s3cr3t-pods"}, Secret: true},
			{Vars: map[string]string{"ALL_TOKEN": "s3cr3t-all"}, Secret: true},
			{Scope: "env:pr-7-catalog-api", Vars: map[string]string{"DB_PASSWORD": "plain-but-env-scoped"}},
			{Scope: "env:pr-7-catalog-api", Vars: map[string]string{"SPACEPODS_ENV": "hijack"}, Override: true},
		} {
			if _, err := svc.Set(ctx, catalogApp, req); err != nil {
				t.Fatal(err)
			}
		}
		custom, err := svc.CustomFor(ctx, "catalog-api", "pr-7-catalog-api", spacepods.EnvPod)
		if err != nil {
			t.Fatal(err)
		}
		composed := config.Compose(config.Inputs{Env: "pr-7-catalog-api", App: catalogApp, Build: spacepods.Build{Number: 3, GitSHA: "abcdef1"}})
		full, fullRefs := config.Merge(composed, catalogApp, custom)
		if len(fullRefs) != 2 || full["DB_PASSWORD"] == "" || full["SPACEPODS_ENV"] != "hijack" {
			t.Fatalf("the trusted pod should get everything: %v %v", full, fullRefs)
		}
		vars, refs := config.Merge(composed, catalogApp, custom.WithoutSecrets())
		if len(refs) != 0 {
			t.Fatalf("secret refs reached a no-secrets pod: %v", refs)
		}
		if _, ok := vars["DB_PASSWORD"]; ok {
			t.Fatalf("an env-scoped var reached a no-secrets pod: %v", vars)
		}
		if vars["SPACEPODS_ENV"] != "pr-7-catalog-api" || vars["COLOR"] != "blue" || vars["LOG_LEVEL"] != "debug" {
			t.Fatalf("vars %v", vars)
		}
	})
}
