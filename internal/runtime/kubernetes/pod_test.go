package kubernetes_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/runtime/kubernetes"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/testenv"
)

var exampleApps = []string{"pricing-api", "catalog-api", "storefront", "mailer"}

// TestPod_ExampleSystemRunsAndGoesAwayOnKubernetes creates a pod of the
// example storefront (and its dependencies, catalog-api with a real
// PostgreSQL database and its migration as a Job) through the pods service
// and the deploy engine on the kubernetes driver, then destroys it: the
// namespace, the database and every labelled object are gone.
func TestPod_ExampleSystemRunsAndGoesAwayOnKubernetes(t *testing.T) {
	c := requireCluster(t)
	pgURL := testenv.PostgresURL(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	d, st, podSvc := newPodRig(t, ctx, pgURL)

	name := uniqueEnv("pod")
	plan, _, err := podSvc.Create(ctx, spacepods.CreatePodRequest{Name: name, Apps: []string{"storefront"}})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	t.Cleanup(func() { d.DestroyEnvironment(context.Background(), name) })
	env := waitEnvStatus(t, ctx, st, name, spacepods.StatusReady)
	t.Logf("pod %s ready with %d apps: %v", env.Name, len(plan.Apps), env.Apps)

	svcs, err := d.ListServices(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	healthy := map[string]bool{}
	for _, s := range svcs {
		healthy[s.App] = s.Desired > 0 && s.Healthy == s.Desired
	}
	for _, a := range plan.Apps {
		if !healthy[a.App] {
			t.Errorf("app %s of the plan has no healthy service: %+v", a.App, svcs)
		}
	}
	ns := d.Namespace(name)
	ings, err := c.client.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]string{}
	for _, ing := range ings.Items {
		hosts[ing.Spec.Rules[0].Host] = ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name
	}
	for _, app := range []string{"storefront", "catalog-api", "pricing-api"} {
		if got := hosts[app+"."+name+".localhost"]; got != app {
			t.Errorf("Ingress of %s.%s.localhost goes to %q, want the app's Service %q (all Ingresses: %v)", app, name, got, app, hosts)
		}
	}
	if len(hosts) != 3 {
		t.Errorf("Ingresses in the pod = %v, want one per web app (the mailer worker has none)", hosts)
	}
	deps, err := c.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, dep := range deps.Items {
		for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
			vars[dep.Labels["spacepods.app"]+" "+e.Name] = e.Value
		}
	}
	if u := vars["catalog-api DATABASE_URL"]; !strings.Contains(u, "@192.0.2.10:") {
		t.Errorf("catalog-api DATABASE_URL = %q, want the configured host address", u)
	}
	if u := vars["storefront CATALOG_API_URL"]; !strings.Contains(u, "catalog-api") {
		t.Errorf("storefront CATALOG_API_URL = %q, want the catalog-api service name", u)
	}

	if err := podSvc.Destroy(ctx, name); err != nil {
		t.Fatalf("destroy pod: %v", err)
	}
	waitEnvGone(t, ctx, st, name)
	if _, err := c.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after the pod was destroyed: %v", ns, err)
	}
	if got := leftovers(t, c, name); len(got) > 0 {
		t.Errorf("left after the pod was destroyed: %v", got)
	}
	leaks, err := podSvc.Leaks(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leaks {
		if l.Environment == name {
			t.Errorf("leak after destroy: %+v", l)
		}
	}
}

