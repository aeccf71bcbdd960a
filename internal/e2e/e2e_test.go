package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"

	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// envOf reads an example app's /env through the router.
func envOf(t *testing.T, s *site, env, app string) map[string]any {
	t.Helper()
	status, body, err := s.get(env, app, "/env")
	if err != nil || status != 200 {
		t.Fatalf("GET %s.%s /env: %d %v %s", app, env, status, err, body)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("decode /env: %v %s", err, body)
	}
	return out
}

func envVar(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	for _, section := range []string{"env", "spacepods", "dependencies"} {
		if sec, ok := m[section].(map[string]any); ok {
			if v, ok := sec[key]; ok {
				return v.(string)
			}
		}
	}
	return ""
}

// TestE2E_PodFromREADMEAndItsConfig follows the README with the real binary:
// register the example apps, set config in three scopes and a secret,
// create a pod of the storefront, open it through the router, and check
// that each environment's containers see the right values — and that the
// secret value shows up nowhere but in its container.
func TestE2E_PodFromREADMEAndItsConfig(t *testing.T) {
	s := newSite(t)
	s.start()
	s.registerExamples()
	const planted = "PLANTED-e2e-9c1d"
	s.mustCLI("config", "set", "pricing-api", "GREETING=hello-all")
	s.mustCLI("config", "set", "pricing-api", "GREETING=hello-pods", "--pods")
	demo, prod := s.name("demo"), s.name("prod")
	s.mustCLI("config", "set", "pricing-api", "GREETING=hello-prod", "--env", prod)
	s.mustCLI("config", "set", "pricing-api", "SIGNING_KEY="+planted, "--pods", "--secret")

	out := s.mustCLI("pod", "create", demo, "--app", "storefront", "--wait")
	if !strings.Contains(out, "pod "+demo+" is ready") {
		t.Fatalf("pod create --wait: %s", out)
	}
	status, body, err := s.get(demo, "storefront", "/")
	if err != nil || status != 200 || !strings.Contains(body, "$") {
		t.Fatalf("storefront through the router: %d %v %.300s", status, err, body)
	}
	pe := envOf(t, s, demo, "pricing-api")
	if got := envVar(t, pe, "GREETING"); got != "hello-pods" {
		t.Fatalf("pod sees GREETING=%q, want hello-pods (%v)", got, pe)
	}
	if got := envVar(t, pe, "SIGNING_KEY"); got != planted {
		t.Fatalf("pod sees SIGNING_KEY=%q, want the secret", got)
	}
	ce := envOf(t, s, demo, "catalog-api")
	// Dependencies are called through the router's internal listener, on
	// its own port (kept in the data dir).
	if envVar(t, ce, "SPACEPODS_ENV") != demo || envVar(t, ce, "PRICING_API_URL") != "http://pricing-api."+demo+".localhost:"+internalPortOf(t, s) || ce["database"] != "set" {
		t.Fatalf("catalog-api env: %v", ce)
	}

	s.mustCLI("env", "create", prod)
	s.mustCLI("deploy", "pricing-api", "--env", prod, "--build", "1", "--wait")
	pr := envOf(t, s, prod, "pricing-api")
	if got := envVar(t, pr, "GREETING"); got != "hello-prod" {
		t.Fatalf("prod sees GREETING=%q, want hello-prod", got)
	}
	if got := envVar(t, pr, "SIGNING_KEY"); got != "" {
		t.Fatalf("prod must not get the pods-scoped secret, got %q", got)
	}
	eff := s.mustCLI("config", "effective", "pricing-api", "--env", demo)
	if !strings.Contains(eff, "SIGNING_KEY") || !strings.Contains(eff, "****") || strings.Contains(eff, planted) {
		t.Fatalf("effective config must mask the secret: %s", eff)
	}

	// The secret appears nowhere a user or operator reads: logs, deploys,
	// events, audit, the store's file.
	c := s.client()
	ctx := context.Background()
	ds, _ := c.ListDeploys(ctx, "", "", 100)
	raw, _ := json.Marshal(ds)
	for _, d := range ds {
		evs, _ := c.DeployEvents(ctx, d.ID, 0)
		b, _ := json.Marshal(evs)
		raw = append(raw, b...)
	}
	audit, _ := c.Audit(ctx, 0, 1000)
	b, _ := json.Marshal(audit)
	raw = append(raw, b...)
	podEvents, _ := c.PodEvents(ctx, demo, 0)
	b, _ = json.Marshal(podEvents)
	raw = append(raw, b...)
	for name, text := range map[string]string{"API responses": string(raw), "server log": s.logs()} {
		if strings.Contains(text, planted) {
			t.Errorf("the secret value leaked into %s", name)
		}
	}
	for _, f := range []string{"spacepods.db", "spacepods.db-wal"} {
		if data, err := os.ReadFile(filepath.Join(s.dataDir, f)); err == nil && strings.Contains(string(data), planted) {
			t.Errorf("the secret value is in plaintext in %s", f)
		}
	}
}

