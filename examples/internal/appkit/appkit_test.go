package appkit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEnvHidesSecrets(t *testing.T) {
	t.Setenv("SPACEPODS_ENV", "qa")
	t.Setenv("SPACEPODS_DEPLOY_TOKEN", "tok-123")
	t.Setenv("CATALOG_API_URL", "http://catalog-api:8080")
	t.Setenv("UPSTREAM_URL", "https://user:pw-456@example.com/x")
	t.Setenv("DATABASE_URL", "postgres://u:db-789@db/x")
	t.Setenv("STRIPE_SECRET_KEY", "sk-abc")
	t.Setenv("SMTP_PASSWORD", "pw-def")
	t.Setenv("LOG_LEVEL", "debug")
	r := (&App{Name: "x"}).Env()
	for name, want := range map[string]string{
		"SPACEPODS_ENV": "qa", "SPACEPODS_DEPLOY_TOKEN": "set", "CATALOG_API_URL": "http://catalog-api:8080",
		"STRIPE_SECRET_KEY": "set", "SMTP_PASSWORD": "set", "LOG_LEVEL": "debug",
	} {
		got := r.Spacepods[name] + r.Dependencies[name] + r.Env[name]
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if r.Database != "set" {
		t.Errorf("database = %q, want set", r.Database)
	}
	if v := r.Dependencies["UPSTREAM_URL"]; strings.Contains(v, "pw-456") {
		t.Errorf("UPSTREAM_URL shows its password: %q", v)
	}
}

func TestHealthz(t *testing.T) {
	for mode, want := range map[string]int{ModeNormal: 200, ModeUnhealthy: 500, ModeCrash: 200, ModeBadMigrate: 200} {
		a := &App{Name: "x", Mode: mode}
		rec := httptest.NewRecorder()
		a.Mux().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if rec.Code != want {
			t.Errorf("mode %q: /healthz = %d, want %d", mode, rec.Code, want)
		}
	}
	a := &App{Name: "x"}
	a.draining.Store(true)
	rec := httptest.NewRecorder()
	a.Mux().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("draining: /healthz = %d, want 503", rec.Code)
	}
}
