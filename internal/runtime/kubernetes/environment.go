package kubernetes

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// EnsureEnvironment creates the environment's namespace if missing, labelled
// spacepods.managed=true and spacepods.environment=<env> (and env.Labels).
// EINVALID for a bad name or label; ECONFLICT if the namespace exists but
// Spacepods did not make it, or is still being deleted.
func (d *Driver) EnsureEnvironment(ctx context.Context, env runtime.EnvSpec) error {
	if err := validName("environment", env.Name); err != nil {
		return err
	}
	if err := validLabels(env.Labels); err != nil {
		return err
	}
	if ns, err := d.namespace(ctx, env.Name); err == nil {
		return errors.Join(d.ensurePullSecret(ctx, env.Name, ns.Name), d.ensureIsolation(ctx, env.Name, ns))
	} else if spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return err
	}
	l := runtime.EnvLabels(env.Labels, env.Name, d.cfg.Installation)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: d.Namespace(env.Name), Labels: l}}
	_, err := d.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) { // created concurrently, or still terminating
		_, err = d.namespace(ctx, env.Name)
		if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
			return spacepods.Errorf(spacepods.ECONFLICT, "environment %q is still being destroyed: try again when namespace %s is gone", env.Name, ns.Name)
		}
		return err
	}
	if err != nil {
		return d.wrap(err, "create namespace "+ns.Name)
	}
	if err := d.ensurePullSecret(ctx, env.Name, ns.Name); err != nil {
		return err
	}
	if err := d.ensureIsolation(ctx, env.Name, ns); err != nil {
		return err
	}
	d.logger.Info("environment created", "env", env.Name, "namespace", ns.Name)
	return nil
}

// namespace reads an environment's namespace. ENOTFOUND if it is missing
// or being deleted; ECONFLICT if Spacepods did not make it.
func (d *Driver) namespace(ctx context.Context, env string) (*corev1.Namespace, error) {
	name := d.Namespace(env)
	ns, err := d.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, spacepods.Errorf(spacepods.ENOTFOUND, "environment %q does not exist on Kubernetes (no namespace %s)", env, name)
	}
	if err != nil {
		return nil, d.wrap(err, "get namespace "+name)
	}
	if err := runtime.CheckOwner(ns.Labels, env, d.cfg.Installation, "namespace "+name, "delete it or pick another environment name (or namespace prefix)"); err != nil {
		return nil, err
	}
	if ns.DeletionTimestamp != nil {
		return nil, spacepods.Errorf(spacepods.ENOTFOUND, "environment %q is being destroyed (namespace %s is terminating)", env, name)
	}
	return ns, nil
}

// liveNamespace returns the namespace of an environment that exists.
func (d *Driver) liveNamespace(ctx context.Context, env string) (string, error) {
	if err := validName("environment", env); err != nil {
		return "", err
	}
	ns, err := d.namespace(ctx, env)
	if err != nil {
		return "", err
	}
	return ns.Name, nil
}

// DestroyEnvironment deletes the environment's namespace, and with it
// everything in it, and waits until the namespace is gone. A missing
// environment is not an error; ECONFLICT if the namespace is not one
// Spacepods made (it is left alone).
func (d *Driver) DestroyEnvironment(ctx context.Context, env string) error {
	if env == "" {
		return spacepods.Errorf(spacepods.EINVALID, "environment name is empty")
	}
	name := d.Namespace(env)
	ns, err := d.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return d.deleteStrays(ctx, env)
	}
	if err != nil {
		return d.wrap(err, "get namespace "+name)
	}
	if err := runtime.CheckOwner(ns.Labels, env, d.cfg.Installation, "namespace "+name, "it was left alone"); err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil {
		bg := metav1.DeletePropagationBackground
		err := d.client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{
			PropagationPolicy: &bg,
			Preconditions:     &metav1.Preconditions{UID: &ns.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return d.wrap(err, "delete namespace "+name)
		}
	}
	// The namespace controller deletes its content first; wait for it.
	start := time.Now()
	for wait := 100 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		_, err := d.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			return d.wrap(err, "get namespace "+name)
		}
		select {
		case <-ctx.Done():
			return spacepods.Errorf(spacepods.EUNAVAILABLE,
				"namespace %s of environment %q is still terminating after %s: see `kubectl describe namespace %s` for what holds it",
				name, env, time.Since(start).Round(time.Second), name)
		case <-time.After(wait):
		}
	}
	d.logger.Info("environment destroyed", "env", env, "namespace", name, "took", time.Since(start).Round(time.Millisecond))
	return d.deleteStrays(ctx, env)
}

