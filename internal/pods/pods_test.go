package pods_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacepods/spacepods/internal/notify/notifytest"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// createPod creates a pod and waits until it is ready.
func createPod(t *testing.T, s *podstest.Stack, req spacepods.CreatePodRequest) spacepods.Environment {
	t.Helper()
	ctx := podstest.Context(t, 3*time.Minute)
	if _, _, err := s.Pods.Create(ctx, req); err != nil {
		t.Fatalf("create pod %s: %v", req.Name, err)
	}
	env, err := s.WaitEnv(ctx, req.Name, spacepods.StatusReady)
	if err != nil {
		t.Fatalf("pod %s never became ready: %v\n%s", req.Name, err, events(t, s, req.Name))
	}
	return env
}

// events renders a pod's events (for failure messages).
func events(t *testing.T, s *podstest.Stack, env string) string {
	evs, err := s.Pods.Events(context.Background(), env, 0)
	if err != nil {
		return "events: " + err.Error()
	}
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s %-5s %s %s\n", e.At.Format("15:04:05.000"), e.Level, e.App, e.Message)
	}
	return b.String()
}

// destroy destroys a pod and waits until it is gone.
func destroy(t *testing.T, s *podstest.Stack, name string) {
	t.Helper()
	ctx := podstest.Context(t, 2*time.Minute)
	if err := s.Pods.Destroy(ctx, name); err != nil {
		t.Fatalf("destroy %s: %v", name, err)
	}
	if err := s.WaitDestroyed(ctx, name); err != nil {
		t.Fatalf("%v\n%s", err, events(t, s, name))
	}
}

// requireNoLeaks fails the test if anything of the stack's environments
// is left on Docker, PostgreSQL or the router.
func requireNoLeaks(t *testing.T, s *podstest.Stack) {
	t.Helper()
	leaks, err := s.LeaksOf(podstest.Context(t, time.Minute))
	if err != nil {
		t.Fatalf("leak audit: %v", err)
	}
	if len(leaks) > 0 {
		t.Fatalf("leaks:\n%s", podstest.FormatLeaks(leaks))
	}
}

// envOf GETs app's /env through the router and flattens the report.
func envOf(t *testing.T, s *podstest.Stack, env, app string) map[string]string {
	t.Helper()
	status, body, err := s.Get(podstest.Context(t, time.Minute), env, app, "/env")
	if err != nil || status != 200 {
		t.Fatalf("GET %s /env = %d, %v\n%s", app, status, err, body)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("decode /env: %v\n%s", err, body)
	}
	return flatten(raw)
}

