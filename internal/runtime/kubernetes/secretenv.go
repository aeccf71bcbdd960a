package kubernetes

import (
	"context"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Secret env vars (ServiceSpec.Secrets, TaskSpec.Secrets) live in a Secret
// of their own per Deployment or Job, which the pod template refers to with
// secretKeyRef: a value is never in a Deployment's or Job's env. The Secret
// is made before its owner, so that no pod starts before the values exist,
// then made a dependent of it (ownerReferences), so the garbage collector
// deletes it with its owner; DeleteService and RunTask delete it at once too.

// envSecretName is the Secret holding the secret env of the Deployment or
// Job named owner. The dot keeps it apart from every name the driver makes
// from DNS labels (Deployments, Services, "<app>-tls").
func envSecretName(owner string) string { return owner + ".env" }

// secretEnvVars refers each secret env var to its key in the Secret named
// secret, sorted by name.
func secretEnvVars(secrets map[string]string, secret string) []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(secrets))
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		out = append(out, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret},
			Key:                  k,
			Optional:             new(false),
		}}})
	}
	return out
}

// putEnvSecret makes the Secret name in ns with values (name → value),
// labelled l. One left by an earlier attempt is replaced, so that it
// carries no stale owner. The driver never reads Secrets (its ClusterRole
// has no get on them): the name, with a dot that no other name the driver
// makes has, in a namespace Spacepods made, says whose it is.
func (d *Driver) putEnvSecret(ctx context.Context, ns, name string, l, values map[string]string) (*corev1.Secret, error) {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l},
		Type:       corev1.SecretTypeOpaque,
		Immutable:  new(true), // a release's values never change under its pods
		Data:       make(map[string][]byte, len(values)),
	}
	for k, v := range values {
		s.Data[k] = []byte(v)
	}
	secrets := d.client.CoreV1().Secrets(ns)
	for range 3 {
		made, err := secrets.Create(ctx, s, metav1.CreateOptions{})
		if err == nil {
			return made, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, d.secretErr(err, "create secret "+name)
		}
		err = secrets.Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, d.secretErr(err, "delete stale secret "+name)
		}
	}
	return nil, spacepods.Errorf(spacepods.ECONFLICT, "secret %s/%s keeps coming back: is another Spacepods server deploying the same service?", ns, name)
}

// ownEnvSecret makes s a dependent of the object that owner names, so the
// garbage collector deletes it with that object.
func (d *Driver) ownEnvSecret(ctx context.Context, s *corev1.Secret, owner metav1.OwnerReference) error {
	s.OwnerReferences = []metav1.OwnerReference{owner}
	_, err := d.client.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
	return d.secretErr(err, "set the owner of secret "+s.Name)
}

// deleteEnvSecret deletes the Secret of an owner's secret env; a missing
// one is not an error.
func (d *Driver) deleteEnvSecret(ctx context.Context, ns, owner string) error {
	err := d.client.CoreV1().Secrets(ns).Delete(ctx, envSecretName(owner), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return d.secretErr(err, "delete secret "+envSecretName(owner))
	}
	return nil
}

// secretErr is wrap, with the RBAC to apply when secrets are forbidden
// (a ClusterRole from before the driver kept secret env in Secrets).
func (d *Driver) secretErr(err error, what string) error {
	if apierrors.IsForbidden(err) {
		return spacepods.Errorf(spacepods.EFORBIDDEN,
			"kubernetes: %s: %v: the ClusterRole spacepods-driver of docs/kubernetes-rbac.yaml grants secrets create, update and delete (apply it again)", what, err)
	}
	return d.wrap(err, what)
}

// ownerRef refers to a Deployment or Job as the owner of its Secret.
func ownerRef(apiVersion, kind string, meta metav1.ObjectMeta) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: meta.Name, UID: meta.UID}
}
