package docker_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/docker"
	"github.com/spacepods/spacepods/internal/runtime/drivertest"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// newDriver returns a driver on the local daemon, closed when t ends.
func newDriver(t *testing.T) *docker.Driver {
	t.Helper()
	testenv.RequireDocker(t)
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	d, err := docker.New(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), docker.WithSecrets(drivertest.Secrets))
	if err != nil {
		t.Fatalf("docker.New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var testImage struct {
	once sync.Once
	ref  string
	err  error
}

// testAppImage builds the testapp image once per test process; an image
// built from the same binary by an earlier run is reused.
func testAppImage(t *testing.T, d *docker.Driver) string {
	t.Helper()
	bin := drivertest.TestAppBinary(t)
	testImage.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		testImage.ref, testImage.err = d.EnsureScratchImage(ctx, "spacepods-test/testapp", bin)
	})
	if testImage.err != nil {
		t.Fatalf("build testapp image: %v", testImage.err)
	}
	return testImage.ref
}

func TestDriver_Conformance(t *testing.T) {
	d := newDriver(t)
	images := drivertest.Images{TestApp: testAppImage(t, d)}
	drivertest.RunWithOptions(t, func(t *testing.T) runtime.Driver { return newDriver(t) }, images, drivertest.Options{
		Installation: func(t *testing.T, id string) runtime.Driver {
			d, err := docker.New(nil, docker.WithInstallation(id), docker.WithSecrets(drivertest.Secrets))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		},
	})
}

func TestDriver_MissingImageWithoutRegistryIsInvalidAndNeverPulled(t *testing.T) {
	d := newDriver(t)
	ctx := t.Context()
	env := "dt-noimage-" + rand.Text()[:8]
	env = strings.ToLower(env)
	if err := d.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.DestroyEnvironment(context.Background(), env) })

	spec := runtime.ServiceSpec{Name: "web", Environment: env, Role: runtime.RoleWeb, Image: "spacepods-test/not-built:1", Replicas: 1}
	err := d.CreateService(ctx, spec)
	if spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Fatalf("CreateService with a missing image: %v, want EINVALID", err)
	}
	want := "image spacepods-test/not-built:1 is not on this Docker host: build it first (scripts/build-examples.sh), or push it to a registry and record the build as <registry>/<repository>:<tag> (Spacepods pulls only from a registry the image's name gives)"
	if got := spacepods.ErrorMessage(err); got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	_, err = d.RunTask(ctx, runtime.TaskSpec{Name: "migrate", Environment: env, Image: "spacepods-test/not-built:1"})
	if spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Fatalf("RunTask with a missing image: %v, want EINVALID", err)
	}
}

func TestDriver_DaemonDownIsUnavailable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/no-docker.sock")
	d, err := docker.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for name, call := range map[string]func() error{
		"Ping":             func() error { return d.Ping(t.Context()) },
		"ListEnvironments": func() error { _, err := d.ListEnvironments(t.Context()); return err },
		"ServiceStatus":    func() error { _, err := d.ServiceStatus(t.Context(), "dev", "web"); return err },
	} {
		err := call()
		if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
			t.Fatalf("%s with no daemon: %v, want EUNAVAILABLE", name, err)
		}
		if msg := spacepods.ErrorMessage(err); !strings.Contains(msg, "start it (dockerd) or set DOCKER_HOST") {
			t.Errorf("%s message %q does not say how to fix it", name, msg)
		}
	}
}

// TestDriver_BridgeGatewayIsDocker0sAddress: the address the router's
// internal listener goes to is docker0's own, whether or not the daemon
// reports the bridge's gateway (it does not on its first start).
func TestDriver_BridgeGatewayIsDocker0sAddress(t *testing.T) {
	d := newDriver(t)
	gw, err := d.BridgeGateway(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	iface, err := net.InterfaceByName("docker0")
	if err != nil {
		testenv.Missing(t, "docker0 interface ("+err.Error()+")", "run the tests on the Docker host, with dockerd's default bridge")
	}
	addrs, err := iface.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			have = append(have, ipn.IP.String())
		}
	}
	if !slices.Contains(have, gw) {
		t.Fatalf("BridgeGateway = %s; docker0 has %v", gw, have)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatalf("cannot listen on the bridge gateway %s: %v", gw, err)
	}
	ln.Close()
}

// TestDriver_DestroyEnvironmentDetachesWhatIsStillOnItsNetwork: a container
// Spacepods did not make (or an endpoint Docker left behind) on an
// environment's network does not keep the environment alive.
func TestDriver_DestroyEnvironmentDetachesWhatIsStillOnItsNetwork(t *testing.T) {
	d := newDriver(t)
	image := testAppImage(t, d)
	ctx := t.Context()
	env := strings.ToLower("dt-foreign-" + rand.Text()[:8])
	if err := d.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.DestroyEnvironment(context.Background(), env) })
	nets, err := exec.Command("docker", "network", "ls", "-q", "--filter", "label="+runtime.LabelEnvironment+"="+env).Output()
	if err != nil || len(strings.Fields(string(nets))) != 1 {
		t.Fatalf("the environment's network: %q %v", nets, err)
	}
	net := strings.Fields(string(nets))[0]
	out, err := exec.Command("docker", "run", "-d", "--network", net, image).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run on the environment's network: %v %s", err, out)
	}
	foreign := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", foreign).Run() })
	if err := d.DestroyEnvironment(ctx, env); err != nil {
		t.Fatalf("DestroyEnvironment with a foreign container on its network: %v", err)
	}
	if left, _ := exec.Command("docker", "network", "ls", "-q", "--filter", "id="+net).Output(); strings.TrimSpace(string(left)) != "" {
		t.Fatalf("the environment's network %s is still there", net)
	}
}