func waitEnvStatus(t *testing.T, ctx context.Context, st *store.Store, name, want string) spacepods.Environment {
	t.Helper()
	for {
		e, err := st.GetEnvironment(ctx, name)
		if err == nil && e.Status == want {
			return e
		}
		if err == nil && e.Status == spacepods.StatusFailed {
			t.Fatalf("environment %s failed: %s", name, e.Reason)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("environment %s never became %s (last %+v, %v)", name, want, e, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// newPodRig is the pods service and the deploy engine on the kubernetes
// driver, routing by Ingress (no edge router), with the example apps
// registered (build 1 each) and pod databases on the test PostgreSQL.
func newPodRig(t *testing.T, ctx context.Context, pgURL string) (*kubernetes.Driver, *store.Store, *pods.Service) {
	t.Helper()
	// Pods reach PostgreSQL at this address in DATABASE_URL; on the
	// simulated cluster nothing connects to it.
	d := newDriver(t, kubernetes.Config{HostAddress: "192.0.2.10"})

	st, err := store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := catalog.NewService(st)
	for _, app := range exampleApps {
		dir := filepath.Join("../../../examples", app)
		m, err := os.ReadFile(filepath.Join(dir, "spacepods.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := catalog.ParseManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		seed := ""
		if a.Database != nil && a.Database.Seed != "" {
			b, err := os.ReadFile(filepath.Join(dir, a.Database.Seed))
			if err != nil {
				t.Fatal(err)
			}
			seed = string(b)
		}
		if _, _, err := cat.Register(ctx, m, seed); err != nil {
			t.Fatalf("register %s: %v", app, err)
		}
		if _, err := cat.RecordBuild(ctx, spacepods.Build{App: app, Number: 1, GitSHA: strings.Repeat("b", 40), Branch: spacepods.DefaultBranch, Image: "spacepods-example/" + app + ":1"}); err != nil {
			t.Fatal(err)
		}
	}
	dbs, err := databases.Open(ctx, pgURL, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dbs.Close)
	// Routing by Ingress: no edge router.
	podSvc := &pods.Service{Store: st, Catalog: cat, Driver: d, Databases: dbs, Logger: testLogger()}
	engine := &deploy.Engine{
		Store: st, Catalog: cat, Driver: d, Ingress: d, Databases: &databases.Provider{Manager: dbs, Gateway: d.HostAddress},
		Domain: "localhost", Logger: testLogger(),
		Options: deploy.Options{HealthTimeout: 30 * time.Second, Poll: 200 * time.Millisecond},
	}
	podSvc.Engine = engine
	bg, stop := context.WithCancel(context.Background())
	if err := engine.Start(bg); err != nil {
		t.Fatal(err)
	}
	if err := podSvc.Start(bg, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); engine.Wait(); podSvc.Wait() })

	return d, st, podSvc
}

// TestPod_CreateDestroyCyclesLeaveNoLeakOnKubernetes: ten pods of
// pricing-api created and destroyed through the pods service, names coming
// back as pods' do; the leak audit then reports nothing of them.
func TestPod_CreateDestroyCyclesLeaveNoLeakOnKubernetes(t *testing.T) {
	requireCluster(t)
	pgURL := testenv.PostgresURL(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	_, st, podSvc := newPodRig(t, ctx, pgURL)
	base := uniqueEnv("cyc")
	start := time.Now()
	for i := range 10 {
		name := fmt.Sprintf("%s-%d", base, i%3)
		if _, _, err := podSvc.Create(ctx, spacepods.CreatePodRequest{Name: name, Apps: []string{"pricing-api"}}); err != nil {
			t.Fatalf("cycle %d: create: %v", i, err)
		}
		waitEnvStatus(t, ctx, st, name, spacepods.StatusReady)
		if err := podSvc.Destroy(ctx, name); err != nil {
			t.Fatalf("cycle %d: destroy: %v", i, err)
		}
		waitEnvGone(t, ctx, st, name)
	}
	t.Logf("10 pod create/destroy cycles took %s", time.Since(start).Round(time.Millisecond))
	leaks, err := podSvc.Leaks(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leaks {
		if strings.HasPrefix(l.Environment, base) {
			t.Errorf("leak after 10 cycles: %+v", l)
		}
	}
}

func waitEnvGone(t *testing.T, ctx context.Context, st *store.Store, name string) {
	t.Helper()
	for {
		if _, err := st.GetEnvironment(ctx, name); spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s not destroyed: %v", name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
