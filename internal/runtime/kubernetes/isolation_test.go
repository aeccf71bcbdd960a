package kubernetes_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/kubernetes"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestDriver_IsolationGivesEachEnvironmentANetworkPolicy: with
// Config.Isolation the environment's namespace gets a NetworkPolicy over all
// its pods that admits traffic only from the same namespace and from the
// AllowFrom namespaces, kept up to date when AllowFrom changes. (kwok has no
// network plugin, so the policy's enforcement is not tested here, only what
// the API server stores.)
func TestDriver_IsolationGivesEachEnvironmentANetworkPolicy(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	ctx := t.Context()
	d := newDriver(t, kubernetes.Config{Isolation: true, AllowFrom: []string{"ingress-nginx"}})
	env := uniqueEnv("iso")
	ensureEnv(t, d, env)
	ns := d.Namespace(env)
	pol, err := c.client.NetworkingV1().NetworkPolicies(ns).Get(ctx, "spacepods-isolation", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the environment's network policy: %v", err)
	}
	from := func() []string {
		var out []string
		for _, p := range pol.Spec.Ingress[0].From {
			switch {
			case p.PodSelector != nil && len(p.PodSelector.MatchLabels) == 0:
				out = append(out, "same namespace")
			case p.NamespaceSelector != nil:
				out = append(out, p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
			}
		}
		return out
	}
	if len(pol.Spec.PodSelector.MatchLabels) != 0 || len(pol.Spec.Ingress) != 1 || strings.Join(from(), ",") != "same namespace,ingress-nginx" ||
		pol.Labels[runtime.LabelEnvironment] != env {
		t.Fatalf("network policy = %+v, want all pods, ingress from the same namespace and ingress-nginx only", pol.Spec)
	}

	// The allowed namespaces change (a server restarted with other flags):
	// the next EnsureEnvironment updates the policy.
	d2 := newDriver(t, kubernetes.Config{Isolation: true, AllowFrom: []string{"ingress-nginx", "monitoring"}})
	if err := d2.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}); err != nil {
		t.Fatal(err)
	}
	if pol, err = c.client.NetworkingV1().NetworkPolicies(ns).Get(ctx, "spacepods-isolation", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(from(), ","); got != "same namespace,ingress-nginx,monitoring" {
		t.Errorf("network policy after AllowFrom changed admits %s", got)
	}

	// The base ClusterRole alone may not write network policies: the error
	// names the role to bind.
	base, err := kubernetes.NewForConfig(c.limited, kubernetes.Config{Isolation: true})
	if err != nil {
		t.Fatal(err)
	}
	forbidden := uniqueEnv("iso-forbidden")
	t.Cleanup(func() { d.DestroyEnvironment(context.Background(), forbidden) })
	err = base.EnsureEnvironment(ctx, runtime.EnvSpec{Name: forbidden})
	if spacepods.ErrorCode(err) != spacepods.EFORBIDDEN || !strings.Contains(err.Error(), "spacepods-isolation") {
		t.Errorf("isolation without the spacepods-isolation role: %v, want forbidden naming it", err)
	}
	if _, err := kubernetes.NewForConfig(c.limited, kubernetes.Config{AllowFrom: []string{"Not_A_Namespace"}}); spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Errorf("a bad namespace to allow from: %v, want EINVALID", err)
	}
}
