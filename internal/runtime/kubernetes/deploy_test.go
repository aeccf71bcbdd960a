package kubernetes_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/runtime/kubernetes"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// webManifest is a web app with four replicas and the seed's stages.
const webManifest = `name: web
repo: acme/web
kind: web
port: 8080
health: /healthz
rollout: {stages: [25, 50, 100], replicas: {default: 4}}
`

// rolloutImages are the builds of web: two good ones, then one whose pods
// run but never become Ready (a kwok stage: the tag ends in -unready).
var rolloutImages = map[int]string{1: "acme/web:1", 2: "acme/web:2", 3: "acme/web:3-unready"}

// deployRig is the deploy engine on the kubernetes driver with one master
// environment holding nothing yet, and web registered with rolloutImages.
type deployRig struct {
	t      *testing.T
	ctx    context.Context
	d      *kubernetes.Driver
	engine *deploy.Engine
	env    string
}

func newDeployRig(t *testing.T, ctx context.Context, d *kubernetes.Driver, engine *deploy.Engine) *deployRig {
	t.Helper()
	st, err := store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := catalog.NewService(st)
	if _, _, err := cat.Register(ctx, []byte(webManifest), ""); err != nil {
		t.Fatalf("register web: %v", err)
	}
	for n, image := range rolloutImages {
		if _, err := cat.RecordBuild(ctx, spacepods.Build{App: "web", Number: n, GitSHA: strings.Repeat("a", 40), Branch: "main", Image: image}); err != nil {
			t.Fatalf("record build %d: %v", n, err)
		}
	}
	env := uniqueEnv("deploy")
	if _, err := st.CreateEnvironment(ctx, spacepods.Environment{Name: env, Kind: spacepods.EnvMaster, Owner: "test", Status: spacepods.StatusReady, Apps: []string{}}); err != nil {
		t.Fatal(err)
	}
	ensureEnv(t, d, env)
	engine.Store, engine.Catalog, engine.Driver, engine.Logger = st, cat, d, testLogger()
	engine.Options = deploy.Options{HealthTimeout: 10 * time.Second, Bake: 500 * time.Millisecond, Poll: 100 * time.Millisecond}
	ectx, stop := context.WithCancel(context.Background())
	if err := engine.Start(ectx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); engine.Wait() })
	return &deployRig{t: t, ctx: ctx, d: d, engine: engine, env: env}
}

func (r *deployRig) deploy(build int) spacepods.Deploy {
	r.t.Helper()
	dep, err := r.engine.Submit(r.ctx, deploy.Request{Env: r.env, App: "web", Build: build})
	if err != nil {
		r.t.Fatalf("submit build %d: %v", build, err)
	}
	dep, err = r.engine.WaitDeploy(r.ctx, dep.ID)
	if err != nil {
		r.t.Fatalf("wait for the deploy of build %d: %v", build, err)
	}
	return dep
}

// wantRolledBack checks that build 3's deploy was rolled back for its
// readiness, and that only release 2 is left, with its four ready replicas.
func (r *deployRig) wantRolledBack(dep spacepods.Deploy, r2 int) {
	t := r.t
	t.Helper()
	if dep.Status != spacepods.DeployRolledBack {
		t.Fatalf("deploy of the never-ready build 3: %s (%s), want rolled back\n%s", dep.Status, dep.Error, dep.Output)
	}
	if !strings.Contains(dep.Output+dep.Error, "Readiness probe failed") {
		t.Errorf("the failed deploy does not quote the failing readiness probe:\nerror: %s\noutput: %s", dep.Error, dep.Output)
	}
	svcs, err := r.d.ListServices(r.ctx, r.env)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 1 || svcs[0].Name != deploy.ServiceName("web", r2, "") || svcs[0].Desired != 4 || svcs[0].Healthy != 4 {
		t.Fatalf("services after the rollback = %+v, want only release %d with 4 ready replicas", svcs, r2)
	}
	// Kubernetes Services: the alias and release 2's own; release 3's is
	// pruned with its Deployment, release 1's went after the last rollout.
	ks, err := r.d.Client().CoreV1().Services(r.d.Namespace(r.env)).List(r.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range ks.Items {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	if want := []string{"web", deploy.ServiceName("web", r2, "")}; !slices.Equal(names, want) {
		t.Errorf("Kubernetes Services after the rollback = %v, want %v", names, want)
	}
}

// scaleLog records, from a watch, every replica count each Deployment of a
// namespace is given, in order.
type scaleLog struct {
	mu   sync.Mutex
	seen map[string][]int
}

func watchScale(t *testing.T, ctx context.Context, c *cluster, ns string) *scaleLog {
	t.Helper()
	w, err := c.client.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := &scaleLog{seen: map[string][]int{}}
	go func() {
		for ev := range w.ResultChan() {
			dep, ok := ev.Object.(*appsv1.Deployment)
			if !ok || ev.Type == watch.Deleted || dep.Spec.Replicas == nil {
				continue
			}
			l.mu.Lock()
			l.seen[dep.Name] = appendChanged(l.seen[dep.Name], int(*dep.Spec.Replicas))
			l.mu.Unlock()
		}
	}()
	t.Cleanup(w.Stop)
	return l
}

func (l *scaleLog) of(name string) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen[name])
}

