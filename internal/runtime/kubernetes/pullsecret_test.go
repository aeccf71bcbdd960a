package kubernetes_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spacepods/spacepods/internal/runtime/kubernetes"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestDriver_ImagePullSecretIsCopiedIntoEveryEnvironment: with
// Config.ImagePullSecret (as the service account bound to both documented
// ClusterRoles), the registry credential is copied into an environment's
// namespace, every pod template references it, a rotated source reaches the
// copy at the next deploy, and a missing source fails Ping with
// what to do.
func TestDriver_ImagePullSecretIsCopiedIntoEveryEnvironment(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	ctx := t.Context()
	name := uniqueEnv("regcred")
	src := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"registry.example.test":{"auth":"dXNlcjpvbmU="}}}`)},
	}
	if _, err := c.client.CoreV1().Secrets("default").Create(ctx, src, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.client.CoreV1().Secrets("default").Delete(context.Background(), name, metav1.DeleteOptions{})
	})

	d := newDriver(t, kubernetes.Config{ImagePullSecret: "default/" + name})
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("Ping with a readable pull secret: %v", err)
	}
	env := uniqueEnv("pull")
	ensureEnv(t, d, env)
	ns := d.Namespace(env)
	cp, err := c.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the copy in %s: %v", ns, err)
	}
	if cp.Type != src.Type || string(cp.Data[corev1.DockerConfigJsonKey]) != string(src.Data[corev1.DockerConfigJsonKey]) {
		t.Errorf("the copy = %s %q, want the source's type and data", cp.Type, cp.Data)
	}
	if err := d.CreateService(ctx, webSpec(env, "web")); err != nil {
		t.Fatal(err)
	}
	dep, err := c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ps := dep.Spec.Template.Spec.ImagePullSecrets; len(ps) != 1 || ps[0].Name != name {
		t.Errorf("imagePullSecrets of the Deployment = %v, want [%s]", ps, name)
	}

	// Rotation: the source changes; the next service (every deploy makes
	// one) updates the copy.
	src.Data[corev1.DockerConfigJsonKey] = []byte(`{"auths":{"registry.example.test":{"auth":"dXNlcjp0d28="}}}`)
	if _, err := c.client.CoreV1().Secrets("default").Update(ctx, src, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateService(ctx, webSpec(env, "web-r2")); err != nil {
		t.Fatal(err)
	}
	cp, err = c.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil || !strings.Contains(string(cp.Data[corev1.DockerConfigJsonKey]), "dXNlcjp0d28=") {
		t.Errorf("the copy after the source was rotated: %q %v", cp.Data, err)
	}

	missing := newDriver(t, kubernetes.Config{ImagePullSecret: "default/" + name + "-missing"})
	err = missing.Ping(ctx)
	wantCode(t, err, spacepods.EINVALID, "Ping with a missing pull secret")
	if err != nil && !strings.Contains(err.Error(), "create secret docker-registry") {
		t.Errorf("the error does not say how to create the secret: %v", err)
	}
	if _, err := kubernetes.NewForConfig(c.limited, kubernetes.Config{ImagePullSecret: "no-slash"}); spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Errorf("a pull secret without a namespace: %v, want EINVALID", err)
	}
	// The base ClusterRole alone may not read secrets: the error names the
	// role to bind.
	base, err := kubernetes.NewForConfig(c.limited, kubernetes.Config{ImagePullSecret: "default/" + name})
	if err != nil {
		t.Fatal(err)
	}
	if err := base.Ping(ctx); spacepods.ErrorCode(err) != spacepods.EFORBIDDEN || !strings.Contains(err.Error(), "spacepods-image-pull") {
		t.Errorf("Ping without the spacepods-image-pull role: %v, want forbidden naming it", err)
	}
}
