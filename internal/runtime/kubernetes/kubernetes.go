// Package kubernetes is the Kubernetes runtime driver (client-go): one
// namespace per environment, a Deployment per service, a Service per DNS
// name (the service's own name and each alias), a Job per one-off task, a
// Secret per Deployment or Job that has secret env vars, and optionally an
// Ingress per app host (runtime.Ingresser).
//
// Like the Docker driver it keeps no state of its own: everything (which
// services exist, their spec, their desired count) is read back from the
// API server by labels, so a restarted control plane finds it all again.
//
// Health comes from the cluster, not from probes the driver sends: the
// service's health path becomes the pod's readiness and liveness probes and
// a replica is healthy when its pod is Ready. Replica.Addr is the pod IP and
// port, which the control plane reaches only from inside the cluster's
// network (on a simulated cluster, such as kwok's fake nodes, nothing
// listens there at all).
package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net/url"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

var (
	_ runtime.Driver    = (*Driver)(nil)
	_ runtime.Gatewayer = (*Driver)(nil)
	_ runtime.Ingresser = (*Driver)(nil)

	_ runtime.ServiceAddresser = (*Driver)(nil)
)

// Names the driver gives things, next to the shared labels in package runtime.
const (
	// annotationAliases lists a Deployment's DNS aliases, comma-separated.
	annotationAliases = "spacepods.aliases"
	// aliasLabelPrefix + name = "true" marks the pods that the Service of
	// that DNS name selects (the service's own name and each alias).
	aliasLabelPrefix = "alias.spacepods/"
	// deletionCost is the well-known annotation that tells a ReplicaSet
	// which pods to remove first when it scales down.
	deletionCost = "controller.kubernetes.io/pod-deletion-cost"
	// containerName is the one container of every service and task pod.
	containerName = "app"
	// jobNameLabel is set by the Job controller on a Job's pods.
	jobNameLabel = "batch.kubernetes.io/job-name"
)

const (
	defaultPrefix       = "spacepods-"
	defaultDomain       = "localhost"
	defaultProbeTimeout = 2 * time.Second // health probe timeout
	errorLogLines       = 10              // log lines quoted in Replica.Error
	taskTTLSeconds      = int32(3600)     // a Job left behind by a crashed control plane goes after this
	// stopGrace is the pods' termination grace period: SIGTERM, then
	// SIGKILL after this (as on Docker). It also bounds how long the
	// namespace controller waits for pods when an environment is destroyed.
	stopGrace = int64(5)
	// scaleDownWait bounds how long ScaleService waits for the surplus
	// replicas to be taken out.
	scaleDownWait = 30 * time.Second
)

// Config says which cluster the driver talks to and how it names things.
type Config struct {
	// Kubeconfig is the path of a kubeconfig file; empty means the
	// in-cluster config (the pod's service account).
	Kubeconfig string
	// Context is the kubeconfig context to use; empty means its current one.
	Context string
	// IngressClass is the ingressClassName of app Ingresses; empty means the
	// cluster's default class.
	IngressClass string
	// IngressAnnotations are put on every app Ingress, e.g.
	// cert-manager.io/cluster-issuer=letsencrypt, or an ingress
	// controller's own settings.
	IngressAnnotations map[string]string
	// IngressTLS makes every app Ingress serve its host over TLS with the
	// certificate in the Secret <app>-tls of the environment's namespace
	// (which cert-manager, given an issuer annotation, makes and renews).
	IngressTLS bool
	// Domain is the domain of app hosts, <app>.<environment>.<domain>
	// (default "localhost").
	Domain string
	// NamespacePrefix is put before an environment's name to make its
	// namespace (default "spacepods-").
	NamespacePrefix string
	// HostAddress is the address at which pods reach services outside the
	// cluster that Spacepods runs (PostgreSQL): what HostAddress returns.
	HostAddress string
	// NodeAddress, when set, is the address of a cluster node (or a load
	// balancer in front of the nodes) at which the edge router reaches
	// services: each release's Service gets type NodePort and ServiceAddr
	// returns NodeAddress:<node port>. Empty: ServiceAddr returns the
	// Service's ClusterIP and port, reachable from the nodes and pods only
	// (an edge router that runs in the cluster).
	NodeAddress string
	// Installation, when set, labels everything the driver makes and
	// narrows what it lists and owns to objects with that label: two
	// installations can share a cluster (give them different
	// NamespacePrefixes too, or environment names will collide).
	Installation string
	// ImagePullSecret, "<namespace>/<name>", names a registry credential
	// (a Secret of type kubernetes.io/dockerconfigjson) that the driver
	// copies into every environment's namespace and puts in every pod's
	// imagePullSecrets. Empty: none (the nodes pull anonymously or with
	// their own credentials).
	ImagePullSecret string
	// Isolation, when set, gives every environment's namespace a
	// NetworkPolicy that admits traffic to its pods only from pods of the
	// same namespace and from the namespaces in AllowFrom (the ingress
	// controller's). Without it, pods of other namespaces can reach an
	// environment's Services by their full names. It takes effect where the
	// cluster's network plugin enforces NetworkPolicies.
	Isolation bool
	AllowFrom []string
	// ImagePullPolicy of every container: IfNotPresent (default), Always or
	// Never.
	ImagePullPolicy string
	// Logger gets the driver's structured logs; nil discards them.
	Logger *slog.Logger
	// Secrets reads the values of secret env vars (ServiceSpec.Secrets,
	// TaskSpec.Secrets), which the driver keeps in a Secret per Deployment
	// or Job. Nil: a spec that names secrets is refused with EUNAVAILABLE.
	Secrets runtime.SecretResolver
}

