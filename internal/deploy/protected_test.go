package deploy_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func actor(name, role string) context.Context {
	return spacepods.WithActor(context.Background(), &spacepods.Token{Name: name, Role: role})
}

// TestDeploy_ManifestChangeInProtectedEnvironmentRunsOnlyWhenAnAdminConfirmsIt
// runs the whole flow on Docker: pricing-api runs in a protected
// environment; a developer re-registers it with a migration; the next
// deploy is refused with the plan; a developer cannot confirm; the admin's
// confirmed deploy runs the migration and records the manifest version on
// the release. A confirmation of a manifest that is re-registered again
// before the deploy runs is not honoured: the deploy rolls back, nothing
// changed.
func TestDeploy_ManifestChangeInProtectedEnvironmentRunsOnlyWhenAnAdminConfirmsIt(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{})
	root := actor("root", spacepods.RoleAdmin)
	bob := actor("bob", spacepods.RoleDeveloper)
	ctx := podstest.Context(t, 5*time.Minute)
	env := s.EnvName("prot")
	if _, err := s.Pods.CreateMaster(root, env, true); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBuild(ctx, "pricing-api", podstest.BuildNormal2, ""); err != nil {
		t.Fatal(err)
	}
	submit := func(ctx context.Context, req deploy.Request) spacepods.Deploy {
		t.Helper()
		d, err := s.Engine().Submit(ctx, req)
		if err != nil {
			t.Fatalf("submit %+v: %v", req, err)
		}
		return waitDeploy(t, s, d.ID)
	}
	// The first deploy there needs no confirmation: nothing runs yet.
	d1 := submit(root, deploy.Request{Env: env, App: "pricing-api", Build: podstest.BuildNormal})
	wantStatus(t, s, d1, spacepods.DeployCompleted)

	m, err := s.Manifest("pricing-api")
	if err != nil {
		t.Fatal(err)
	}
	migrating := m + "migrate: [\"/app\", \"version\"]\n"
	app, err := s.Register(bob, "pricing-api", migrating)
	if err != nil {
		t.Fatal(err)
	}

	req := deploy.Request{Env: env, App: "pricing-api", Build: podstest.BuildNormal2}
	_, err = s.Engine().Submit(root, req)
	var ce *deploy.ConfirmationError
	if !errors.As(err, &ce) || spacepods.ErrorCode(err) != spacepods.ECONFLICT {
		t.Fatalf("unconfirmed deploy: %v, want a ConfirmationError", err)
	}
	for _, want := range []string{`! migrate: (none) → ["/app","version"]`, "by bob", spacepods.ConfirmFlag} {
		if msg := spacepods.ErrorMessage(err); !strings.Contains(msg, want) {
			t.Errorf("refusal lacks %q:\n%s", want, msg)
		}
	}
	if ce.Plan.Manifest != app.Version || len(ce.Plan.Registrations) != 1 || ce.Plan.Registrations[0].By != "bob" {
		t.Errorf("plan: %+v", ce.Plan)
	}
	req.ConfirmVersion = app.Version
	if _, err := s.Engine().Submit(bob, req); spacepods.ErrorCode(err) != spacepods.EFORBIDDEN {
		t.Fatalf("developer confirming: %v", err)
	}

	d2 := submit(root, req)
	wantStatus(t, s, d2, spacepods.DeployCompleted)
	if d2.ConfirmedBy != "root" || d2.ManifestVersion != app.Version {
		t.Errorf("deploy %d: confirmed by %q for version %d", d2.ID, d2.ConfirmedBy, d2.ManifestVersion)
	}
	if st := d2.Steps[2]; st.Name != "migrate" || st.Status != "done" {
		t.Errorf("the confirmed migration did not run: %+v", st)
	}
	rel, err := s.Store.GetRelease(ctx, env, "pricing-api", d2.Release)
	if err != nil || !slices.Equal(rel.Migrate, []string{"/app", "version"}) || rel.AppVersion != app.Version {
		t.Fatalf("release %d: %+v %v", d2.Release, rel, err)
	}
	evs, _ := s.Store.Events(ctx, env, d2.ID, 0, 1000)
	if !slices.ContainsFunc(evs, func(e spacepods.Event) bool { return strings.Contains(e.Message, "confirmed by root") }) {
		t.Errorf("no event records the confirmation:\n%s", describe(s, d2))
	}

	// Confirmed, then re-registered before it ran: not honoured.
	s.StopEngine()
	changed := strings.Replace(migrating, `SALE_PERCENT: "0"`, `SALE_PERCENT: "50"`, 1)
	if changed == migrating {
		t.Fatal("pricing-api manifest: no SALE_PERCENT to change")
	}
	v3, err := s.Register(bob, "pricing-api", changed)
	if err != nil {
		t.Fatal(err)
	}
	d3, err := s.Engine().Submit(root, deploy.Request{Env: env, App: "pricing-api", Build: podstest.BuildNormal, ConfirmVersion: v3.Version})
	if err != nil {
		t.Fatal(err)
	}
	sneaky := strings.Replace(changed, `["/app", "version"]`, `["/app", "healthcheck"]`, 1)
	if _, err := s.Register(bob, "pricing-api", sneaky); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartEngine(); err != nil {
		t.Fatal(err)
	}
	d3 = waitDeploy(t, s, d3.ID)
	wantStatus(t, s, d3, spacepods.DeployRolledBack)
	if !strings.Contains(d3.Error, "re-registered since") || d3.Step != "register_release" {
		t.Errorf("stale confirmation: %s", describe(s, d3))
	}
	ea, err := s.Store.GetEnvApp(ctx, env, "pricing-api")
	if err != nil || ea.Release != d2.Release {
		t.Fatalf("after the refused deploy %s runs %+v, want release %d still", env, ea, d2.Release)
	}
	requireOnlyRelease(t, s, env, "pricing-api", d2.Release, 1)
}
