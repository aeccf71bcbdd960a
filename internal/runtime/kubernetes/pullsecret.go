package kubernetes

import (
	"context"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// pullSecret splits Config.ImagePullSecret, "<namespace>/<name>"; ok is
// false when none is configured.
func (d *Driver) pullSecret() (ns, name string, ok bool) {
	ns, name, ok = strings.Cut(d.cfg.ImagePullSecret, "/")
	return ns, name, ok
}

// imagePullSecrets is what every pod spec references: the copy of the
// configured pull secret in its own namespace.
func (d *Driver) imagePullSecrets() []corev1.LocalObjectReference {
	if _, name, ok := d.pullSecret(); ok {
		return []corev1.LocalObjectReference{{Name: name}}
	}
	return nil
}

// sourcePullSecret reads the configured pull secret. EINVALID if it is
// missing or not a registry credential; EFORBIDDEN names the RBAC to apply.
func (d *Driver) sourcePullSecret(ctx context.Context) (*corev1.Secret, error) {
	ns, name, _ := d.pullSecret()
	s, err := d.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, spacepods.Errorf(spacepods.EINVALID,
			"image pull secret %s/%s not found: create it (kubectl -n %s create secret docker-registry %s --docker-server=… --docker-username=… --docker-password=…) or fix --kubernetes-image-pull-secret", ns, name, ns, name)
	}
	if apierrors.IsForbidden(err) {
		return nil, spacepods.Errorf(spacepods.EFORBIDDEN,
			"reading image pull secret %s/%s is forbidden: bind the ClusterRole spacepods-image-pull of docs/kubernetes-rbac.yaml too", ns, name)
	}
	if err != nil {
		return nil, d.wrap(err, "get image pull secret "+ns+"/"+name)
	}
	if s.Type != corev1.SecretTypeDockerConfigJson && s.Type != corev1.SecretTypeDockercfg {
		return nil, spacepods.Errorf(spacepods.EINVALID, "secret %s/%s is of type %s, not a registry credential (%s)", ns, name, s.Type, corev1.SecretTypeDockerConfigJson)
	}
	return s, nil
}

// ensurePullSecret copies the configured pull secret into an environment's
// namespace, or brings the copy up to date with the source (a rotated
// registry password reaches environments at their next deploy). Nothing
// when none is configured.
func (d *Driver) ensurePullSecret(ctx context.Context, env, ns string) error {
	if _, _, ok := d.pullSecret(); !ok {
		return nil
	}
	src, err := d.sourcePullSecret(ctx)
	if err != nil {
		return err
	}
	secrets := d.client.CoreV1().Secrets(ns)
	have, err := secrets.Get(ctx, src.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cp := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: src.Name, Namespace: ns, Labels: runtime.EnvLabels(nil, env, d.cfg.Installation)},
			Type:       src.Type,
			Data:       src.Data,
		}
		_, err = secrets.Create(ctx, cp, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) { // made concurrently
			return nil
		}
	case err != nil:
	case have.Labels[runtime.LabelManaged] != "true":
		return spacepods.Errorf(spacepods.ECONFLICT, "secret %s/%s exists but Spacepods did not create it: it was left alone", ns, src.Name)
	case have.Type == src.Type && maps.EqualFunc(have.Data, src.Data, func(a, b []byte) bool { return string(a) == string(b) }):
		return nil
	default:
		if have.Type != src.Type { // the type of a Secret cannot change
			if err = secrets.Delete(ctx, have.Name, metav1.DeleteOptions{}); err == nil {
				return d.ensurePullSecret(ctx, env, ns)
			}
			break
		}
		have.Data = src.Data
		_, err = secrets.Update(ctx, have, metav1.UpdateOptions{})
	}
	if err != nil {
		return d.wrap(err, "copy image pull secret into "+ns)
	}
	return nil
}
