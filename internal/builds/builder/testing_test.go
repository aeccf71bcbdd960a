package builder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/builds/builder"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
	"github.com/spacepods/spacepods/internal/testenv"
)

func ctxAs(name string) context.Context {
	return spacepods.WithActor(context.Background(), &spacepods.Token{Name: name, Role: spacepods.RoleDeveloper})
}

// fixture is a builder over a real store, Docker Engine and registry.
type fixture struct {
	t        testing.TB
	store    *store.Store
	docker   *client.Client
	registry *testenv.Registry
	dataDir  string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	testenv.RequireDocker(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dc.Close() })
	return &fixture{t: t, store: storetest.MustOpenSQLite(t), docker: dc, registry: reg, dataDir: t.TempDir()}
}

// builder makes a builder with concurrency n; start starts it until the
// test ends.
func (f *fixture) builder(n int, start bool) *builder.Builder {
	f.t.Helper()
	b, err := builder.New(builder.Config{
		Store: f.store, Docker: f.docker, Registry: builds.Registry{Host: f.registry.Host, Insecure: true},
		DataDir: f.dataDir, Concurrency: n, SaveEvery: 100 * time.Millisecond,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if start {
		ctx, cancel := context.WithCancel(context.Background())
		if err := b.Start(ctx); err != nil {
			f.t.Fatal(err)
		}
		f.t.Cleanup(func() { cancel(); b.Wait() })
	}
	return b
}

// app registers an app built from repo, and removes the images the test
// builds of it from the Docker host when the test ends.
func (f *fixture) app(name string, src spacepods.BuildSource) {
	f.t.Helper()
	if _, _, err := f.store.PutApp(ctxAs("ann"), spacepods.App{Name: name, Repo: "acme/" + name, Kind: spacepods.KindWorker, Build: &src}); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		ctx := context.Background()
		imgs, err := f.docker.ImageList(ctx, image.ListOptions{})
		if err != nil {
			return
		}
		prefix := f.registry.Host + "/" + name + ":"
		for _, img := range imgs {
			for _, tag := range img.RepoTags {
				if strings.HasPrefix(tag, prefix) {
					_, _ = f.docker.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true}) // best-effort cleanup of the test's own images
				}
			}
		}
	})
}

// wait waits until job id has ended and returns it with its log.
func (f *fixture) wait(b *builder.Builder, id int64) spacepods.BuildJob {
	f.t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		j, err := b.Job(context.Background(), id, true)
		if err != nil {
			f.t.Fatal(err)
		}
		if j.Done() {
			return j
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("job %d still %s after 4 minutes; log:\n%s", id, j.Status, j.Log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// manifest fetches a tag's manifest from the registry: its digest and the
// labels of its image config.
func (f *fixture) manifest(repo, tag string) (digest string, labels map[string]string) {
	f.t.Helper()
	get := func(path, accept string, out any) http.Header {
		req, _ := http.NewRequest("GET", f.registry.URL+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			f.t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			f.t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			f.t.Fatal(err)
		}
		return resp.Header
	}
	var m struct {
		Config struct{ Digest string } `json:"config"`
	}
	h := get(fmt.Sprintf("/v2/%s/manifests/%s", repo, tag), "application/vnd.docker.distribution.manifest.v2+json", &m)
	var cfg struct {
		Config struct{ Labels map[string]string } `json:"config"`
	}
	get(fmt.Sprintf("/v2/%s/blobs/%s", repo, m.Config.Digest), "*/*", &cfg)
	return h.Get("Docker-Content-Digest"), cfg.Config.Labels
}