// ingressLog records, from a watch, each backend Service an Ingress is
// pointed at, in order.
type ingressLog struct {
	mu      sync.Mutex
	targets []string
	last    *networkingv1.Ingress
}

func watchIngress(t *testing.T, ctx context.Context, c *cluster, ns, name string) *ingressLog {
	t.Helper()
	w, err := c.client.NetworkingV1().Ingresses(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	l := &ingressLog{}
	go func() {
		for ev := range w.ResultChan() {
			ing, ok := ev.Object.(*networkingv1.Ingress)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			target := ""
			if rs := ing.Spec.Rules; len(rs) == 1 && rs[0].HTTP != nil && len(rs[0].HTTP.Paths) == 1 && rs[0].HTTP.Paths[0].Backend.Service != nil {
				target = rs[0].HTTP.Paths[0].Backend.Service.Name
			}
			l.mu.Lock()
			l.targets = appendChanged(l.targets, target)
			l.last = ing.DeepCopy()
			l.mu.Unlock()
		}
	}()
	t.Cleanup(w.Stop)
	return l
}

// since returns the targets recorded from index i on.
func (l *ingressLog) since(i int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.targets[min(i, len(l.targets)):])
}

func (l *ingressLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.targets)
}

// waitFor polls cond (for what a watch may deliver a moment later).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 50 {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%s: not within 5s", what)
}

// TestDeploy_StagedRolloutThroughAnIngressOnKubernetes runs the deploy engine
// with Kubernetes routing (runtime.Ingresser, no edge router) on a master
// environment: the app's host is an Ingress with the configured class; the
// rollout of build 2 scales the new Deployment up 1 → 2 → 4 and the old one
// down 4 → 3 → 2 → 0 (the seed's stages), moving the Ingress from the old
// release's Service to the app's alias once the first new pod is Ready;
// build 3, whose pods never become Ready, stops at its first stage and is
// rolled back: the old Deployment never loses a replica, the Ingress never
// points at a Service holding the new pods, and nothing of release 3 is left.
func TestDeploy_StagedRolloutThroughAnIngressOnKubernetes(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	d := newDriver(t, kubernetes.Config{IngressClass: "spacepods-test", Domain: "apps.example.test", Installation: "rollout-test",
		IngressAnnotations: map[string]string{"cert-manager.io/cluster-issuer": "test-issuer"}, IngressTLS: true})
	r := newDeployRig(t, ctx, d, &deploy.Engine{Ingress: d, Domain: "apps.example.test", Scheme: "https"})
	ns := d.Namespace(r.env)
	scale := watchScale(t, ctx, c, ns)
	ing := watchIngress(t, ctx, c, ns, "web")

	first := r.deploy(1)
	if first.Status != spacepods.DeployCompleted {
		t.Fatalf("deploy of build 1: %s (%s)\n%s", first.Status, first.Error, first.Output)
	}
	waitFor(t, "the Ingress of web after build 1", func() bool { return slices.Equal(ing.since(0), []string{"web"}) })
	ing.mu.Lock()
	got := ing.last
	ing.mu.Unlock()
	if got == nil || got.Spec.IngressClassName == nil || *got.Spec.IngressClassName != "spacepods-test" ||
		got.Spec.Rules[0].Host != "web."+r.env+".apps.example.test" || got.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number != 8080 {
		t.Fatalf("Ingress of web after build 1 = %+v, want class spacepods-test, host web.%s.apps.example.test, port 8080", got, r.env)
	}
	if got.Annotations["cert-manager.io/cluster-issuer"] != "test-issuer" || len(got.Spec.TLS) != 1 ||
		got.Spec.TLS[0].SecretName != "web-tls" || !slices.Equal(got.Spec.TLS[0].Hosts, []string{got.Spec.Rules[0].Host}) {
		t.Errorf("Ingress of web: annotations %v, tls %+v; want the configured annotation and TLS for its host from web-tls", got.Annotations, got.Spec.TLS)
	}
	if want := "https://web." + r.env + ".apps.example.test"; r.engine.URL(r.env, "web") != want {
		t.Errorf("URL = %s, want %s", r.engine.URL(r.env, "web"), want)
	}

	mark := ing.count()
	second := r.deploy(2)
	if second.Status != spacepods.DeployCompleted {
		t.Fatalf("deploy of build 2: %s (%s)\n%s", second.Status, second.Error, second.Output)
	}
	r1, r2 := deploy.ServiceName("web", first.Release, ""), deploy.ServiceName("web", second.Release, "")
	// Release 1 rolled out in stages too (nothing was live), then down.
	waitFor(t, "the old Deployment's scale-down", func() bool { return slices.Equal(scale.of(r1), []int{1, 2, 4, 3, 2, 0}) })
	if got := scale.of(r2); !slices.Equal(got, []int{1, 2, 4}) {
		t.Errorf("replicas of the new Deployment %s over the rollout = %v, want [1 2 4]", r2, got)
	}
	if got := scale.of(r1); !slices.Equal(got, []int{1, 2, 4, 3, 2, 0}) {
		t.Errorf("replicas of the old Deployment %s over both rollouts = %v, want [1 2 4] then [3 2 0]", r1, got)
	}
	if got := ing.since(mark); !slices.Equal(got, []string{r1, "web"}) {
		t.Errorf("Ingress backends during the rollout of build 2 = %v, want [%s web]", got, r1)
	}

	mark = ing.count()
	third := r.deploy(3)
	r.wantRolledBack(third, second.Release)
	r3 := deploy.ServiceName("web", third.Release, "")
	if got := scale.of(r2); !slices.Equal(got, []int{1, 2, 4}) {
		t.Errorf("replicas of %s, live while build 3 failed = %v, want it never scaled down from 4", r2, got)
	}
	if got := scale.of(r3); !slices.Equal(got, []int{1}) {
		t.Errorf("replicas of the failing Deployment %s = %v, want [1]: its first stage only", r3, got)
	}
	waitFor(t, "the Ingress back on the old release", func() bool { return slices.Equal(ing.since(mark), []string{r2}) })
	if got := ing.since(mark); !slices.Equal(got, []string{r2}) {
		t.Errorf("Ingress backends during the failed deploy of build 3 = %v, want only [%s]", got, r2)
	}
	t.Logf("rolled back: %s", third.Error)
}

