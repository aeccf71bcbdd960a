package kubernetes

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	klabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// CreateService creates the service's Deployment and a Service for its name
// and each alias (one that exists, shared with another release, is kept).
// A service of that name with the same release and image is left alone;
// ECONFLICT if it differs. ENOTFOUND if the environment does not exist;
// EINVALID for a bad spec.
func (d *Driver) CreateService(ctx context.Context, spec runtime.ServiceSpec) error {
	if err := validateService(spec); err != nil {
		return err
	}
	ns, err := d.liveNamespace(ctx, spec.Environment)
	if err != nil {
		return err
	}
	// A rotated registry credential reaches the environment with its
	// next deploy.
	if err := d.ensurePullSecret(ctx, spec.Environment, ns); err != nil {
		return err
	}
	defer d.lock(ns)()
	want := d.deployment(ns, spec)
	secret, err := d.serviceSecret(ctx, ns, spec, want)
	if err != nil {
		return err
	}
	made, err := d.client.AppsV1().Deployments(ns).Create(ctx, want, metav1.CreateOptions{})
	if err != nil && secret != nil && !apierrors.IsAlreadyExists(err) {
		_ = d.deleteEnvSecret(context.WithoutCancel(ctx), ns, spec.Name) // best-effort cleanup; nothing useful to do on failure
	}
	if apierrors.IsAlreadyExists(err) {
		have, err := d.client.AppsV1().Deployments(ns).Get(ctx, spec.Name, metav1.GetOptions{})
		if err != nil {
			return d.wrap(err, "get deployment "+spec.Name)
		}
		release, image := have.Labels[runtime.LabelRelease], containerImage(have.Spec.Template.Spec)
		if have.Labels[runtime.LabelManaged] != "true" || have.DeletionTimestamp != nil ||
			release != strconv.Itoa(spec.Release) || image != spec.Image {
			return spacepods.Errorf(spacepods.ECONFLICT,
				"service %q already exists in environment %q with release %s (image %s): delete it first",
				spec.Name, spec.Environment, release, image)
		}
	} else if err != nil {
		return d.wrap(err, "create deployment "+spec.Name)
	} else if secret != nil {
		if err := d.ownEnvSecret(ctx, secret, ownerRef("apps/v1", "Deployment", made.ObjectMeta)); err != nil {
			return err
		}
	}
	if err := d.ensureServices(ctx, ns, spec); err != nil {
		return err
	}
	d.logger.Info("service created", "env", spec.Environment, "service", spec.Name,
		"release", spec.Release, "image", spec.Image, "replicas", spec.Replicas)
	return nil
}