func TestPod_ExampleServesThroughTheRouterAndUpdates(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{})
	name := s.EnvName("shop")
	createPod(t, s, spacepods.CreatePodRequest{Name: name, Apps: []string{"storefront"}, TTL: "1h"})

	t.Run("storefront lists products with prices", func(t *testing.T) {
		ctx := podstest.Context(t, time.Minute)
		status, body, err := s.Get(ctx, name, "storefront", "/")
		if err != nil || status != 200 {
			t.Fatalf("GET / = %d, %v\n%s", status, err, body)
		}
		for _, want := range []string{"Scout Pod", "EVA Suit", `class="price">$`, `id="spacepods-env">` + name + "<", `id="spacepods-build">1<`} {
			if !strings.Contains(body, want) {
				t.Errorf("storefront page lacks %q:\n%s", want, body)
			}
		}
		if strings.Contains(body, "price unavailable") || strings.Contains(body, `id="error"`) {
			t.Errorf("storefront page shows an error:\n%s", body)
		}
	})

	t.Run("catalog-api gets the standard variables", func(t *testing.T) {
		flat := envOf(t, s, name, "catalog-api")
		// Dependencies are called through the router's internal listener.
		_, port, _ := net.SplitHostPort(s.RouterInternal)
		for k, want := range map[string]string{
			"SPACEPODS_ENV": name, "SPACEPODS_APP": "catalog-api", "SPACEPODS_BUILD": "1", "SPACEPODS_GIT_SHA": s.SHA,
			"PORT": "8080", "PRICING_API_URL": "http://pricing-api." + name + ".localhost:" + port, "database": "set",
		} {
			if got := flat[k]; got != want {
				t.Errorf("/env %s = %q, want %q (all: %v)", k, got, want, flat)
			}
		}
	})

	t.Run("a second create of the name conflicts", func(t *testing.T) {
		_, _, err := s.Pods.Create(podstest.Context(t, time.Minute), spacepods.CreatePodRequest{Name: name, Apps: []string{"pricing-api"}})
		if code := spacepods.ErrorCode(err); code != spacepods.ECONFLICT {
			t.Fatalf("second create: code %q (%v), want ECONFLICT", code, err)
		}
	})

	t.Run("update wipes and redeploys a new build", func(t *testing.T) {
		ctx := podstest.Context(t, 3*time.Minute)
		if err := s.AddBuild(ctx, "pricing-api", podstest.BuildNormal2, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pods.Update(ctx, name, map[string]int{"pricing-api": podstest.BuildNormal2}); err != nil {
			t.Fatalf("update: %v", err)
		}
		if _, err := s.WaitEnv(ctx, name, spacepods.StatusReady); err != nil {
			t.Fatalf("update never finished: %v\n%s", err, events(t, s, name))
		}
		v, err := s.Pods.Show(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		builds, live := map[string]int{}, map[string]int{}
		for _, a := range v.AppStatus {
			builds[a.App], live[a.App] = a.Build, a.Release
			if a.Status != "healthy" || a.Release == 0 {
				t.Errorf("after update %s is %s (release %d), want healthy", a.App, a.Status, a.Release)
			}
		}
		if builds["pricing-api"] != podstest.BuildNormal2 || builds["storefront"] != 1 {
			t.Errorf("builds after update = %v, want pricing-api 2, others 1", builds)
		}
		if got := envOf(t, s, name, "pricing-api")["SPACEPODS_BUILD"]; got != "2" {
			t.Errorf("pricing-api runs build %q after the update, want 2", got)
		}
		status, body, err := s.Get(ctx, name, "storefront", "/")
		if err != nil || status != 200 || !strings.Contains(body, "Scout Pod") {
			t.Errorf("storefront after update = %d, %v:\n%s", status, err, body)
		}
		// The wipe left nothing of the old releases running.
		svcs, err := s.Driver.ListServices(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, svc := range svcs {
			if svc.Release != live[svc.App] || svc.Release < 2 {
				t.Errorf("after the update, service %s runs release %d; want only the new live release %d of %s", svc.Name, svc.Release, live[svc.App], svc.App)
			}
		}
	})

	destroy(t, s, name)
	requireNoLeaks(t, s)
}

// flatten turns the /env report into one map: top-level strings, then
// the "env" and "urls" objects.
func flatten(raw map[string]any) map[string]string {
	out := map[string]string{}
	var walk func(m map[string]any)
	walk = func(m map[string]any) {
		for k, v := range m {
			switch v := v.(type) {
			case string:
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			case map[string]any:
				walk(v)
			}
		}
	}
	walk(raw)
	return out
}

func TestPod_ExpiresAfterItsTTL(t *testing.T) {
	t.Parallel()
	rec := &notifytest.Recorder{}
	s := podstest.Start(t, podstest.Config{Notifier: rec})
	name := s.EnvName("ttl")
	createPod(t, s, spacepods.CreatePodRequest{Name: name, Apps: []string{"pricing-api"}, TTL: "1s"})
	ctx := podstest.Context(t, time.Minute)
	env, err := s.Store.GetEnvironment(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if ready := rec.Wait(10*time.Second, 1, spacepods.NoticePodReady); len(ready) != 1 || ready[0].Env != name || ready[0].URL == "" || !strings.Contains(ready[0].Text, ready[0].URL) {
		t.Errorf("pod.ready notices: %+v, want one with the app's URL", ready)
	}
	if started := rec.Notices(spacepods.NoticeDeployStarted, spacepods.NoticeDeployCompleted); len(started) != 2 {
		t.Errorf("deploy notices: %+v, want started and completed", started)
	}
	time.Sleep(time.Until(*env.ExpiresAt) + 10*time.Millisecond)
	reaped := s.Pods.Reap(ctx)
	if len(reaped) != 1 || reaped[0] != name {
		t.Fatalf("Reap = %v, want [%s]", reaped, name)
	}
	if err := s.WaitDestroyed(ctx, name); err != nil {
		t.Fatalf("%v\n%s", err, events(t, s, name))
	}
	if again := s.Pods.Reap(ctx); len(again) != 0 {
		t.Errorf("second Reap = %v, want nothing", again)
	}
	requireNoLeaks(t, s)
}

func TestPod_FailedCreateNamesTheAppAndDestroyCleansUp(t *testing.T) {
	t.Parallel()
	rec := &notifytest.Recorder{}
	s := podstest.Start(t, podstest.Config{Notifier: rec})
	ctx := podstest.Context(t, 3*time.Minute)
	if err := s.AddBuild(ctx, "storefront", podstest.BuildCrash, "crash"); err != nil {
		t.Fatal(err)
	}
	name := s.EnvName("crash")
	if _, _, err := s.Pods.Create(ctx, spacepods.CreatePodRequest{Name: name, Apps: []string{"storefront"}, Builds: map[string]int{"storefront": podstest.BuildCrash}}); err != nil {
		t.Fatal(err)
	}
	env, err := s.WaitEnv(ctx, name, spacepods.StatusFailed)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(env.Reason, "storefront") || !strings.Contains(env.Reason, "deploy show") {
		t.Errorf("failure reason %q should name storefront and its deploy", env.Reason)
	}
	if strings.Contains(env.Reason, "catalog-api") || strings.Contains(env.Reason, "pricing-api") {
		t.Errorf("failure reason %q names apps that deployed fine", env.Reason)
	}
	ds, err := s.Engine().List(ctx, name, "storefront", 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deploys of storefront: %v, %v", ds, err)
	}
	if d := ds[0]; d.Status != spacepods.DeployRolledBack || !strings.Contains(d.Output, "crash mode") {
		t.Errorf("storefront deploy: status %s, output %q; want rolled_back with the crash output kept", d.Status, d.Output)
	}
	if failed := rec.Wait(10*time.Second, 1, spacepods.NoticePodFailed); len(failed) != 1 || !strings.Contains(failed[0].Fields["reason"], "storefront") {
		t.Errorf("pod.failed notices: %+v, want one naming storefront", failed)
	}
	if rb := rec.Notices(spacepods.NoticeDeployRolledBack); len(rb) != 1 || rb[0].App != "storefront" || rb[0].URL != fmt.Sprintf("/deploys/%d", ds[0].ID) || rb[0].Fields["reason"] == "" {
		t.Errorf("deploy.rolled_back notices: %+v", rb)
	}
	v, _ := s.Pods.Show(ctx, name)
	for _, a := range v.AppStatus {
		want := "healthy"
		if a.App == "storefront" {
			want = "failed"
		}
		if a.Status != want {
			t.Errorf("%s is %s, want %s", a.App, a.Status, want)
		}
	}
	destroy(t, s, name)
	requireNoLeaks(t, s)
}

func TestPod_DestroyDuringCreateCleansEverything(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{})
	// Destroy at different points of the create: before the network, during
	// database creation and migrations, during container starts.
	delays := []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2500 * time.Millisecond}
	var wg sync.WaitGroup
	for _, delay := range delays {
		wg.Go(func() {
			name := s.EnvName("half")
			ctx := podstest.Context(t, 3*time.Minute)
			if _, _, err := s.Pods.Create(ctx, spacepods.CreatePodRequest{Name: name, Apps: []string{"storefront"}}); err != nil {
				t.Errorf("create: %v", err)
				return
			}
			time.Sleep(delay)
			if err := s.Pods.Destroy(ctx, name); err != nil {
				t.Errorf("destroy %s after %s: %v", name, delay, err)
				return
			}
			if err := s.WaitDestroyed(ctx, name); err != nil {
				t.Errorf("destroy %s after %s: %v\n%s", name, delay, err, events(t, s, name))
			}
		})
	}
	wg.Wait()
	// Let anything still in flight land before auditing.
	time.Sleep(time.Second)
	requireNoLeaks(t, s)
	for _, name := range s.Envs() {
		ds, err := s.Engine().List(podstest.Context(t, time.Minute), name, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if !d.Done() {
				t.Errorf("deploy %d of %s in destroyed %s is still %s", d.ID, d.App, name, d.Status)
			}
		}
	}
}

func TestPod_CreateDestroyCyclesLeaveNoLeaks(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{})
	const cycles = 20
	start := time.Now()
	for i := range cycles {
		name := s.EnvName(fmt.Sprintf("cyc%d", i))
		createPod(t, s, spacepods.CreatePodRequest{Name: name, Apps: []string{"pricing-api"}})
		ctx := podstest.Context(t, time.Minute)
		if status, body, err := s.Get(ctx, name, "pricing-api", "/prices?sku=A"); err != nil || status != 200 {
			t.Fatalf("cycle %d: GET /prices = %d, %v\n%s", i, status, err, body)
		}
		destroy(t, s, name)
	}
	t.Logf("%d create/destroy cycles in %s", cycles, time.Since(start).Round(time.Millisecond))
	requireNoLeaks(t, s)
}

