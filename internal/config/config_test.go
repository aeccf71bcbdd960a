package config_test

import (
	"testing"

	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestCompose_StandardVarsWinAndDependencyURLsAreNamed(t *testing.T) {
	app := spacepods.App{Name: "storefront", Kind: spacepods.KindWeb, Port: 8080, Env: map[string]string{"LOG_LEVEL": "info", "PORT": "1"}}
	got := config.Compose(config.Inputs{
		Env: "demo", App: app,
		Build:       spacepods.Build{Number: 7, GitSHA: "abcdef1"},
		DatabaseURL: "postgres://u:p@h:5432/db",
		Deps:        map[string]string{"catalog-api": "http://catalog-api:8080", "mailer": ""},
	})
	want := map[string]string{
		"SPACEPODS_ENV": "demo", "SPACEPODS_APP": "storefront", "SPACEPODS_BUILD": "7", "SPACEPODS_GIT_SHA": "abcdef1",
		"PORT": "8080", "DATABASE_URL": "postgres://u:p@h:5432/db", "CATALOG_API_URL": "http://catalog-api:8080", "LOG_LEVEL": "info",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("extra vars: %v", got)
	}
	if u := config.DependencyURL(spacepods.App{Name: "mailer", Kind: spacepods.KindWorker}); u != "" {
		t.Errorf("a worker has no URL, got %q", u)
	}
}