// Driver runs Spacepods services and tasks on a Kubernetes cluster. It is
// safe for concurrent use.
type Driver struct {
	client kubernetes.Interface
	host   string // API server URL, for messages
	cfg    Config
	logger *slog.Logger
	locks  [64]sync.Mutex // striped per namespace
}

// New returns a driver for the cluster that cfg names: cfg.Kubeconfig, or
// the in-cluster config when that is empty. It does not connect; see Ping.
// EINVALID if the config cannot be loaded.
func New(cfg Config) (*Driver, error) {
	var rc *rest.Config
	var err error
	if cfg.Kubeconfig != "" {
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.Kubeconfig}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
		if err != nil {
			return nil, spacepods.Errorf(spacepods.EINVALID, "kubeconfig %s: %v: check the file and the context name", cfg.Kubeconfig, err)
		}
	} else {
		rc, err = rest.InClusterConfig()
		if err != nil {
			return nil, spacepods.Errorf(spacepods.EINVALID, "no in-cluster Kubernetes config (%v): pass --kubeconfig, or run the server in a pod", err)
		}
	}
	return NewForConfig(rc, cfg)
}

// NewForConfig returns a driver that uses a ready REST config (cfg's
// Kubeconfig and Context are not used).
func NewForConfig(rc *rest.Config, cfg Config) (*Driver, error) {
	rc = rest.CopyConfig(rc)
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 50, 100
	}
	if rc.UserAgent == "" {
		rc.UserAgent = "spacepods"
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "kubernetes client: %v", err)
	}
	return newDriver(cs, rc.Host, cfg)
}

func newDriver(cs kubernetes.Interface, host string, cfg Config) (*Driver, error) {
	if cfg.Domain == "" {
		cfg.Domain = defaultDomain
	}
	if cfg.NamespacePrefix == "" {
		cfg.NamespacePrefix = defaultPrefix
	}
	if msgs := validation.IsDNS1123Label(strings.TrimSuffix(cfg.NamespacePrefix, "-") + "x"); len(msgs) > 0 {
		return nil, spacepods.Errorf(spacepods.EINVALID, "namespace prefix %q: %s", cfg.NamespacePrefix, strings.Join(msgs, "; "))
	}
	switch cfg.ImagePullPolicy {
	case "":
		cfg.ImagePullPolicy = "IfNotPresent"
	case "IfNotPresent", "Always", "Never":
	default:
		return nil, spacepods.Errorf(spacepods.EINVALID, "image pull policy %q: use IfNotPresent, Always or Never", cfg.ImagePullPolicy)
	}
	if cfg.ImagePullSecret != "" {
		ns, name, _ := strings.Cut(cfg.ImagePullSecret, "/")
		if validation.IsDNS1123Label(ns) != nil || validation.IsDNS1123Subdomain(name) != nil {
			return nil, spacepods.Errorf(spacepods.EINVALID, "image pull secret %q: write <namespace>/<secret name>", cfg.ImagePullSecret)
		}
	}
	for _, ns := range cfg.AllowFrom {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			return nil, spacepods.Errorf(spacepods.EINVALID, "namespace %q to allow traffic from: %s", ns, strings.Join(msgs, "; "))
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{client: cs, host: host, cfg: cfg, logger: cfg.Logger.With("driver", "kubernetes")}, nil
}

// Name returns the driver's registry ID.
func (d *Driver) Name() string { return ID }

// Client returns the driver's Kubernetes clientset.
func (d *Driver) Client() kubernetes.Interface { return d.client }

// Ping checks that the API server answers. EUNAVAILABLE if it does not.
func (d *Driver) Ping(ctx context.Context) error {
	_, err := d.client.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return d.wrap(err, "ping")
	}
	if _, _, ok := d.pullSecret(); ok {
		_, err := d.sourcePullSecret(ctx)
		return err
	}
	return nil
}