func TestPod_CloneFromSnapshot(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{})
	ctx := podstest.Context(t, 3*time.Minute)
	src := s.EnvName("snapsrc")
	createPod(t, s, spacepods.CreatePodRequest{Name: src, Apps: []string{"catalog-api"}})

	// Change the source's data so that a clone is told apart from a seed.
	db, err := s.Databases.Get(ctx, src, "catalog-api")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, db.URL("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `INSERT INTO products (sku, name, category) VALUES ('SNAP-01', 'Snapshot Pod', 'pods')`)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}

	snap := "snap-" + strings.TrimPrefix(src, "snapsrc-")
	if _, err := s.Pods.Snapshot(ctx, src, "catalog-api", snap); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	t.Cleanup(func() { s.Databases.DropSnapshot(context.Background(), snap) })
	list, err := s.Pods.Snapshots(ctx)
	listed := false
	for _, x := range list {
		listed = listed || x.Name == snap && x.Kind == spacepods.SnapshotPostgres
	}
	if err != nil || !listed {
		t.Fatalf("snapshot list %+v, %v: want %s of kind postgres", list, err, snap)
	}

	// A variant of catalog-api whose database is cloned from the snapshot.
	m, err := s.Manifest("catalog-api")
	if err != nil {
		t.Fatal(err)
	}
	m = strings.Replace(m, "name: catalog-api", "name: catalog-snap", 1)
	m = strings.Replace(m, "seed: db/seed.sql", "snapshot: "+snap, 1)
	if _, err := s.Register(ctx, "catalog-api", m); err != nil {
		t.Fatalf("register the snapshot variant: %v", err)
	}
	b, err := s.Catalog.Build(ctx, "catalog-api", 1)
	if err != nil {
		t.Fatal(err)
	}
	b.App = "catalog-snap"
	if _, err := s.Catalog.RecordBuild(ctx, b); err != nil {
		t.Fatal(err)
	}

	dst := s.EnvName("snapdst")
	createPod(t, s, spacepods.CreatePodRequest{Name: dst, Apps: []string{"catalog-snap"}})
	status, body, err := s.Get(ctx, dst, "catalog-snap", "/products")
	if err != nil || status != 200 {
		t.Fatalf("GET /products = %d, %v\n%s", status, err, body)
	}
	if !strings.Contains(body, "SNAP-01") || !strings.Contains(body, "POD-001") {
		t.Errorf("the clone lacks the source's rows:\n%s", body)
	}
	// The clone is a copy: the source is unchanged by writes to it and vice versa.
	status, body, err = s.Get(ctx, src, "catalog-api", "/products")
	if err != nil || status != 200 || !strings.Contains(body, "SNAP-01") {
		t.Errorf("source /products = %d, %v\n%s", status, err, body)
	}
	destroy(t, s, dst)
	destroy(t, s, src)
	requireNoLeaks(t, s)
}