// serviceSecret makes the Secret of a new service's secret env (nil when it
// has none, or when the service exists: a repeated create must not change
// what its pods see).
func (d *Driver) serviceSecret(ctx context.Context, ns string, spec runtime.ServiceSpec, dep *appsv1.Deployment) (*corev1.Secret, error) {
	if len(spec.Secrets) == 0 {
		return nil, nil
	}
	_, err := d.client.AppsV1().Deployments(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	if err == nil {
		return nil, nil
	} else if !apierrors.IsNotFound(err) {
		return nil, d.wrap(err, "get deployment "+spec.Name)
	}
	values, err := runtime.ResolveSecrets(ctx, d.cfg.Secrets, spec.Secrets)
	if err != nil {
		return nil, err
	}
	return d.putEnvSecret(ctx, ns, envSecretName(spec.Name), dep.Labels, values)
}

func validateService(spec runtime.ServiceSpec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if err := validDNSName("service name", spec.Name); err != nil {
		return err
	}
	for _, a := range spec.Aliases {
		if err := validDNSName("alias", a); err != nil {
			return err
		}
	}
	if err := validLabels(spec.Labels); err != nil {
		return err
	}
	if err := validLabels(map[string]string{runtime.LabelApp: spec.App}); err != nil {
		return err
	}
	return nil
}

// dnsNames are the names a service answers to inside its environment.
func dnsNames(name string, aliases []string) []string {
	out := []string{name}
	for _, a := range aliases {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func containerImage(p corev1.PodSpec) string {
	if len(p.Containers) == 0 {
		return ""
	}
	return p.Containers[0].Image
}

// seconds rounds a duration up to whole seconds, at least 1.
func seconds(d, def time.Duration) int32 {
	if d <= 0 {
		d = def
	}
	return int32(max(1, math.Ceil(d.Seconds())))
}

// deployment is the Deployment of a service: the whole spec lives in it.
func (d *Driver) deployment(ns string, spec runtime.ServiceSpec) *appsv1.Deployment {
	l := runtime.Labels(spec.Labels, spec.Environment, spec.App, spec.Name, spec.Role, spec.Release, d.cfg.Installation)
	podLabels := maps.Clone(l)
	for _, n := range dnsNames(spec.Name, spec.Aliases) {
		podLabels[aliasLabelPrefix+n] = "true"
	}
	c := corev1.Container{
		Name:                     containerName,
		Image:                    spec.Image,
		Command:                  spec.Command,
		Args:                     spec.Args,
		Env:                      envVars(spec.Env),
		ImagePullPolicy:          corev1.PullPolicy(d.cfg.ImagePullPolicy),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	c.Env = append(c.Env, secretEnvVars(spec.Secrets, envSecretName(spec.Name))...)
	if spec.Port > 0 {
		c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: int32(spec.Port), Protocol: corev1.ProtocolTCP}} //nolint:gosec // ports are validated to 1..65535 by the manifest
		if spec.Health.Path != "" {
			get := &corev1.HTTPGetAction{Path: spec.Health.Path, Port: intstr.FromInt32(int32(spec.Port))} //nolint:gosec // ports are validated to 1..65535 by the manifest
			period := seconds(spec.Health.Interval, time.Second)
			timeout := seconds(spec.Health.Timeout, defaultProbeTimeout)
			c.ReadinessProbe = &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{HTTPGet: get},
				PeriodSeconds: period, TimeoutSeconds: timeout, FailureThreshold: 3, SuccessThreshold: 1,
			}
			// Restart only a replica that stays unhealthy for a minute or so:
			// readiness already takes it out of traffic.
			c.LivenessProbe = &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{HTTPGet: get},
				PeriodSeconds: max(period, 10), TimeoutSeconds: timeout, FailureThreshold: 6, SuccessThreshold: 1,
			}
		}
	}
	replicas := int32(spec.Replicas) //nolint:gosec // replica counts are validated to 0..100 by the manifest
	history := int32(2)
	selector := map[string]string{runtime.LabelService: spec.Name, runtime.LabelRole: spec.Role}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:        spec.Name,
			Namespace:   ns,
			Labels:      l,
			Annotations: map[string]string{annotationAliases: strings.Join(spec.Aliases, ",")},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:             &replicas,
			RevisionHistoryLimit: &history,
			Selector:             &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{c},
					TerminationGracePeriodSeconds: new(stopGrace),
					EnableServiceLinks:            new(false),
					AutomountServiceAccountToken:  new(false),
					ImagePullSecrets:              d.imagePullSecrets(),
					HostAliases:                   hostAliases(spec.Hosts),
				},
			},
		},
	}
}

func envVars(env map[string]string) []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, corev1.EnvVar{Name: k, Value: env[k]})
	}
	return out
}

// ensureServices makes the Service of each DNS name of a service, selecting
// the pods labelled with that name. A Service that exists is kept: an alias
// shared by two releases selects the pods of both.
func (d *Driver) ensureServices(ctx context.Context, ns string, spec runtime.ServiceSpec) error {
	for _, n := range dnsNames(spec.Name, spec.Aliases) {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{
				Name:      n,
				Namespace: ns,
				Labels:    d.appLabels(spec.Environment, spec.App),
			},
			Spec: corev1.ServiceSpec{Selector: map[string]string{aliasLabelPrefix + n: "true"}},
		}
		if spec.Port > 0 {
			svc.Spec.Ports = []corev1.ServicePort{{
				Name: "http", Port: int32(spec.Port), TargetPort: intstr.FromInt32(int32(spec.Port)), Protocol: corev1.ProtocolTCP, //nolint:gosec // ports are validated to 1..65535 by the manifest
			}}
			if n == spec.Name && d.cfg.NodeAddress != "" {
				svc.Spec.Type = corev1.ServiceTypeNodePort // the edge router's target: ServiceAddr
			}
		} else {
			svc.Spec.ClusterIP = corev1.ClusterIPNone // a worker: DNS names only
		}
		_, err := d.client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return d.wrap(err, "create service "+n)
		}
	}
	return nil
}

