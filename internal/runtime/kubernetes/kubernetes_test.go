package kubernetes_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/drivertest"
	"github.com/spacepods/spacepods/internal/runtime/kubernetes"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// testImage is never pulled: no container runs on kwok's fake nodes.
const testImage = "spacepods-test/testapp:1"

// TestDriver_Conformance runs the shared suite on a real API server whose
// nodes are simulated (no data plane), as the documented ClusterRole.
func TestDriver_Conformance(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	probe := newDriver(t, kubernetes.Config{})
	sim := &drivertest.Simulation{
		Env: func(ctx context.Context, env, service string) (map[string]string, error) {
			dep, err := c.client.AppsV1().Deployments(probe.Namespace(env)).Get(ctx, service, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			return containerEnv(ctx, c, dep.Namespace, dep.Spec.Template.Spec.Containers[0].Env)
		},
		Resolve: func(ctx context.Context, env, name string) ([]string, error) {
			return resolve(ctx, c, probe.Namespace(env), name)
		},
		Process: func(ctx context.Context, env, service string) ([]string, []string, error) {
			dep, err := c.client.AppsV1().Deployments(probe.Namespace(env)).Get(ctx, service, metav1.GetOptions{})
			if err != nil {
				return nil, nil, err
			}
			ctr := dep.Spec.Template.Spec.Containers[0]
			return ctr.Command, ctr.Args, nil
		},
	}
	drivertest.RunWithOptions(t, func(t *testing.T) runtime.Driver { return newDriver(t, kubernetes.Config{}) },
		drivertest.Images{TestApp: testImage}, drivertest.Options{Simulated: sim,
			Installation: func(t *testing.T, id string) runtime.Driver { return newDriver(t, kubernetes.Config{Installation: id}) }})
}

// containerEnv is what the kubelet would give a container: env values,
// and the keys of Secrets that secretKeyRefs name (read as an admin).
func containerEnv(ctx context.Context, c *cluster, ns string, env []corev1.EnvVar) (map[string]string, error) {
	out := map[string]string{}
	for _, e := range env {
		ref := e.ValueFrom
		if ref == nil || ref.SecretKeyRef == nil {
			out[e.Name] = e.Value
			continue
		}
		s, err := c.client.CoreV1().Secrets(ns).Get(ctx, ref.SecretKeyRef.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		v, ok := s.Data[ref.SecretKeyRef.Key]
		if !ok {
			return nil, fmt.Errorf("env %s: secret %s has no key %s", e.Name, s.Name, ref.SecretKeyRef.Key)
		}
		out[e.Name] = string(v)
	}
	return out, nil
}

// resolve is what cluster DNS would answer for a Service name in a
// namespace: the ready endpoints of the Service's EndpointSlices.
func resolve(ctx context.Context, c *cluster, ns, name string) ([]string, error) {
	if _, err := c.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	eps, err := c.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range eps.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				for _, p := range s.Ports {
					if p.Port != nil {
						out = append(out, fmt.Sprintf("%s:%d", a, *p.Port))
					}
				}
			}
		}
	}
	return out, nil
}

func ensureEnv(t *testing.T, d *kubernetes.Driver, name string) {
	t.Helper()
	if err := d.EnsureEnvironment(t.Context(), runtime.EnvSpec{Name: name}); err != nil {
		t.Fatalf("EnsureEnvironment(%s): %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.DestroyEnvironment(ctx, name); err != nil {
			t.Errorf("cleanup: DestroyEnvironment(%s): %v", name, err)
		}
	})
}

func webSpec(env, name string) runtime.ServiceSpec {
	return runtime.ServiceSpec{
		Name: name, Environment: env, App: "catalog-api", Release: 4, Role: runtime.RoleWeb,
		Image: testImage, Command: []string{"/app", "serve"}, Args: []string{"-verbose"}, Env: map[string]string{"GREETING": "hi", "PORT": "8080"},
		Port: 8080, Aliases: []string{"catalog-api"}, Replicas: 2,
		Health: runtime.HealthCheck{Path: "/healthz", Interval: 1500 * time.Millisecond, Timeout: time.Second},
		Labels: map[string]string{"spacepods.team": "payments"},
	}
}

func waitHealthy(t *testing.T, d *kubernetes.Driver, env, name string, n int) runtime.ServiceStatus {
	t.Helper()
	var st runtime.ServiceStatus
	var err error
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		st, err = d.ServiceStatus(t.Context(), env, name)
		if err == nil && st.Healthy == n && len(st.Replicas) == n {
			return st
		}
	}
	t.Fatalf("%s/%s never had %d healthy replicas: %+v, %v", env, name, n, st, err)
	return st
}