func TestPod_BadMigrationFailsTheCreateAndLeavesNoService(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{})
	ctx := podstest.Context(t, 3*time.Minute)
	if err := s.AddBuild(ctx, "catalog-api", podstest.BuildBadMigrate, "badmigrate"); err != nil {
		t.Fatal(err)
	}
	name := s.EnvName("badmig")
	if _, _, err := s.Pods.Create(ctx, spacepods.CreatePodRequest{Name: name, Apps: []string{"catalog-api"}, Builds: map[string]int{"catalog-api": podstest.BuildBadMigrate}}); err != nil {
		t.Fatal(err)
	}
	env, err := s.WaitEnv(ctx, name, spacepods.StatusFailed)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(env.Reason, "catalog-api") || !strings.Contains(env.Reason, "migration") {
		t.Errorf("failure reason %q should name catalog-api and its migration", env.Reason)
	}
	ds, err := s.Engine().List(ctx, name, "catalog-api", 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deploys of catalog-api: %v, %v", ds, err)
	}
	if d := ds[0]; d.Status != spacepods.DeployRolledBack || d.Step != "migrate" || !strings.Contains(d.Output, "migration 4") {
		t.Errorf("catalog-api deploy: status %s at %s, output %q; want rolled_back at migrate with the migration's output", d.Status, d.Step, d.Output)
	}
	// The services started alongside the migration were discarded with it.
	svcs, err := s.Driver.ListServices(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range svcs {
		if svc.App == "catalog-api" {
			t.Errorf("service %s of catalog-api is left after its migration failed", svc.Name)
		}
	}
	destroy(t, s, name)
	requireNoLeaks(t, s)
}

