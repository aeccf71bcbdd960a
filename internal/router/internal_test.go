package router

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// TestRouter_InternalListenerAdmitsOnlyTheEnvironmentsOwnContainers: the
// internal listener routes a call to an app of environment alice only when
// it comes from alice's subnet (here loopback, 127.0.0.0/8); bob's subnet
// does not contain it, so bob's apps answer 403, as does an environment
// with no subnet; subnets survive a restart through the snapshot.
func TestRouter_InternalListenerAdmitsOnlyTheEnvironmentsOwnContainers(t *testing.T) {
	opts := testOptions(t)
	opts.SnapshotPath = filepath.Join(t.TempDir(), "routes.json")
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	internal := httptest.NewServer(r.InternalHandler())
	t.Cleanup(internal.Close)

	b := newBackend(t, "a")
	for env, subnet := range map[string]string{"alice": "127.0.0.0/8", "bob": "10.0.0.0/8", "carol": ""} {
		if err := r.SetEnvironment(env, subnet); err != nil {
			t.Fatal(err)
		}
		mustSetGroup(t, r, env, "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{b.addr, 1}}})
		waitHealthy(t, r, env, "web", b.addr)
	}
	c := newTestClient(t)
	if res := send(t, c, internal, "GET", "web.alice.localhost", "/", ""); res.status != 200 || res.body != "a" {
		t.Errorf("alice's own call: %d %q, want 200 \"a\"", res.status, res.body)
	}
	for _, h := range []string{"web.bob.localhost", "web.carol.localhost"} {
		if res := send(t, c, internal, "GET", h, "/", ""); res.status != http.StatusForbidden {
			t.Errorf("a call from outside its subnet to %s: %d %q, want 403", h, res.status, res.body)
		}
	}
	if err := r.SetEnvironment("bob", "not-a-subnet"); err == nil {
		t.Errorf("SetEnvironment with a bad subnet: no error")
	}
	r.Close()

	r2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r2.Close() })
	r2.mu.RLock()
	got := r2.nets["alice"].String()
	_, bobHas := r2.nets["carol"]
	r2.mu.RUnlock()
	if got != "127.0.0.0/8" || bobHas {
		t.Errorf("subnets after a restart: alice %q, carol present %v; want 127.0.0.0/8 and none", got, bobHas)
	}
}