// TestDriver_ServiceIsADeploymentAndServicesInTheEnvironmentsNamespace
// checks the objects behind a service: labels, probes from the health path,
// env, replicas, and one Service per DNS name.
func TestDriver_ServiceIsADeploymentAndServicesInTheEnvironmentsNamespace(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	d := newDriver(t, kubernetes.Config{})
	env := uniqueEnv("objects")
	ensureEnv(t, d, env)
	ns := d.Namespace(env)
	spec := webSpec(env, "catalog-api-r4")
	if err := d.CreateService(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, d, env, spec.Name, 2)

	nsObj, err := c.client.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if nsObj.Labels[runtime.LabelManaged] != "true" || nsObj.Labels[runtime.LabelEnvironment] != env {
		t.Errorf("namespace %s labels = %v", ns, nsObj.Labels)
	}
	dep, err := c.client.AppsV1().Deployments(ns).Get(t.Context(), spec.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		runtime.LabelManaged: "true", runtime.LabelEnvironment: env, runtime.LabelApp: "catalog-api",
		runtime.LabelRelease: "4", runtime.LabelRole: "web", runtime.LabelService: spec.Name, "spacepods.team": "payments",
	}
	for k, v := range want {
		if dep.Labels[k] != v || dep.Spec.Template.Labels[k] != v {
			t.Errorf("label %s: deployment %q, pods %q, want %q", k, dep.Labels[k], dep.Spec.Template.Labels[k], v)
		}
	}
	if *dep.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2", *dep.Spec.Replicas)
	}
	ctr := dep.Spec.Template.Spec.Containers[0]
	if ctr.Image != testImage || !slices.Equal(ctr.Command, []string{"/app", "serve"}) || !slices.Equal(ctr.Args, []string{"-verbose"}) {
		t.Errorf("container image %q command %q args %q, want the spec's Command as command and its Args as args", ctr.Image, ctr.Command, ctr.Args)
	}
	if len(ctr.Env) != 2 || ctr.Env[0] != (corev1.EnvVar{Name: "GREETING", Value: "hi"}) {
		t.Errorf("container env = %v", ctr.Env)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": ctr.ReadinessProbe, "liveness": ctr.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.IntValue() != 8080 || p.TimeoutSeconds != 1 {
			t.Errorf("%s probe = %+v, want GET /healthz on 8080 with a 1s timeout", name, p)
		}
	}
	if ctr.ReadinessProbe != nil && ctr.ReadinessProbe.PeriodSeconds != 2 {
		t.Errorf("readiness period = %ds, want the interval 1.5s rounded up to 2s", ctr.ReadinessProbe.PeriodSeconds)
	}
	for _, name := range []string{spec.Name, "catalog-api"} {
		svc, err := c.client.CoreV1().Services(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Service %s: %v", name, err)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || svc.Labels[runtime.LabelManaged] != "true" {
			t.Errorf("Service %s = %+v", name, svc.Spec)
		}
	}

	// A second release sharing the alias keeps the alias' Service; deleting
	// the first keeps it; deleting the last removes it.
	r5 := webSpec(env, "catalog-api-r5")
	r5.Release, r5.Replicas = 5, 1
	if err := d.CreateService(t.Context(), r5); err != nil {
		t.Fatal(err)
	}
	r5st := waitHealthy(t, d, env, r5.Name, 1)
	if err := d.DeleteService(t.Context(), env, spec.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Services(ns).Get(t.Context(), spec.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Service %s after DeleteService: %v, want it gone", spec.Name, err)
	}
	var addrs []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if addrs, err = resolve(t.Context(), c, ns, "catalog-api"); err == nil && slices.Equal(addrs, []string{r5st.Replicas[0].Addr}) {
			break
		}
	}
	if !slices.Equal(addrs, []string{r5st.Replicas[0].Addr}) {
		t.Errorf("alias catalog-api resolves to %v after release 4 went, want only release 5's replica %s", addrs, r5st.Replicas[0].Addr)
	}
	if err := d.DeleteService(t.Context(), env, r5.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Services(ns).Get(t.Context(), "catalog-api", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("alias Service after its last service went: %v, want it gone", err)
	}
}

