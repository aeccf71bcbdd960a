package ui_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/builds/builder"
	"github.com/spacepods/spacepods/internal/builds/builder/buildertest"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
	"github.com/spacepods/spacepods/internal/ui"
)

// TestUI_BuildJobsRunFromTheAppPageWithTheLogLive runs a real build (git,
// Docker, registry) from the app page's form, follows its log on the job
// page's live stream, and checks what viewers may see.
func TestUI_BuildJobsRunFromTheAppPageWithTheLogLive(t *testing.T) {
	testenv.RequireDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	repo := buildertest.NewRepo(t)
	sha := repo.HelloApp("first")
	var b *builder.Builder
	f := newFixtureWith(t, false, func(cfg *ui.Config) {
		if b, err = builder.New(builder.Config{Store: cfg.Store, Docker: dc, Registry: builds.Registry{Host: reg.Host}, DataDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		cfg.Builder = b
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); b.Wait() }()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.cat.Register(admin, []byte("name: hello\nrepo: acme/hello\nkind: worker\nbuild: {git: \""+repo.URL()+"\"}\n"), ""); err != nil {
		t.Fatal(err)
	}

	dev := f.signIn(spacepods.RoleDeveloper)
	if _, body, _ := dev.get("/apps/api"); !strings.Contains(body, `id="build-jobs"`) || !strings.Contains(body, "has no build source") || strings.Contains(body, `id="build-form"`) {
		t.Fatalf("app without a build source:\n%s", body)
	}
	if _, body, _ := dev.get("/apps/hello"); !strings.Contains(body, `id="build-form"`) || !strings.Contains(body, "No build jobs yet") {
		t.Fatalf("app page before a build:\n%s", body)
	}
	status, body, loc := dev.post("/apps/hello/builds/run", url.Values{"ref": {"main"}})
	if status != 303 || loc != "/builds/jobs/1?done=build" {
		t.Fatalf("run: %d %s %s", status, loc, body)
	}
	stream, code, msg := openStream(t, ctx, f.ts.URL, "/ui/events/build-jobs/1", f.sessionCookie(spacepods.RoleDeveloper))
	if code != 200 {
		t.Fatalf("stream: %d %s", code, msg)
	}
	var lines []string
	deadline := time.After(3 * time.Minute)
	end := ""
	for end == "" {
		select {
		case ev, ok := <-stream.events:
			if !ok {
				t.Fatalf("the stream ended without an end event; lines:\n%s", strings.Join(lines, "\n"))
			}
			switch ev[0] {
			case "log":
				lines = append(lines, ev[1])
			case "end":
				end = ev[1]
			}
		case <-deadline:
			t.Fatalf("no end after 3 minutes; lines:\n%s", strings.Join(lines, "\n"))
		}
	}
	log := strings.Join(lines, "\n")
	if !strings.Contains(log, "Step 1/4 : FROM scratch") || !strings.HasPrefix(log, "cloning file://") || !strings.HasPrefix(end, "build succeeded: recorded build #1") {
		t.Fatalf("end %q; log:\n%s", end, log)
	}

	_, body, _ = dev.get("/builds/jobs/1")
	for _, want := range []string{`data-status="succeeded"`, "Recorded as build <strong>#1</strong>", short(sha), "recorded build 1 of hello", reg.Host + "/hello:1"} {
		if !strings.Contains(body, want) {
			t.Errorf("job page lacks %q", want)
		}
	}
	if strings.Contains(body, "data-stream=") {
		t.Error("an ended job's page still follows a stream")
	}
	viewer := f.signIn(spacepods.RoleViewer)
	_, body, _ = viewer.get("/builds/jobs/1")
	if !strings.Contains(body, `id="log-hidden"`) || strings.Contains(body, "FROM scratch") {
		t.Fatalf("a viewer saw the build log:\n%s", body)
	}
	_, body, _ = viewer.get("/apps/hello")
	if !strings.Contains(body, `href="/builds/jobs/1"`) || strings.Contains(body, `id="build-form"`) {
		t.Fatalf("viewer's app page:\n%s", body)
	}
	if _, code, _ := openStream(t, ctx, f.ts.URL, "/ui/events/build-jobs/1", f.sessionCookie(spacepods.RoleViewer)); code != 403 {
		t.Fatalf("a viewer opened the build log stream: %d", code)
	}
}

func short(sha string) string { return sha[:7] }
