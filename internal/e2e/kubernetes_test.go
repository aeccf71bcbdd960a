package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/testenv"
)

// TestE2E_PodOnKubernetes runs the real binary as docs/kubernetes.md says:
// `spacepods server --runtime kubernetes --kubeconfig …` against the test
// cluster (real API server, kwok nodes), routing by Ingress (the default on
// Kubernetes: no edge router process), with PostgreSQL at a host address.
// A pod of the storefront is created and destroyed through the CLI: its
// apps run as Deployments, each web app's host is an Ingress of the
// configured class, the URLs shown are the Ingress hosts, and destroy
// leaves no namespace and no leak.
func TestE2E_PodOnKubernetes(t *testing.T) {
	kubeconfig := testenv.Kubeconfig(t)
	s := newBareSite(t)
	s.args = []string{"--runtime", "kubernetes", "--kubeconfig", kubeconfig, "--ingress-class", "spacepods-e2e",
		"--domain", "dev.example.test", "--kubernetes-host-address", "192.0.2.10"}
	t.Cleanup(s.teardown)
	s.start()
	for _, app := range podstest.ExampleApps {
		s.mustCLI("app", "register", "-f", filepath.Join("examples", app, "spacepods.yaml"))
		s.mustCLI("build", "record", app, "--number", "1", "--image", "registry.example.test/"+app+":1", "--sha", "abcdef1", "--branch", "main")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := k8s.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	resp, err := http.Get("http://" + s.api + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health struct{ Runtime, Routing, Installation string }
	err = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if err != nil || health.Runtime != "kubernetes" || health.Routing != "ingress" || len(health.Installation) != 12 {
		t.Errorf("/healthz = %+v (%v), want runtime kubernetes, routing ingress and the installation ID", health, err)
	}

	pod := s.name("kdemo")
	out := s.mustCLI("pod", "create", pod, "--app", "storefront", "--wait")
	if !strings.Contains(out, "pod "+pod+" is ready") {
		t.Fatalf("pod create --wait: %s\nserver log:\n%s", out, tail(s.logs(), 40))
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "router", "router.pid")); err == nil {
		t.Errorf("routing by Ingress, yet the server started the edge router")
	}
	ns := "spacepods-" + pod
	ings, err := kc.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]bool{}
	for _, ing := range ings.Items {
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "spacepods-e2e" {
			t.Errorf("Ingress %s has class %v, want spacepods-e2e", ing.Name, ing.Spec.IngressClassName)
		}
		hosts[ing.Spec.Rules[0].Host] = true
	}
	for _, app := range []string{"storefront", "catalog-api", "pricing-api"} {
		if !hosts[app+"."+pod+".dev.example.test"] {
			t.Errorf("no Ingress for %s.%s.dev.example.test in %s (have %v)", app, pod, ns, hosts)
		}
	}
	deps, err := kc.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(deps.Items) != 4 {
		t.Errorf("Deployments in %s: %d, want 4 (three web apps and the mailer)", ns, len(deps.Items))
	}
	var shown struct {
		Apps []struct {
			App string `json:"app"`
			URL string `json:"url"`
		} `json:"app_status"`
	}
	if err := json.Unmarshal([]byte(s.mustCLI("pod", "show", pod, "-o", "json")), &shown); err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{}
	for _, a := range shown.Apps {
		urls[a.App] = a.URL
	}
	if want := "http://storefront." + pod + ".dev.example.test"; urls["storefront"] != want {
		t.Errorf("pod show: storefront URL %q, want %q (all: %v)", urls["storefront"], want, urls)
	}

	s.mustCLI("pod", "destroy", pod, "--wait")
	if _, err := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after destroy --wait: %v", ns, err)
	}
	if leaks := s.mustCLI("audit", "leaks"); strings.Contains(leaks, pod) {
		t.Errorf("audit leaks after destroy names the pod:\n%s", leaks)
	}
}