// leftovers lists every object labelled for an environment, in any namespace.
func leftovers(t *testing.T, c *cluster, env string) []string {
	t.Helper()
	ctx := t.Context()
	sel := metav1.ListOptions{LabelSelector: runtime.LabelEnvironment + "=" + env}
	var out []string
	nss, err := c.client.CoreV1().Namespaces().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range nss.Items {
		out = append(out, "namespace/"+o.Name)
	}
	add := func(kind string, names []metav1.ObjectMeta) {
		for _, m := range names {
			out = append(out, kind+"/"+m.Namespace+"/"+m.Name)
		}
	}
	deps, err := c.client.AppsV1().Deployments("").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	var metas []metav1.ObjectMeta
	for _, o := range deps.Items {
		metas = append(metas, o.ObjectMeta)
	}
	add("deployment", metas)
	metas = nil
	pods, err := c.client.CoreV1().Pods("").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range pods.Items {
		metas = append(metas, o.ObjectMeta)
	}
	add("pod", metas)
	metas = nil
	svcs, err := c.client.CoreV1().Services("").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range svcs.Items {
		metas = append(metas, o.ObjectMeta)
	}
	add("service", metas)
	metas = nil
	jobs, err := c.client.BatchV1().Jobs("").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range jobs.Items {
		metas = append(metas, o.ObjectMeta)
	}
	add("job", metas)
	metas = nil
	ings, err := c.client.NetworkingV1().Ingresses("").List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ings.Items {
		metas = append(metas, o.ObjectMeta)
	}
	add("ingress", metas)
	return out
}

// TestDriver_DestroyDeletesTheNamespaceAndWaitsUntilItIsGone fills an
// environment with every kind of object the driver makes and checks that
// nothing labelled for it is left when DestroyEnvironment returns.
func TestDriver_DestroyDeletesTheNamespaceAndWaitsUntilItIsGone(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	d := newDriver(t, kubernetes.Config{IngressClass: "nginx"})
	env := uniqueEnv("destroy")
	ensureEnv(t, d, env)
	spec := webSpec(env, "catalog-api-r4")
	if err := d.CreateService(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	worker := runtime.ServiceSpec{Name: "mailer", Environment: env, App: "mailer", Role: runtime.RoleWorker, Image: testImage, Replicas: 1}
	if err := d.CreateService(t.Context(), worker); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Route(t.Context(), env, "catalog-api", "catalog-api"); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, d, env, spec.Name, 2)
	if _, err := d.RunTask(t.Context(), runtime.TaskSpec{Name: "migrate", Environment: env, App: "catalog-api", Image: testImage, Args: []string{"task"}}); err != nil {
		t.Fatal(err)
	}
	if got := leftovers(t, c, env); len(got) < 8 {
		t.Fatalf("objects of %s before destroy = %v, want the namespace, 2 deployments, 3 pods, 3 services and an ingress", env, got)
	}

	start := time.Now()
	if err := d.DestroyEnvironment(t.Context(), env); err != nil {
		t.Fatalf("DestroyEnvironment: %v", err)
	}
	t.Logf("DestroyEnvironment took %s", time.Since(start).Round(time.Millisecond))
	if _, err := c.client.CoreV1().Namespaces().Get(t.Context(), d.Namespace(env), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace %s after DestroyEnvironment returned: %v, want it gone", d.Namespace(env), err)
	}
	if got := leftovers(t, c, env); len(got) > 0 {
		t.Fatalf("left after DestroyEnvironment: %v", got)
	}
}