func TestPod_UpdateDuringCreateCancelsTheCreateAndRedeploys(t *testing.T) {
	t.Parallel()
	s := podstest.Start(t, podstest.Config{})
	ctx := podstest.Context(t, 3*time.Minute)
	if err := s.AddBuild(ctx, "pricing-api", podstest.BuildNormal2, ""); err != nil {
		t.Fatal(err)
	}
	name := s.EnvName("upd")
	if _, _, err := s.Pods.Create(ctx, spacepods.CreatePodRequest{Name: name, Apps: []string{"storefront"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // the create's deploys are under way
	if _, err := s.Pods.Update(ctx, name, map[string]int{"pricing-api": podstest.BuildNormal2}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if _, err := s.WaitEnv(ctx, name, spacepods.StatusReady); err != nil {
		t.Fatalf("%v\n%s", err, events(t, s, name))
	}
	if got := envOf(t, s, name, "pricing-api")["SPACEPODS_BUILD"]; got != "2" {
		t.Errorf("pricing-api runs build %q, want 2", got)
	}
	if status, body, err := s.Get(ctx, name, "storefront", "/"); err != nil || status != 200 || !strings.Contains(body, "Scout Pod") {
		t.Errorf("storefront: %d, %v\n%s", status, err, body)
	}
	ds, err := s.Engine().List(ctx, name, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]int{}
	v, _ := s.Pods.Show(ctx, name)
	for _, a := range v.AppStatus {
		live[a.App] = a.Release
	}
	var statuses []string
	for _, d := range ds {
		statuses = append(statuses, fmt.Sprintf("%d %s %s", d.ID, d.App, d.Status))
	}
	t.Logf("deploys: %s", strings.Join(statuses, "; "))
	for _, d := range ds {
		switch {
		case !d.Done():
			t.Errorf("deploy %d of %s is still %s", d.ID, d.App, d.Status)
		case d.Status == spacepods.DeployCompleted && d.Release != live[d.App] && d.Release > live[d.App]:
			t.Errorf("deploy %d of %s completed release %d, newer than the live %d", d.ID, d.App, d.Release, live[d.App])
		}
	}
	svcs, err := s.Driver.ListServices(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range svcs {
		if svc.Release != live[svc.App] {
			t.Errorf("service %s (release %d) is not the live release %d of %s", svc.Name, svc.Release, live[svc.App], svc.App)
		}
	}
	destroy(t, s, name)
	requireNoLeaks(t, s)
}