// pruneServices deletes the Services of a namespace that no Deployment
// answers to any more. The caller holds the namespace's lock.
func (d *Driver) pruneServices(ctx context.Context, ns string) error {
	deps, err := d.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: d.managedSelector("")})
	if err != nil {
		return d.wrap(err, "list deployments")
	}
	used := map[string]bool{}
	for _, dep := range deps.Items {
		if dep.DeletionTimestamp != nil {
			continue
		}
		for _, n := range dnsNames(dep.Name, splitAliases(dep.Annotations[annotationAliases])) {
			used[n] = true
		}
	}
	svcs, err := d.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{LabelSelector: d.managedSelector("")})
	if err != nil {
		return d.wrap(err, "list services")
	}
	for _, s := range svcs.Items {
		if used[s.Name] {
			continue
		}
		err := d.client.CoreV1().Services(ns).Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return d.wrap(err, "delete service "+s.Name)
		}
	}
	return nil
}

func splitAliases(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// getDeployment reads a service's Deployment. ENOTFOUND if there is none
// (or it is being deleted, or Spacepods did not make it).
func (d *Driver) getDeployment(ctx context.Context, env, name string) (*appsv1.Deployment, error) {
	notFound := spacepods.Errorf(spacepods.ENOTFOUND, "service %q not found in environment %q", name, env)
	if validName("environment", env) != nil || validName("service", name) != nil {
		return nil, notFound
	}
	dep, err := d.client.AppsV1().Deployments(d.Namespace(env)).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, d.wrap(err, "get deployment "+name)
	}
	if dep.Labels[runtime.LabelManaged] != "true" || dep.Labels[runtime.LabelEnvironment] != env || dep.DeletionTimestamp != nil {
		return nil, notFound
	}
	return dep, nil
}

// ScaleService sets the Deployment's replica count; scaling down waits
// until the surplus replicas are being deleted, the newest first (ranked
// with the pod-deletion-cost annotation). ENOTFOUND if no such service.
func (d *Driver) ScaleService(ctx context.Context, env, name string, replicas int) error {
	if err := runtime.ValidateReplicas(replicas); err != nil {
		return err
	}
	if replicas > math.MaxInt32 {
		return spacepods.Errorf(spacepods.EINVALID, "replicas %d is more than Kubernetes takes (%d)", replicas, math.MaxInt32)
	}
	dep, err := d.getDeployment(ctx, env, name)
	if err != nil {
		return err
	}
	defer d.lock(dep.Namespace)()
	have := int(ptrValue(dep.Spec.Replicas))
	if replicas > have {
		if err := d.markSeniority(ctx, dep); err != nil {
			return err
		}
	}
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	_, err = d.client.AppsV1().Deployments(dep.Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return spacepods.Errorf(spacepods.ENOTFOUND, "service %q not found in environment %q", name, env)
	}
	if err != nil {
		return d.wrap(err, "scale deployment "+name)
	}
	if replicas < have {
		if err := d.waitScaledDown(ctx, dep, replicas); err != nil {
			return err
		}
	}
	d.logger.Info("service scaled", "env", env, "service", name, "from", have, "to", replicas)
	return nil
}

