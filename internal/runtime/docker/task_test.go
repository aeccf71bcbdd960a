package docker_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/spacepods/spacepods/internal/runtime"
)

// TestDriver_TaskContainersAreGoneOnceTheDriverCloses: RunTask returns
// without waiting for its container's removal (that costs a busy Docker
// a good part of a second, on every deploy's migration), and Close waits
// for those removals, so that nothing of a task is left behind.
func TestDriver_TaskContainersAreGoneOnceTheDriverCloses(t *testing.T) {
	d := newDriver(t)
	image := testAppImage(t, d)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	env := "dt-taskrm-" + strings.ToLower(rand.Text()[:8])
	if err := d.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { newDriver(t).DestroyEnvironment(context.Background(), env) })
	for i := range 3 {
		res, err := d.RunTask(ctx, runtime.TaskSpec{Name: "migrate", Environment: env, App: "web", Release: 1, Image: image, Args: []string{"task"}, Timeout: time.Minute})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("RunTask #%d: %+v, %v", i+1, res, err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", runtime.LabelEnvironment+"="+env))})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 0 {
		t.Fatalf("%d task containers left after the driver closed: %v", len(cs), cs[0].Names)
	}
}