// TestE2E_ServerKilledAtEachDeployStep SIGKILLs the control plane while a
// deploy sits in each of the five steps, restarts it, and checks that every
// deploy ends completed or rolled back, traffic through the router never
// drops, and nothing leaks.
func TestE2E_ServerKilledAtEachDeployStep(t *testing.T) {
	for _, step := range spacepods.DeploySteps {
		t.Run(step, func(t *testing.T) {
			s := newSite(t, "SPACEPODS_TEST_DEPLOY_PAUSE="+step+"=4s")
			s.start()
			s.registerExamples()
			c := s.client()
			ctx := context.Background()
			prod := s.name("prod")
			s.mustCLI("env", "create", prod)
			first, err := c.CreateDeploy(ctx, prod, "pricing-api", 1)
			if err != nil {
				t.Fatal(err)
			}
			waitDeploy(t, s, first.ID, 90*time.Second)
			ld := s.startLoad(prod, "pricing-api", "/healthz", 3, 3*time.Minute)

			s.mustCLI("build", "record", "pricing-api", "--number", "2", "--image", "spacepods-example/pricing-api:1", "--sha", "abcdef2", "--branch", "main")
			d, err := c.CreateDeploy(ctx, prod, "pricing-api", 2)
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for {
				cur, err := c.GetDeploy(ctx, d.ID)
				if err == nil && cur.Status == spacepods.DeployRunning && cur.Step == step {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("deploy never reached step %s: %+v", step, cur)
				}
				time.Sleep(50 * time.Millisecond)
			}
			s.kill()
			time.Sleep(500 * time.Millisecond)
			s.start()
			end := waitDeploy(t, s, d.ID, 120*time.Second)
			if end.Status != spacepods.DeployCompleted && end.Status != spacepods.DeployRolledBack {
				t.Fatalf("deploy ended %s: %s", end.Status, end.Error)
			}
			time.Sleep(time.Second)
			ok, failed, failures := ld.finish()
			if failed > 0 || ok == 0 {
				t.Fatalf("traffic dropped: %d ok, %d failed: %v", ok, failed, failures)
			}
			v, err := c.GetEnvironment(ctx, prod)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range v.AppStatus {
				if a.App == "pricing-api" && (a.Status != "healthy" || a.Release == 0) {
					t.Fatalf("pricing-api after recovery: %+v", a)
				}
			}
			out, err := s.cli("audit", "leaks")
			if err != nil || strings.Contains(out, s.suffix) {
				t.Fatalf("leaks after recovery: %v %s", err, out)
			}
			services := dockerServices(t, prod, "pricing-api")
			if len(services) != 1 {
				t.Fatalf("want exactly one pricing-api service after recovery, have %v", services)
			}
			t.Logf("killed in %s: deploy %d %s, %d requests ok", step, d.ID, end.Status, ok)
		})
	}
}