// TestDriver_CreateDestroyCyclesLeaveNoLabelledNamespace makes and destroys
// environments with a service in them ten times.
func TestDriver_CreateDestroyCyclesLeaveNoLabelledNamespace(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	d := newDriver(t, kubernetes.Config{})
	base := uniqueEnv("cycle")
	start := time.Now()
	for i := range 10 {
		env := fmt.Sprintf("%s-%d", base, i%3) // names come back, as pods' do
		if err := d.EnsureEnvironment(t.Context(), runtime.EnvSpec{Name: env}); err != nil {
			t.Fatalf("cycle %d: EnsureEnvironment: %v", i, err)
		}
		spec := webSpec(env, "web")
		spec.Replicas = 1
		if err := d.CreateService(t.Context(), spec); err != nil {
			t.Fatalf("cycle %d: CreateService: %v", i, err)
		}
		if i%3 == 0 {
			waitHealthy(t, d, env, "web", 1)
		}
		if err := d.DestroyEnvironment(t.Context(), env); err != nil {
			t.Fatalf("cycle %d: DestroyEnvironment: %v", i, err)
		}
	}
	t.Logf("10 cycles took %s", time.Since(start).Round(time.Millisecond))
	nss, err := c.client.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{LabelSelector: runtime.LabelManaged + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss.Items {
		if strings.HasPrefix(ns.Labels[runtime.LabelEnvironment], base) {
			t.Errorf("namespace %s (phase %s) is left", ns.Name, ns.Status.Phase)
		}
	}
	envs, err := d.ListEnvironments(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range envs {
		if strings.HasPrefix(e, base) {
			t.Errorf("ListEnvironments still has %s", e)
		}
	}
}

// TestDriver_IngressRoutesTheAppHost checks runtime.Ingresser: one Ingress
// per app host with the configured class, pointing at a service or alias.
func TestDriver_IngressRoutesTheAppHost(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	d := newDriver(t, kubernetes.Config{IngressClass: "nginx", Domain: "spacepods.test"})
	var _ runtime.Ingresser = d
	env := uniqueEnv("ingress")
	ensureEnv(t, d, env)
	ns := d.Namespace(env)
	r4 := webSpec(env, "catalog-api-r4")
	if err := d.CreateService(t.Context(), r4); err != nil {
		t.Fatal(err)
	}

	host, err := d.Route(t.Context(), env, "catalog-api", "catalog-api-r4")
	if err != nil {
		t.Fatalf("Route: %v", err)
	}
	if want := "catalog-api." + env + ".spacepods.test"; host != want {
		t.Errorf("host = %q, want %q", host, want)
	}
	check := func(target string) {
		t.Helper()
		ing, err := c.client.NetworkingV1().Ingresses(ns).Get(t.Context(), "catalog-api", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Ingress: %v", err)
		}
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
			t.Errorf("ingress class = %v, want nginx", ing.Spec.IngressClassName)
		}
		if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != host {
			t.Fatalf("rules = %+v, want one for %s", ing.Spec.Rules, host)
		}
		b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
		if b.Name != target || b.Port.Number != 8080 {
			t.Errorf("backend = %s:%d, want %s:8080", b.Name, b.Port.Number, target)
		}
		if ing.Labels[runtime.LabelManaged] != "true" || ing.Labels[runtime.LabelEnvironment] != env || ing.Labels[runtime.LabelApp] != "catalog-api" {
			t.Errorf("ingress labels = %v", ing.Labels)
		}
	}
	check("catalog-api-r4")
	// Routing the app's alias (shared by every release) replaces the rule.
	if _, err := d.Route(t.Context(), env, "catalog-api", "catalog-api"); err != nil {
		t.Fatalf("Route to the alias: %v", err)
	}
	check("catalog-api")

	_, err = d.Route(t.Context(), env, "catalog-api", "nope")
	wantCode(t, err, spacepods.ENOTFOUND, "Route to an unknown target")
	_, err = d.Route(t.Context(), uniqueEnv("missing"), "catalog-api", "catalog-api")
	wantCode(t, err, spacepods.ENOTFOUND, "Route in a missing environment")
	if err := d.CreateService(t.Context(), runtime.ServiceSpec{Name: "mailer", Environment: env, App: "mailer", Role: runtime.RoleWorker, Image: testImage}); err != nil {
		t.Fatal(err)
	}
	_, err = d.Route(t.Context(), env, "mailer", "mailer")
	wantCode(t, err, spacepods.EINVALID, "Route to a worker")

	for i := range 2 {
		if err := d.Unroute(t.Context(), env, "catalog-api"); err != nil {
			t.Fatalf("Unroute #%d: %v", i+1, err)
		}
	}
	if _, err := c.client.NetworkingV1().Ingresses(ns).Get(t.Context(), "catalog-api", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Ingress after Unroute: %v, want it gone", err)
	}
}

// TestDriver_TaskLogTailComesFromThePodLogAPI checks that a task's log
// tail is its pod's log, as the API server serves it (from kwok here).
func TestDriver_TaskLogTailComesFromThePodLogAPI(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	d := newDriver(t, kubernetes.Config{})
	b, err := os.ReadFile(podLogFile(c))
	if err != nil {
		t.Skipf("no pod log file next to the kubeconfig: %v", err)
	}
	env := uniqueEnv("tasklog")
	ensureEnv(t, d, env)
	res, err := d.RunTask(t.Context(), runtime.TaskSpec{Name: "migrate", Environment: env, Image: testImage, Args: []string{"task", "-exit=4"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 4 {
		t.Errorf("exit code = %d, want 4", res.ExitCode)
	}
	var want strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// CRI format: <time> <stream> <tag> <message>
		if f := strings.SplitN(line, " ", 4); len(f) == 4 {
			want.WriteString(f[3] + "\n")
		}
	}
	if res.LogTail != want.String() {
		t.Errorf("log tail = %q, want the pod's log %q", res.LogTail, want.String())
	}
	jobs, err := c.client.BatchV1().Jobs(d.Namespace(env)).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 0 {
		t.Errorf("jobs left after RunTask: %d", len(jobs.Items))
	}
}

// TestDriver_TaskCommandIsTheContainersCommand: a task's Command becomes
// its container's command (replacing the image's ENTRYPOINT), not its
// args (which would run after the ENTRYPOINT); its Args become args.
func TestDriver_TaskCommandIsTheContainersCommand(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	d := newDriver(t, kubernetes.Config{})
	env := uniqueEnv("taskcmd")
	ensureEnv(t, d, env)
	for _, task := range []runtime.TaskSpec{
		{Name: "migrate", Environment: env, Image: testImage, Command: []string{"/app", "task", "-sleep=3s", "-exit=5"}},
		{Name: "tests", Environment: env, Image: testImage, Args: []string{"task", "-sleep=3s", "-exit=5"}},
	} {
		done := make(chan struct{})
		var res runtime.TaskResult
		var err error
		go func() {
			defer close(done)
			res, err = d.RunTask(t.Context(), task)
		}()
		var ctr *corev1.Container
		for ctr == nil {
			jobs, lerr := c.client.BatchV1().Jobs(d.Namespace(env)).List(t.Context(), metav1.ListOptions{})
			if lerr != nil {
				t.Fatal(lerr)
			}
			for _, j := range jobs.Items {
				if j.Labels[runtime.LabelService] == task.Name {
					ctr = &j.Spec.Template.Spec.Containers[0]
				}
			}
			select {
			case <-done:
				if ctr == nil {
					t.Fatalf("task %s ended (%v) before its Job was seen", task.Name, err)
				}
			case <-time.After(100 * time.Millisecond):
			}
		}
		if !slices.Equal(ctr.Command, task.Command) || !slices.Equal(ctr.Args, task.Args) {
			t.Errorf("task %s: Job container command %q args %q, want command %q args %q", task.Name, ctr.Command, ctr.Args, task.Command, task.Args)
		}
		<-done
		if err != nil || res.ExitCode != 5 {
			t.Errorf("task %s: exit %d, %v; want exit 5", task.Name, res.ExitCode, err)
		}
	}
}

// TestDriver_LeavesForeignNamespacesAlone: a namespace Spacepods did not
// make is neither adopted nor deleted.
func TestDriver_LeavesForeignNamespacesAlone(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	d := newDriver(t, kubernetes.Config{})
	env := uniqueEnv("foreign")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: d.Namespace(env)}}
	if _, err := c.client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	err := d.EnsureEnvironment(t.Context(), runtime.EnvSpec{Name: env})
	wantCode(t, err, spacepods.ECONFLICT, "EnsureEnvironment over a foreign namespace")
	err = d.DestroyEnvironment(t.Context(), env)
	wantCode(t, err, spacepods.ECONFLICT, "DestroyEnvironment of a foreign namespace")
	if _, err := c.client.CoreV1().Namespaces().Get(t.Context(), ns.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("foreign namespace after DestroyEnvironment: %v", err)
	}
	err = d.CreateService(t.Context(), webSpec(env, "web"))
	wantCode(t, err, spacepods.ECONFLICT, "CreateService in a foreign namespace")
}

// TestDriver_StrayLabelledObjectsNameTheirEnvironment: a labelled object
// outside any Spacepods namespace (here a Service and an Ingress in
// "default", as a half-done manual cleanup might leave) still names its
// environment in ListEnvironments, so the leak audit reports it, and
// DestroyEnvironment (the audit's --remove) deletes it.
func TestDriver_StrayLabelledObjectsNameTheirEnvironment(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	d := newDriver(t, kubernetes.Config{})
	for _, kind := range []string{"service", "ingress"} {
		env := uniqueEnv("stray" + kind)
		meta := metav1.ObjectMeta{Name: env, Namespace: "default", Labels: map[string]string{runtime.LabelManaged: "true", runtime.LabelEnvironment: env}}
		var err error
		if kind == "service" {
			_, err = c.client.CoreV1().Services("default").Create(t.Context(), &corev1.Service{ObjectMeta: meta,
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
			t.Cleanup(func() {
				c.client.CoreV1().Services("default").Delete(context.Background(), env, metav1.DeleteOptions{})
			})
		} else {
			_, err = c.client.NetworkingV1().Ingresses("default").Create(t.Context(), &networkingv1.Ingress{ObjectMeta: meta,
				Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "x", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}, metav1.CreateOptions{})
			t.Cleanup(func() {
				c.client.NetworkingV1().Ingresses("default").Delete(context.Background(), env, metav1.DeleteOptions{})
			})
		}
		if err != nil {
			t.Fatal(err)
		}
		envs, err := d.ListEnvironments(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(envs, env) {
			t.Errorf("ListEnvironments does not name %s, which a stray %s carries", env, kind)
		}
		// What `audit leaks --remove` does: the stray goes too.
		if err := d.DestroyEnvironment(t.Context(), env); err != nil {
			t.Fatalf("DestroyEnvironment of the leaked %s: %v", env, err)
		}
		if envs, err := d.ListEnvironments(t.Context()); err != nil || slices.Contains(envs, env) {
			t.Errorf("after DestroyEnvironment, ListEnvironments = %v (%v): the stray %s is left", envs, err, kind)
		}
	}
}

// TestDriver_HostsBecomeHostAliases: a service's extra hosts are its pods'
// hostAliases, one per IP address.
func TestDriver_HostsBecomeHostAliases(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	d := newDriver(t, kubernetes.Config{})
	env := uniqueEnv("hosts")
	ensureEnv(t, d, env)
	spec := webSpec(env, "web")
	spec.Hosts = map[string]string{"b.example.test": "10.0.0.1", "a.example.test": "10.0.0.1", "c.example.test": "10.0.0.2"}
	if err := d.CreateService(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	dep, err := c.client.AppsV1().Deployments(d.Namespace(env)).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(dep.Spec.Template.Spec.HostAliases)
	if want := "[{10.0.0.1 [a.example.test b.example.test]} {10.0.0.2 [c.example.test]}]"; got != want {
		t.Errorf("hostAliases = %s, want %s", got, want)
	}
}

// TestDriver_UnreachableAPIServerIsUnavailable needs no cluster.
func TestDriver_UnreachableAPIServerIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n" +
		"users:\n- name: u\n  user:\n    token: x\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := kubernetes.New(kubernetes.Config{Kubeconfig: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for name, call := range map[string]func() error{
		"Ping":             func() error { return d.Ping(ctx) },
		"ListEnvironments": func() error { _, err := d.ListEnvironments(ctx); return err },
		"ServiceStatus":    func() error { _, err := d.ServiceStatus(ctx, "dev", "web"); return err },
	} {
		err := call()
		wantCode(t, err, spacepods.EUNAVAILABLE, name+" with no API server")
		if msg := spacepods.ErrorMessage(err); !strings.Contains(msg, "check --kubeconfig") {
			t.Errorf("%s message %q does not say how to fix it", name, msg)
		}
	}
}

func TestNew_BadConfigIsInvalid(t *testing.T) {
	_, err := kubernetes.New(kubernetes.Config{Kubeconfig: filepath.Join(t.TempDir(), "missing")})
	wantCode(t, err, spacepods.EINVALID, "New with a missing kubeconfig")
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		_, err = kubernetes.New(kubernetes.Config{})
		wantCode(t, err, spacepods.EINVALID, "New outside a cluster with no kubeconfig")
	}
}

func TestDriver_NamespaceNamesAreDNSLabels(t *testing.T) {
	d, err := kubernetes.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"}, kubernetes.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, env, want string
	}{
		{"short", "qa", "spacepods-qa"},
		{"long is cut with a hash", strings.Repeat("a", 63), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := d.Namespace(tc.env)
			if tc.want != "" && got != tc.want {
				t.Errorf("Namespace(%q) = %q, want %q", tc.env, got, tc.want)
			}
			if len(got) > 63 || !strings.HasPrefix(got, "spacepods-") {
				t.Errorf("Namespace(%q) = %q: not a prefixed DNS label", tc.env, got)
			}
		})
	}
	if d.Namespace(strings.Repeat("a", 63)) == d.Namespace(strings.Repeat("a", 62)+"b") {
		t.Error("two long environment names share a namespace")
	}
}

func wantCode(t *testing.T, err error, code, call string) {
	t.Helper()
	if got := spacepods.ErrorCode(err); got != code {
		t.Fatalf("%s: error code %q (err %v), want %q", call, got, err, code)
	}
}