// waitScaledDown waits (at most scaleDownWait) until the ReplicaSet has
// taken the surplus replicas out: their pods are being deleted, so no
// status counts them any more.
func (d *Driver) waitScaledDown(parent context.Context, dep *appsv1.Deployment, replicas int) error {
	ctx, cancel := context.WithTimeout(parent, scaleDownWait)
	defer cancel()
	for wait := 50 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		pods, err := d.pods(ctx, dep.Namespace, selectorOf(dep))
		if err == nil && len(pods) <= replicas {
			return nil
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return parent.Err()
			}
			d.logger.Warn("scale down is slow", "namespace", dep.Namespace, "service", dep.Name, "replicas", replicas)
			return nil // the count is set; status shows the rest
		case <-time.After(wait):
		}
	}
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// markSeniority runs before a scale-up: the pods that exist now get a
// pod-deletion-cost below every earlier one but above the new pods' (none,
// 0), so that a later scale-down removes the newest replicas first, as the
// Docker driver does. Creation timestamps (whole seconds) cannot tell apart
// pods made in the same second.
func (d *Driver) markSeniority(ctx context.Context, dep *appsv1.Deployment) error {
	pods, err := d.pods(ctx, dep.Namespace, selectorOf(dep))
	if err != nil {
		return err
	}
	cost := int64(math.MaxInt32)
	var fresh []corev1.Pod
	for _, p := range pods {
		if c, err := strconv.ParseInt(p.Annotations[deletionCost], 10, 32); err == nil {
			cost = min(cost, c-1)
		} else {
			fresh = append(fresh, p)
		}
	}
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"%d"}}}`, deletionCost, max(cost, 1))
	return runtime.Parallel(len(fresh), func(i int) error {
		p := fresh[i]
		_, err := d.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return d.wrap(err, "mark pod "+p.Name)
		}
		return nil
	})
}

// DeleteService deletes the service's Deployment (its pods go with it) and
// the Services that no other Deployment answers to. A missing service is
// not an error.
func (d *Driver) DeleteService(ctx context.Context, env, name string) error {
	dep, err := d.getDeployment(ctx, env, name)
	if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	defer d.lock(dep.Namespace)()
	bg := metav1.DeletePropagationBackground
	err = d.client.AppsV1().Deployments(dep.Namespace).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &bg,
		Preconditions:     &metav1.Preconditions{UID: &dep.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return d.wrap(err, "delete deployment "+name)
	}
	if err := d.deleteEnvSecret(ctx, dep.Namespace, name); err != nil {
		return err
	}
	if err := d.pruneServices(ctx, dep.Namespace); err != nil {
		return err
	}
	d.logger.Info("service deleted", "env", env, "service", name)
	return nil
}

// ServiceStatus reports a service's replicas from its pods. ENOTFOUND if no
// such service.
func (d *Driver) ServiceStatus(ctx context.Context, env, name string) (runtime.ServiceStatus, error) {
	dep, err := d.getDeployment(ctx, env, name)
	if err != nil {
		return runtime.ServiceStatus{}, err
	}
	pods, err := d.pods(ctx, dep.Namespace, selectorOf(dep))
	if err != nil {
		return runtime.ServiceStatus{}, err
	}
	st := d.status(dep, groupPods(pods)[dep.Name])
	if err := d.explainUnhealthy(ctx, dep.Namespace, &st); err != nil {
		return runtime.ServiceStatus{}, err
	}
	return st, nil
}

// ListServices lists services by labels, with their status; env "" lists
// every environment.
func (d *Driver) ListServices(ctx context.Context, env string) ([]runtime.ServiceStatus, error) {
	ns := metav1.NamespaceAll
	if env != "" {
		if validName("environment", env) != nil {
			return nil, nil
		}
		ns = d.Namespace(env)
	}
	deps, err := d.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: d.managedSelector(env)})
	if err != nil {
		return nil, d.wrap(err, "list deployments")
	}
	sel := d.managedSelector(env) + "," + runtime.LabelRole + " in (" + runtime.RoleWeb + "," + runtime.RoleWorker + ")"
	pods, err := d.pods(ctx, ns, sel)
	if err != nil {
		return nil, err
	}
	byNS := map[string]map[string][]corev1.Pod{}
	for _, p := range pods {
		if byNS[p.Namespace] == nil {
			byNS[p.Namespace] = map[string][]corev1.Pod{}
		}
		byNS[p.Namespace][p.Labels[runtime.LabelService]] = append(byNS[p.Namespace][p.Labels[runtime.LabelService]], p)
	}
	out := []runtime.ServiceStatus{}
	for _, dep := range deps.Items {
		if dep.DeletionTimestamp != nil || dep.Labels[runtime.LabelEnvironment] == "" {
			continue
		}
		mine := byNS[dep.Namespace][dep.Name]
		sortPods(mine)
		out = append(out, d.status(&dep, mine))
	}
	// Events of not-ready replicas, one namespace at a time.
	for i := range out {
		if err := d.explainUnhealthy(ctx, d.Namespace(out[i].Environment), &out[i]); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b runtime.ServiceStatus) int {
		return cmp.Or(cmp.Compare(a.Environment, b.Environment), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

func selectorOf(dep *appsv1.Deployment) string {
	if dep.Spec.Selector == nil {
		return runtime.LabelService + "=" + dep.Name
	}
	return klabels.Set(dep.Spec.Selector.MatchLabels).String()
}

// pods lists the live pods that match a label selector: not being deleted
// and not finished.
func (d *Driver) pods(ctx context.Context, ns, selector string) ([]corev1.Pod, error) {
	list, err := d.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, d.wrap(err, "list pods")
	}
	out := list.Items[:0]
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out, nil
}

// groupPods groups pods by service label, each group oldest first.
func groupPods(pods []corev1.Pod) map[string][]corev1.Pod {
	out := map[string][]corev1.Pod{}
	for _, p := range pods {
		out[p.Labels[runtime.LabelService]] = append(out[p.Labels[runtime.LabelService]], p)
	}
	for _, ps := range out {
		sortPods(ps)
	}
	return out
}

func sortPods(ps []corev1.Pod) {
	slices.SortFunc(ps, func(a, b corev1.Pod) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})
}

// status is what the Deployment and its pods say of a service.
func (d *Driver) status(dep *appsv1.Deployment, pods []corev1.Pod) runtime.ServiceStatus {
	l := dep.Labels
	release, _ := strconv.Atoi(l[runtime.LabelRelease])
	port := 0
	if cs := dep.Spec.Template.Spec.Containers; len(cs) > 0 && len(cs[0].Ports) > 0 {
		port = int(cs[0].Ports[0].ContainerPort)
	}
	st := runtime.ServiceStatus{
		Name:        dep.Name,
		Environment: l[runtime.LabelEnvironment],
		App:         l[runtime.LabelApp],
		Release:     release,
		Role:        l[runtime.LabelRole],
		Desired:     int(ptrValue(dep.Spec.Replicas)),
		Replicas:    make([]runtime.Replica, 0, len(pods)),
		Labels:      extraLabels(l),
	}
	for _, p := range pods {
		r := replica(&p, port)
		if r.Running {
			st.Running++
		}
		if r.Healthy {
			st.Healthy++
		}
		st.Replicas = append(st.Replicas, r)
	}
	return st
}

// replica is what a pod says of one replica.
func replica(p *corev1.Pod, port int) runtime.Replica {
	r := runtime.Replica{ID: p.Name}
	if port > 0 && p.Status.PodIP != "" {
		r.Addr = net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port))
	}
	var cs *corev1.ContainerStatus
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == containerName {
			cs = &p.Status.ContainerStatuses[i]
		}
	}
	r.Running = p.Status.Phase == corev1.PodRunning && cs != nil && cs.State.Running != nil
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			r.Healthy = r.Running
		}
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			r.Error = "not scheduled: " + cmp.Or(c.Message, c.Reason)
		}
	}
	if cs == nil {
		return r
	}
	r.Restarts = int(cs.RestartCount)
	r.Crashes = crashes(cs)
	var msgs []string
	if t := cs.LastTerminationState.Terminated; t != nil && !r.Healthy {
		msgs = append(msgs, terminated(t, cs.RestartCount))
	}
	if t := cs.State.Terminated; t != nil {
		msgs = append(msgs, terminated(t, cs.RestartCount))
	}
	if w := cs.State.Waiting; w != nil && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
		msgs = append(msgs, strings.TrimSpace(w.Reason+": "+w.Message))
	}
	if len(msgs) > 0 {
		r.Error = strings.Join(msgs, "; ")
	}
	return r
}

// crashes is runtime.Replica.Crashes of a container: its restarts, plus
// the exit it is down after (terminated now, or waiting to be restarted
// after its last termination) when that exit failed.
func crashes(cs *corev1.ContainerStatus) int {
	n := int(cs.RestartCount)
	switch last := cs.LastTerminationState.Terminated; {
	case cs.State.Terminated != nil:
		if cs.State.Terminated.ExitCode != 0 {
			n++
		}
	case cs.State.Waiting != nil && last != nil && last.ExitCode != 0:
		n++
	}
	return n
}

func terminated(t *corev1.ContainerStateTerminated, restarts int32) string {
	s := fmt.Sprintf("exited with code %d (%s)", t.ExitCode, cmp.Or(t.Reason, "Error"))
	if restarts > 0 {
		s += fmt.Sprintf(", restarted %d times", restarts)
	}
	if m := lastLines(strings.TrimSpace(t.Message), errorLogLines); m != "" {
		s += ": " + m
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// explainUnhealthy fills in the Error of running replicas that are not
// ready from the pods' latest probe failure events (the kubelet reports
// probe output only there).
func (d *Driver) explainUnhealthy(ctx context.Context, ns string, st *runtime.ServiceStatus) error {
	need := false
	for _, r := range st.Replicas {
		need = need || (r.Running && !r.Healthy && r.Error == "")
	}
	if !need {
		return nil
	}
	events, err := d.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod,reason=Unhealthy"})
	if err != nil {
		return d.wrap(err, "list events")
	}
	latest := map[string]corev1.Event{}
	for _, e := range events.Items {
		if old, ok := latest[e.InvolvedObject.Name]; !ok || eventTime(e).After(eventTime(old)) {
			latest[e.InvolvedObject.Name] = e
		}
	}
	for i, r := range st.Replicas {
		if e, ok := latest[r.ID]; ok && r.Running && !r.Healthy && r.Error == "" {
			st.Replicas[i].Error = e.Message
		}
	}
	return nil
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// ServiceAddr returns where the edge router reaches a service: with
// Config.NodeAddress, that address and the node port of the service's own
// Service; otherwise the Service's ClusterIP and port (reachable from the
// cluster's nodes and pods). Either way the cluster balances over the ready
// pods of that one release. ENOTFOUND if there is no such service; EINVALID
// for a worker (no port).
func (d *Driver) ServiceAddr(ctx context.Context, env, name string) (string, error) {
	if _, err := d.getDeployment(ctx, env, name); err != nil {
		return "", err
	}
	svc, err := d.client.CoreV1().Services(d.Namespace(env)).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", spacepods.Errorf(spacepods.ENOTFOUND, "service %q in environment %q has no Kubernetes Service", name, env)
	}
	if err != nil {
		return "", d.wrap(err, "get service "+name)
	}
	if len(svc.Spec.Ports) == 0 || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return "", spacepods.Errorf(spacepods.EINVALID, "service %q in environment %q has no port: only web services have an address", name, env)
	}
	p := svc.Spec.Ports[0]
	if d.cfg.NodeAddress != "" {
		if p.NodePort == 0 {
			return "", spacepods.Errorf(spacepods.ECONFLICT, "service %q in environment %q has no node port (it was made before --kubernetes-node-address was set): redeploy the app", name, env)
		}
		return net.JoinHostPort(d.cfg.NodeAddress, strconv.Itoa(int(p.NodePort))), nil
	}
	return net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(p.Port))), nil
}

// appLabels are the labels of an object made for an app rather than for
// one of its releases (a Service of a DNS name, an Ingress).
func (d *Driver) appLabels(env, app string) map[string]string {
	l := runtime.EnvLabels(nil, env, d.cfg.Installation)
	l[runtime.LabelApp] = app
	return l
}

// hostAliases turns extra host entries into the pod's /etc/hosts aliases,
// one per IP address, in a stable order.
func hostAliases(hosts map[string]string) []corev1.HostAlias {
	byIP := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(hosts)) {
		byIP[hosts[name]] = append(byIP[hosts[name]], name)
	}
	var out []corev1.HostAlias
	for _, ip := range slices.Sorted(maps.Keys(byIP)) {
		out = append(out, corev1.HostAlias{IP: ip, Hostnames: byIP[ip]})
	}
	return out
}
