package kubernetes_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/kubernetes"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestDriver_SuspendScalesToZeroAndResumeBackToTheReplicasItHad(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	d := newDriver(t, kubernetes.Config{})
	env := uniqueEnv("sleep")
	ensureEnv(t, d, env)
	spec := webSpec(env, "catalog-api-r4")
	if err := d.CreateService(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, d, env, spec.Name, 2)
	var sus runtime.Suspender = d
	for range 2 { // a second suspend changes nothing (it must not record 0)
		if err := sus.SuspendService(t.Context(), env, spec.Name); err != nil {
			t.Fatal(err)
		}
	}
	dep, err := c.client.AppsV1().Deployments(d.Namespace(env)).Get(t.Context(), spec.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 0 || dep.Annotations["spacepods.suspended-replicas"] != "2" {
		t.Fatalf("suspended deployment: replicas %d, annotations %v", *dep.Spec.Replicas, dep.Annotations)
	}
	var st runtime.ServiceStatus
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if st, err = d.ServiceStatus(t.Context(), env, spec.Name); err == nil && st.Running == 0 && st.Desired == 0 {
			break
		}
	}
	if st.Running != 0 || st.Desired != 0 {
		t.Fatalf("suspended service still runs: %+v %v", st, err)
	}
	// Its Services stay: the router's target comes back with the pods.
	if _, err := c.client.CoreV1().Services(d.Namespace(env)).Get(t.Context(), spec.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("Service of a suspended service: %v", err)
	}
	for range 2 {
		if err := sus.ResumeService(t.Context(), env, spec.Name); err != nil {
			t.Fatal(err)
		}
	}
	waitHealthy(t, d, env, spec.Name, 2)
	dep, err = c.client.AppsV1().Deployments(d.Namespace(env)).Get(t.Context(), spec.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := dep.Annotations["spacepods.suspended-replicas"]; ok {
		t.Fatalf("resumed deployment keeps the annotation: %v", dep.Annotations)
	}
	if err := sus.SuspendService(t.Context(), env, "nope-r1"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("suspend of a missing service: %v, want ENOTFOUND", err)
	}
}
