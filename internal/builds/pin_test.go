package builds_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	dockerdriver "github.com/spacepods/spacepods/internal/runtime/docker"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// docker runs the Docker CLI, as CI would to build and push.
func docker(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pushExample builds a variant of the example image of app (a label apart)
// as ref, the way a CI labels its images, and docker-pushes it.
func pushExample(t *testing.T, app, ref, sha, variant string) {
	t.Helper()
	dockerfile := fmt.Sprintf("FROM %s\nLABEL %s=%s io.spacepods.test.variant=%s\n", podstest.Image(app, podstest.BuildNormal), builds.LabelRevision, sha, variant)
	docker(t, dockerfile, "build", "-q", "-t", ref, "-")
	docker(t, "", "push", ref)
}

func deployAndWait(t *testing.T, s *podstest.Stack, req deploy.Request, rollback bool) spacepods.Deploy {
	t.Helper()
	ctx := podstest.Context(t, 3*time.Minute)
	var d spacepods.Deploy
	var err error
	if rollback {
		d, err = s.Engine().Rollback(ctx, req.Env, req.App)
	} else {
		d, err = s.Engine().Submit(ctx, req)
	}
	if err != nil {
		t.Fatal(err)
	}
	if d, err = s.Engine().WaitDeploy(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	evs, _ := s.Store.Events(ctx, d.Env, d.ID, 0, 1000)
	if d.Status != spacepods.DeployCompleted {
		t.Fatalf("deploy %d: %s at %s: %s\nevents: %+v", d.ID, d.Status, d.Step, d.Error, evs)
	}
	return d
}

func deployEvents(t *testing.T, s *podstest.Stack, d spacepods.Deploy) string {
	t.Helper()
	evs, err := s.Store.Events(context.Background(), d.Env, d.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.Message + "\n")
	}
	return b.String()
}

// TestReleases_PinDigests: a build pushed to a real registry (its
// notification records it) deploys by digest; pushing its tag again
// changes neither a redeploy nor a rollback; an image gone from the Docker
// host is pulled back, with progress in the deploy's events.
func TestReleases_PinDigests(t *testing.T) {
	s := podstest.Start(t, podstest.Config{})
	h := startHookStack(t, s.Store)
	const app, number = "pricing-api", 61
	repo := "spacepods-example/" + app
	ref := fmt.Sprintf("%s/%s:%d", h.reg.Host, repo, number)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", ref).Run() })

	pushExample(t, app, ref, s.SHA, "a")
	build := waitBuild(t, h, app, number)
	digestA := build.Digest
	pinned := h.reg.Host + "/" + repo + "@" + digestA
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", pinned).Run() })

	ctx := podstest.Context(t, 5*time.Minute)
	env := s.EnvName("pin")
	if _, err := s.Pods.CreateMaster(ctx, env, false); err != nil {
		t.Fatal(err)
	}
	first := deployAndWait(t, s, deploy.Request{Env: env, App: app, Build: number}, false)
	requirePinned(t, s, env, app, first.Release, pinned)

	// The same tag pushed again: a new digest that no release takes.
	pushExample(t, app, ref, s.SHA, "b")
	digestB := strings.TrimSpace(docker(t, "", "inspect", "--format", "{{index .RepoDigests 0}}", ref))
	if !strings.HasSuffix(digestB, "@"+digestA) {
		ev := waitRejected(t, h, repo, fmt.Sprint(number))
		if !strings.Contains(ev.Reason, "already has build 61") {
			t.Fatalf("re-push event %+v", ev)
		}
	}
	if b, _ := s.Store.GetBuild(ctx, app, number); b.Digest != digestA {
		t.Fatalf("build %d's digest moved to %s with the re-push, want %s", number, b.Digest, digestA)
	}
	second := deployAndWait(t, s, deploy.Request{Env: env, App: app, Build: number}, false)
	requirePinned(t, s, env, app, second.Release, pinned)

	// Gone from the Docker host (the running containers keep the image
	// itself, but no name of it is left): a rollback pulls it back.
	docker(t, "", "rmi", ref)
	docker(t, "", "rmi", "-f", pinned) // in use by the running release: only its name goes
	if out, err := exec.Command("docker", "image", "inspect", pinned).CombinedOutput(); err == nil {
		t.Fatalf("%s still on the Docker host:\n%s", pinned, out)
	}
	back := deployAndWait(t, s, deploy.Request{Env: env, App: app}, true)
	requirePinned(t, s, env, app, back.Release, pinned)
	events := deployEvents(t, s, back)
	for _, want := range []string{"image " + pinned + " is not on this Docker host: pulling it from " + h.reg.Host, "pulled " + pinned} {
		if !strings.Contains(events, want) {
			t.Fatalf("rollback events do not say %q:\n%s", want, events)
		}
	}
	if out := docker(t, "", "image", "inspect", "--format", "{{.ID}}", pinned); strings.TrimSpace(out) == "" {
		t.Fatal("the pinned image was not pulled back")
	}
}

func requirePinned(t *testing.T, s *podstest.Stack, env, app string, release int, want string) {
	t.Helper()
	rel, err := s.Store.GetRelease(context.Background(), env, app, release)
	if err != nil {
		t.Fatal(err)
	}
	if rel.PinnedImage != want {
		t.Fatalf("release %d runs %q (image %s), want %s", release, rel.PinnedImage, rel.Image, want)
	}
}

func waitBuild(t *testing.T, h *hookStack, app string, number int) spacepods.Build {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := h.store.GetBuild(context.Background(), app, number)
		if err == nil {
			return b
		}
		if time.Now().After(deadline) {
			evs, _ := h.store.ListRegistryEvents(context.Background(), "", 10)
			t.Fatalf("build %s#%d not recorded within 30s of its push (%v); registry events: %+v", app, number, err, evs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitRejected(t *testing.T, h *hookStack, repo, tag string) spacepods.RegistryEvent {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, _ := h.store.ListRegistryEvents(context.Background(), spacepods.RegistryEventRejected, 100)
		for _, ev := range evs {
			if ev.Repository == repo && ev.Tag == tag {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rejected event for %s:%s within 30s", repo, tag)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPinner_DockerHostPinsTheLocalImageWhenTheRegistryGivesNoDigest: a
// build recorded by hand whose registry does not answer is pinned to the
// image on the Docker host, by ID, with a warning; an image that is nowhere
// fails with ENOTFOUND.
func TestPinner_DockerHostPinsTheLocalImageWhenTheRegistryGivesNoDigest(t *testing.T) {
	testenv.RequireDocker(t)
	ctx := t.Context()
	root, err := podstest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := podstest.EnsureImages(ctx, root, podstest.BuildNormal, "", "pricing-api"); err != nil {
		t.Fatal(err)
	}
	d, err := dockerdriver.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	ref := "127.0.0.1:1/spacepods-test-pin/pricing-api:" + strings.ToLower(rand.Text()[:8])
	docker(t, "", "tag", podstest.Image("pricing-api", podstest.BuildNormal), ref)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", ref).Run() })
	id, err := d.ImageID(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	p := &builds.Pinner{Images: &builds.Client{}, Host: d}
	var warned []string
	got, err := p.Pin(ctx, ref, "", func(w string) { warned = append(warned, w) })
	if err != nil || got != id || len(warned) != 1 || !strings.Contains(warned[0], "pinned to the image on the Docker host") {
		t.Fatalf("Pin(%s) = %q, %v, warnings %q; want %s with one warning", ref, got, err, warned, id)
	}
	if _, err := p.Pin(ctx, "127.0.0.1:1/spacepods-test-pin/nowhere:1", "", func(string) {}); spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
		t.Fatalf("an image neither on its registry nor on the host: %v, want the registry's error", err)
	}
}