// TestDeploy_HungMigrationTimesOutOnKubernetes: a migration (run as given,
// as the container's command) that outlives its migrate_timeout is killed;
// the deploy fails at migrate naming the timeout, keeps the task's log, and
// reported the running migration meanwhile.
func TestDeploy_HungMigrationTimesOutOnKubernetes(t *testing.T) {
	requireCluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	d := newDriver(t, kubernetes.Config{})
	r := newDeployRig(t, ctx, d, &deploy.Engine{Ingress: d, Domain: "apps.example.test"})
	r.engine.Options.TaskProgress = 300 * time.Millisecond // no deploy runs yet
	const manifest = `name: migrator
repo: acme/migrator
kind: web
port: 8080
health: /healthz
migrate: ["/app", "task", "-say=migrating", "-sleep=1h"]
migrate_timeout: 2s
`
	if _, _, err := r.engine.Catalog.Register(ctx, []byte(manifest), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.engine.Catalog.RecordBuild(ctx, spacepods.Build{App: "migrator", Number: 1, GitSHA: strings.Repeat("b", 40), Branch: "main", Image: "acme/migrator:1"}); err != nil {
		t.Fatal(err)
	}
	dep, err := r.engine.Submit(ctx, deploy.Request{Env: r.env, App: "migrator", Build: 1})
	if err != nil {
		t.Fatal(err)
	}
	if dep, err = r.engine.WaitDeploy(ctx, dep.ID); err != nil {
		t.Fatal(err)
	}
	if dep.Status != spacepods.DeployRolledBack || dep.Step != "migrate" || !strings.Contains(dep.Error, "timeout of 2s") || !strings.Contains(dep.Output, "simulated by kwok") {
		t.Errorf("deploy = %s at %s (%s), output %q; want rolled back at migrate naming the 2s timeout, with the task's log", dep.Status, dep.Step, dep.Error, dep.Output)
	}
	evs, err := r.engine.Events(ctx, dep.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	progress := false
	for _, e := range evs {
		progress = progress || strings.HasPrefix(e.Message, "migrate running 0:0")
	}
	if !progress {
		t.Errorf("no progress event while the migration ran: %+v", evs)
	}
	jobs, err := d.Client().BatchV1().Jobs(d.Namespace(r.env)).List(ctx, metav1.ListOptions{})
	if err != nil || len(jobs.Items) != 0 {
		t.Errorf("jobs left after the timed-out migration: %v, %v", jobs, err)
	}
	if svcs, err := d.ListServices(ctx, r.env); err != nil || len(svcs) != 0 {
		t.Errorf("services after the failed first deploy: %+v, %v; want none", svcs, err)
	}
}
