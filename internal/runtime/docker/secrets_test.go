package docker_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/drivertest"
)

// TestDriver_SecretValuesStayOutOfTheSpecContainer: the never-started spec
// container (what a restarted control plane reads a service back from)
// holds the references of secret env vars, never their values, anywhere in
// what `docker inspect` shows of it; the replicas, which are running
// processes, do get the values in their env (docs/secrets.md says why).
func TestDriver_SecretValuesStayOutOfTheSpecContainer(t *testing.T) {
	d := newDriver(t)
	image := testAppImage(t, d)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	env := "dt-secrets-" + strings.ToLower(rand.Text()[:8])
	if err := d.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.DestroyEnvironment(context.Background(), env) })

	spec := runtime.ServiceSpec{
		Name: "web", Environment: env, App: "web", Release: 1, Role: runtime.RoleWeb, Image: image,
		Env: map[string]string{"PLAIN": "visible"}, Secrets: map[string]string{"API_TOKEN": drivertest.SecretRef},
		Port: 8080, Replicas: 1,
	}
	if err := d.CreateService(ctx, spec); err != nil {
		t.Fatal(err)
	}
	inspect := func(n int) (container.InspectResponse, string) {
		t.Helper()
		c, err := cli.ContainerInspect(ctx, runtime.ObjectName("spacepods", env, "web", strconv.Itoa(n))) // the driver's container name
		if err != nil {
			t.Fatalf("inspect container %d: %v", n, err)
		}
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return c, string(raw)
	}
	checkSpec := func(when string) {
		t.Helper()
		c, raw := inspect(0)
		if strings.Contains(raw, drivertest.SecretValue) {
			t.Errorf("%s: the spec container holds the secret value: %s", when, raw)
		}
		if !strings.Contains(c.Config.Labels["spacepods.secrets"], drivertest.SecretRef) {
			t.Errorf("%s: spec container labels %v lack the secret's reference", when, c.Config.Labels)
		}
		if !slices.Contains(c.Config.Env, "PLAIN=visible") {
			t.Errorf("%s: spec container env %v lacks the plain var", when, c.Config.Env)
		}
		if c.State.Running || c.State.StartedAt != "0001-01-01T00:00:00Z" {
			t.Errorf("%s: the spec container was started (%+v)", when, c.State)
		}
	}
	if c, _ := inspect(1); !slices.Contains(c.Config.Env, "API_TOKEN="+drivertest.SecretValue) {
		t.Errorf("replica env %v lacks the secret value", c.Config.Env)
	}

	// Scaled to zero, the service keeps its spec in the spec container
	// (made from a replica, which holds the values): without them. A
	// restarted control plane (a new driver) scales the service from
	// zero: the spec container still holds no value, the new replica does.
	other := newDriver(t)
	if err := other.ScaleService(ctx, env, "web", 0); err != nil {
		t.Fatal(err)
	}
	checkSpec("after scaling to zero")
	if err := newDriver(t).ScaleService(ctx, env, "web", 1); err != nil {
		t.Fatal(err)
	}
	checkSpec("after scaling from zero")
	if c, _ := inspect(1); !slices.Contains(c.Config.Env, "API_TOKEN="+drivertest.SecretValue) {
		t.Errorf("env %v of the replica started from zero lacks the secret value", c.Config.Env)
	}
}