func waitDeploy(t *testing.T, s *site, id int64, max time.Duration) spacepods.Deploy {
	t.Helper()
	c := s.client()
	deadline := time.Now().Add(max)
	for {
		d, err := c.GetDeploy(context.Background(), id)
		if err == nil && d.Done() {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("deploy %d did not end within %s: %+v %v\nserver log:\n%s", id, max, d, err, tail(s.logs(), 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dockerServices lists the distinct services of (env, app) from Docker's
// labels (the spec container included, so a scaled-to-0 one counts).
func dockerServices(t *testing.T, env, app string) []string {
	t.Helper()
	out, err := execOut("docker", "ps", "-a", "--filter", "label=spacepods.environment="+env, "--filter", "label=spacepods.app="+app,
		"--filter", "label=spacepods.role=web", "--format", `{{.Label "spacepods.service"}}`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var names []string
	for _, l := range strings.Fields(out) {
		if !seen[l] {
			seen[l] = true
			names = append(names, l)
		}
	}
	return names
}

// TestE2E_TwoInstallationsShareADockerHost runs two servers (two data dirs,
// two installations) against one Docker daemon and one PostgreSQL server:
// the second's leak audit does not report the first's pod (and so its
// `audit leaks --remove` cannot touch it), and a pod of the same name there
// fails with a message naming the other installation.
func TestE2E_TwoInstallationsShareADockerHost(t *testing.T) {
	a, b := newSite(t), newSite(t)
	a.start()
	b.start()
	a.registerExamples()
	b.registerExamples()
	pod := a.name("shared")
	out := a.mustCLI("pod", "create", pod, "--app", "pricing-api", "--wait")
	if !strings.Contains(out, "is ready") {
		t.Fatalf("pod create in installation a: %s", out)
	}
	leaks := b.mustCLI("audit", "leaks", "-o", "json")
	if strings.Contains(leaks, pod) {
		t.Fatalf("installation b's leak audit reports a's live pod %s:\n%s", pod, leaks)
	}
	out, err := b.cli("pod", "create", pod, "--app", "pricing-api", "--wait")
	if err == nil || !strings.Contains(out, "another Spacepods installation") {
		t.Fatalf("a pod of the same name in installation b: err %v, output:\n%s\nwant a failure naming the other installation", err, out)
	}
	b.mustCLI("pod", "destroy", pod, "--wait")
	if status, body, err := a.get(pod, "pricing-api", "/healthz"); err != nil || status != 200 {
		t.Fatalf("a's pod after b destroyed its own failed pod of that name: %d %v %.200s", status, err, body)
	}
	// Both installations serve pods at once, each through its own router,
	// and their apps call dependencies through each one's own internal
	// listener (a free port each, kept in the data dir).
	podB := b.name("other")
	if out := b.mustCLI("pod", "create", podB, "--app", "catalog-api", "--wait"); !strings.Contains(out, "is ready") {
		t.Fatalf("pod create in installation b: %s", out)
	}
	if status, body, err := b.get(podB, "catalog-api", "/products"); err != nil || status != 200 || !strings.Contains(body, "price") {
		t.Fatalf("b's catalog-api (calls pricing-api through b's internal listener): %d %v %.300s", status, err, body)
	}
	if status, _, err := a.get(pod, "pricing-api", "/healthz"); err != nil || status != 200 {
		t.Fatalf("a's pod while b serves one: %d %v", status, err)
	}
	pa, pb := internalPortOf(t, a), internalPortOf(t, b)
	if pa == pb {
		t.Fatalf("both installations' routers have their internal listener on port %s", pa)
	}
}

// internalPortOf returns the port of a site's router internal listener,
// kept in its data dir.
func internalPortOf(t *testing.T, s *site) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dataDir, "router", "internal.port"))
	if err != nil {
		t.Fatalf("the router's internal port is not kept in the data dir: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// TestE2E_SecondServerSaysWhatIsTaken: a second server on a host fails at
// once, naming what another one holds (its data dir, or a port) and the flag
// that moves it — not after a 15 s wait on a router that cannot start.
func TestE2E_SecondServerSaysWhatIsTaken(t *testing.T) {
	a := newSite(t)
	a.start()
	tests := []struct {
		name  string
		tweak func(b *site)
		want  []string
	}{
		{"same data dir", func(b *site) { b.dataDir = a.dataDir }, []string{"in use by another Spacepods server", "--data-dir"}},
		{"same API address", func(b *site) { b.api = a.api }, []string{a.api, "--listen"}},
		{"same router address", func(b *site) { b.router = a.router }, []string{a.router, "--router-listen"}},
		{"same router control address", func(b *site) { b.control = a.control }, []string{a.control, "--router-control"}},
		{"same internal port", func(b *site) { b.args = append(b.args, "--router-internal-port", internalPortOf(t, a)) }, []string{":" + internalPortOf(t, a), "--router-internal-port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBareSite(t)
			b.pgURL = a.pgURL
			tt.tweak(b)
			start := time.Now()
			out, err := b.runUntilExit(20 * time.Second)
			took := time.Since(start)
			if err == nil {
				t.Fatalf("the second server did not fail; its log:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Fatalf("the second server's error does not say %q; its log:\n%s", w, out)
				}
			}
			if took > 10*time.Second {
				t.Fatalf("the second server took %s to fail; want at once", took)
			}
		})
	}
	if status, _, err := a.get("nothing-"+a.suffix, "x", "/"); err != nil || status != http.StatusNotFound {
		t.Fatalf("the first server's router after the second servers failed: %d %v", status, err)
	}
}
