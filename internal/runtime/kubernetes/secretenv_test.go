package kubernetes_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/drivertest"
	"github.com/spacepods/spacepods/internal/runtime/kubernetes"
)

// TestDriver_SecretEnvLivesInASecretNeverInTheDeploymentOrJob: a secret
// env var's value is in a Secret of the service's (labelled like it, owned
// by its Deployment, gone with it), and the pod template refers to it with
// secretKeyRef; no serialized Deployment, ReplicaSet, pod or Job holds the
// value. The same for a task's Job, whose Secret goes when the task ends.
func TestDriver_SecretEnvLivesInASecretNeverInTheDeploymentOrJob(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	d := newDriver(t, kubernetes.Config{})
	env := uniqueEnv("secretenv")
	ensureEnv(t, d, env)
	ns := d.Namespace(env)
	ctx := t.Context()
	spec := webSpec(env, "catalog-api-r4")
	spec.Secrets = map[string]string{"API_TOKEN": drivertest.SecretRef}
	if err := d.CreateService(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, d, env, spec.Name, 2)

	noValue := func(what string, obj any) {
		t.Helper()
		raw, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), drivertest.SecretValue) {
			t.Errorf("the secret value is in the %s: %s", what, raw)
		}
	}
	dep, err := c.client.AppsV1().Deployments(ns).Get(ctx, spec.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	noValue("Deployment", dep)
	rss, err := c.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	noValue("ReplicaSets", rss)
	pods, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	noValue("pods", pods)

	secretName := spec.Name + ".env"
	checkRef(t, dep.Spec.Template.Spec.Containers[0].Env, secretName)
	sec, err := c.client.CoreV1().Secrets(ns).Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the service's Secret: %v", err)
	}
	if got := string(sec.Data["API_TOKEN"]); got != drivertest.SecretValue || len(sec.Data) != 1 {
		t.Errorf("Secret %s holds %v, want API_TOKEN only, with the secret's value", secretName, sec.Data)
	}
	for _, k := range []string{runtime.LabelManaged, runtime.LabelEnvironment, runtime.LabelApp, runtime.LabelRelease, runtime.LabelService, "spacepods.team"} {
		if sec.Labels[k] != dep.Labels[k] {
			t.Errorf("Secret label %s = %q, want the Deployment's %q", k, sec.Labels[k], dep.Labels[k])
		}
	}
	if o := sec.OwnerReferences; len(o) != 1 || o[0].Kind != "Deployment" || o[0].UID != dep.UID {
		t.Errorf("Secret owners = %+v, want the Deployment %s", o, dep.UID)
	}
	if sec.Immutable == nil || !*sec.Immutable {
		t.Errorf("Secret is not immutable")
	}

	t.Run("Task", func(t *testing.T) {
		seen := make(chan [2]any, 1) // the Job and its Secret, while it runs
		watchCtx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			for watchCtx.Err() == nil {
				jobs, err := c.client.BatchV1().Jobs(ns).List(watchCtx, metav1.ListOptions{LabelSelector: runtime.LabelRole + "=" + runtime.RoleTask})
				if err == nil && len(jobs.Items) > 0 {
					j := jobs.Items[0]
					s, err := c.client.CoreV1().Secrets(ns).Get(watchCtx, j.Name+".env", metav1.GetOptions{})
					if err == nil && len(s.OwnerReferences) > 0 {
						seen <- [2]any{j, s}
						return
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		task := runtime.TaskSpec{Name: "migrate", Environment: env, App: "catalog-api", Release: 4, Image: testImage,
			Command: []string{"task", "-sleep=3s"}, Env: map[string]string{"PLAIN": "visible"},
			Secrets: map[string]string{"API_TOKEN": drivertest.SecretRef}, Timeout: time.Minute}
		res, err := d.RunTask(ctx, task)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("RunTask: %v (exit %d)", err, res.ExitCode)
		}
		var got [2]any
		select {
		case got = <-seen:
		default:
			t.Fatal("never saw the task's Job with its owned Secret while it ran")
		}
		job, sec := got[0].(batchv1.Job), got[1].(*corev1.Secret)
		noValue("Job", job)
		checkRef(t, job.Spec.Template.Spec.Containers[0].Env, job.Name+".env")
		if string(sec.Data["API_TOKEN"]) != drivertest.SecretValue {
			t.Errorf("the task's Secret holds %v, want the secret's value", sec.Data)
		}
		if o := sec.OwnerReferences; o[0].Kind != "Job" || o[0].UID != job.UID {
			t.Errorf("the task's Secret owners = %+v, want the Job %s", o, job.UID)
		}
		if _, err := c.client.CoreV1().Secrets(ns).Get(ctx, sec.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the task's Secret is still there after RunTask: %v", err)
		}
	})

	t.Run("GoesWithTheService", func(t *testing.T) {
		if err := d.DeleteService(ctx, env, spec.Name); err != nil {
			t.Fatal(err)
		}
		if _, err := c.client.CoreV1().Secrets(ns).Get(ctx, secretName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("Secret %s is still there after DeleteService: %v", secretName, err)
		}
	})
}

// checkRef checks that env refers API_TOKEN to its key in the Secret named
// secret, with no value of its own, next to the plain vars.
func checkRef(t *testing.T, env []corev1.EnvVar, secret string) {
	t.Helper()
	found := false
	for _, e := range env {
		if e.Name != "API_TOKEN" {
			continue
		}
		found = true
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != secret || e.ValueFrom.SecretKeyRef.Key != "API_TOKEN" {
			t.Errorf("env API_TOKEN = %+v, want a secretKeyRef to %s/API_TOKEN and no value", e, secret)
		}
	}
	if !found {
		t.Errorf("env %+v has no API_TOKEN", env)
	}
}
