package kubernetes

import (
	"context"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// isolationPolicy is the name of the NetworkPolicy that isolates an
// environment's namespace (Config.Isolation).
const isolationPolicy = "spacepods-isolation"

// namespaceNameLabel is set on every namespace by the API server (1.21+).
const namespaceNameLabel = "kubernetes.io/metadata.name"

// isolationSpec admits traffic to an environment's pods from its own pods
// and from the namespaces of Config.AllowFrom (the ingress controller's)
// only.
func (d *Driver) isolationSpec() networkingv1.NetworkPolicySpec {
	peers := []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}
	for _, ns := range d.cfg.AllowFrom {
		peers = append(peers, networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{namespaceNameLabel: ns}},
		})
	}
	return networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: peers}},
	}
}

// ensureIsolation makes (or brings up to date) the environment's
// NetworkPolicy when Config.Isolation is on. It takes effect where the
// cluster's network plugin enforces NetworkPolicies.
func (d *Driver) ensureIsolation(ctx context.Context, env string, ns *corev1.Namespace) error {
	if !d.cfg.Isolation {
		return nil
	}
	want := d.isolationSpec()
	pols := d.client.NetworkingV1().NetworkPolicies(ns.Name)
	have, err := pols.Get(ctx, isolationPolicy, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = pols.Create(ctx, &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: isolationPolicy, Namespace: ns.Name, Labels: runtime.EnvLabels(nil, env, d.cfg.Installation)},
			Spec:       want,
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
	case err != nil:
	case have.Labels[runtime.LabelManaged] != "true":
		return spacepods.Errorf(spacepods.ECONFLICT, "network policy %s/%s exists but Spacepods did not create it: it was left alone", ns.Name, isolationPolicy)
	case reflect.DeepEqual(have.Spec, want):
		return nil
	default:
		have.Spec = want
		_, err = pols.Update(ctx, have, metav1.UpdateOptions{})
	}
	if apierrors.IsForbidden(err) {
		return spacepods.Errorf(spacepods.EFORBIDDEN, "writing the network policy of %s is forbidden: bind the ClusterRole spacepods-isolation of docs/kubernetes-rbac.yaml too", ns.Name)
	}
	if err != nil {
		return d.wrap(err, "write network policy in "+ns.Name)
	}
	return nil
}