// deleteStrays deletes the objects labelled for env (by this installation)
// that live outside its namespace, e.g. left by a half-done manual move:
// the leak audit reports them, and removing the leak must remove them.
func (d *Driver) deleteStrays(ctx context.Context, env string) error {
	home := d.Namespace(env)
	var errs []error
	for _, k := range d.labelledKinds() {
		objs, err := k.list(ctx, d.managedSelector(env))
		if err != nil {
			errs = append(errs, d.wrap(err, "list "+k.kind+"s"))
			continue
		}
		for _, o := range objs {
			if o.Namespace == home {
				continue
			}
			if err := k.del(ctx, o.Namespace, o.Name); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, d.wrap(err, "delete "+k.kind+" "+o.Namespace+"/"+o.Name))
				continue
			}
			d.logger.Info("stray object deleted", "env", env, "kind", k.kind, "namespace", o.Namespace, "name", o.Name)
		}
	}
	return errors.Join(errs...)
}

// labelledKind is a kind of namespaced object the driver makes: listed
// across all namespaces by a label selector, deleted by name.
type labelledKind struct {
	kind string
	list func(ctx context.Context, selector string) ([]metav1.ObjectMeta, error)
	del  func(ctx context.Context, ns, name string) error
}

// labelledKinds are the kinds ListEnvironments and deleteStrays look at.
func (d *Driver) labelledKinds() []labelledKind {
	return []labelledKind{
		labelled("deployment", d.client.AppsV1().Deployments, func(l *appsv1.DeploymentList) []appsv1.Deployment { return l.Items }),
		labelled("job", d.client.BatchV1().Jobs, func(l *batchv1.JobList) []batchv1.Job { return l.Items }),
		labelled("service", d.client.CoreV1().Services, func(l *corev1.ServiceList) []corev1.Service { return l.Items }),
		labelled("ingress", d.client.NetworkingV1().Ingresses, func(l *networkingv1.IngressList) []networkingv1.Ingress { return l.Items }),
	}
}

// namespacedClient is what every typed client of a namespaced kind has.
type namespacedClient[L any] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// labelled makes the labelledKind of a typed client (e.g.
// AppsV1().Deployments) and the items of its list type.
func labelled[L, T any, P interface {
	*T
	GetName() string
	GetNamespace() string
	GetLabels() map[string]string
}, C namespacedClient[L]](kind string, client func(ns string) C, items func(L) []T) labelledKind {
	bg := metav1.DeletePropagationBackground
	return labelledKind{
		kind: kind,
		list: func(ctx context.Context, sel string) ([]metav1.ObjectMeta, error) {
			l, err := client(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				return nil, err
			}
			its := items(l)
			out := make([]metav1.ObjectMeta, 0, len(its))
			for i := range its {
				o := P(&its[i])
				out = append(out, metav1.ObjectMeta{Name: o.GetName(), Namespace: o.GetNamespace(), Labels: o.GetLabels()})
			}
			return out, nil
		},
		del: func(ctx context.Context, ns, name string) error {
			return client(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
		},
	}
}

// ListEnvironments lists the environments that have a Spacepods namespace
// (or a Spacepods Deployment, Job, Service or Ingress anywhere), sorted.
func (d *Driver) ListEnvironments(ctx context.Context) ([]string, error) {
	sel := d.managedSelector("")
	nss, err := d.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, d.wrap(err, "list namespaces")
	}
	seen := map[string]bool{}
	for _, ns := range nss.Items {
		seen[ns.Labels[runtime.LabelEnvironment]] = true
	}
	for _, k := range d.labelledKinds() {
		objs, err := k.list(ctx, sel)
		if err != nil {
			return nil, d.wrap(err, "list "+k.kind+"s")
		}
		for _, o := range objs {
			seen[o.Labels[runtime.LabelEnvironment]] = true
		}
	}
	delete(seen, "")
	return slices.Sorted(maps.Keys(seen)), nil
}

// HostAddress returns Config.HostAddress: the address at which the pods of
// an environment reach services that Spacepods runs outside the cluster
// (PostgreSQL). ENOTFOUND if the environment does not exist; EINVALID if no
// host address is configured.
func (d *Driver) HostAddress(ctx context.Context, env string) (string, error) {
	if _, err := d.liveNamespace(ctx, env); err != nil {
		return "", err
	}
	if d.cfg.HostAddress == "" {
		return "", spacepods.Errorf(spacepods.EINVALID,
			"no host address is configured for the kubernetes runtime: set --kubernetes-host-address to the address at which pods reach PostgreSQL (see docs/kubernetes.md)")
	}
	return d.cfg.HostAddress, nil
}