// Namespace returns the namespace of an environment: the prefix and the
// name, shortened with a hash suffix when that is over 63 characters.
func (d *Driver) Namespace(env string) string {
	ns := d.cfg.NamespacePrefix + env
	if len(ns) <= validation.DNS1123LabelMaxLength {
		return ns
	}
	sum := sha256.Sum256([]byte(env))
	return strings.TrimRight(ns[:54], "-") + "-" + hex.EncodeToString(sum[:4])
}

// wrap turns a Kubernetes client error into the Spacepods error vocabulary.
func (d *Driver) wrap(err error, what string) error {
	var ue *url.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("kubernetes: %s: %w", what, err)
	case apierrors.IsNotFound(err):
		return spacepods.Errorf(spacepods.ENOTFOUND, "kubernetes: %s: %v", what, err)
	case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
		return spacepods.Errorf(spacepods.ECONFLICT, "kubernetes: %s: %v", what, err)
	case apierrors.IsUnauthorized(err):
		return spacepods.Errorf(spacepods.EUNAVAILABLE,
			"kubernetes: %s: the API server at %s rejected the driver's credentials: check the kubeconfig's user or token", what, d.host)
	case apierrors.IsForbidden(err):
		return spacepods.Errorf(spacepods.EFORBIDDEN,
			"kubernetes: %s: %v: bind the driver's identity to the ClusterRole in docs/kubernetes-rbac.yaml", what, err)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return spacepods.Errorf(spacepods.EINVALID, "kubernetes: %s: %v", what, err)
	case apierrors.IsServiceUnavailable(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		errors.As(err, &ue):
		return spacepods.Errorf(spacepods.EUNAVAILABLE,
			"cannot reach the Kubernetes API server at %s (%v): check --kubeconfig and that the cluster is up", d.host, err)
	}
	return fmt.Errorf("kubernetes: %s: %w", what, err)
}

// lock serializes changes within one namespace in this process (Services
// are shared between the Deployments of a namespace).
func (d *Driver) lock(ns string) func() {
	h := fnv.New32a()
	h.Write([]byte(ns))
	m := &d.locks[h.Sum32()%uint32(len(d.locks))]
	m.Lock()
	return m.Unlock
}

// validName checks an environment, service or task name: a DNS label, as
// on every driver.
func validName(kind, name string) error { return runtime.ValidateName(kind, name) }

// validDNSName checks a name that becomes a Kubernetes Service (RFC 1035:
// it starts with a letter).
func validDNSName(kind, name string) error {
	if len(validation.IsDNS1035Label(name)) > 0 {
		return spacepods.Errorf(spacepods.EINVALID,
			"%s %q cannot name a Kubernetes Service: use 1-63 lower-case letters, digits and dashes, starting with a letter", kind, name)
	}
	return nil
}

// validLabels checks extra labels: Kubernetes label keys and values.
func validLabels(l map[string]string) error {
	for k, v := range l {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			return spacepods.Errorf(spacepods.EINVALID, "label key %q: %s", k, strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			return spacepods.Errorf(spacepods.EINVALID, "label %s=%q: %s", k, v, strings.Join(msgs, "; "))
		}
	}
	return nil
}

// ownLabels are the labels the driver sets; the rest came from spec.Labels.
var ownLabels = []string{
	runtime.LabelManaged, runtime.LabelEnvironment, runtime.LabelApp, runtime.LabelRelease,
	runtime.LabelRole, runtime.LabelService,
}

func extraLabels(l map[string]string) map[string]string {
	out := maps.Clone(l)
	for _, k := range ownLabels {
		delete(out, k)
	}
	for k := range out {
		if strings.HasPrefix(k, aliasLabelPrefix) {
			delete(out, k)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// managedSelector selects objects this installation of Spacepods made,
// optionally of one environment.
func (d *Driver) managedSelector(env string) string {
	s := runtime.LabelManaged + "=true"
	if d.cfg.Installation != "" {
		s += "," + runtime.LabelInstallation + "=" + d.cfg.Installation
	}
	if env != "" {
		s += "," + runtime.LabelEnvironment + "=" + env
	}
	return s
}
