package builder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

// gitRepo is a git repository the test makes with the git CLI, served to
// the builder over file://.
type gitRepo struct {
	t   testing.TB
	dir string
}

func newGitRepo(t testing.TB) *gitRepo {
	t.Helper()
	testenv.RequireBinary(t, "git")
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *gitRepo) URL() string { return "file://" + r.dir }

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ann Author", "GIT_AUTHOR_EMAIL=ann@example.com",
		"GIT_COMMITTER_NAME=Ann Author", "GIT_COMMITTER_EMAIL=ann@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+r.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// write writes files (path → content; an "x:" prefix makes it executable).
func (r *gitRepo) write(files map[string][]byte) {
	r.t.Helper()
	for name, content := range files {
		mode := os.FileMode(0o644)
		if rest, ok := strings.CutPrefix(name, "x:"); ok {
			name, mode = rest, 0o755
		}
		p := filepath.Join(r.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, content, mode); err != nil {
			r.t.Fatal(err)
		}
	}
}

// commit commits everything and returns the commit's SHA.
func (r *gitRepo) commit(message string) string {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "-m", message)
	return r.git("rev-parse", "HEAD")
}

// helloApp writes a Dockerfile that builds FROM scratch from a static Go
// binary (no public registry is reachable here) and commits it.
func (r *gitRepo) helloApp(message string) string {
	r.t.Helper()
	r.write(map[string][]byte{
		"Dockerfile":    []byte("FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n"),
		"x:hello":       testenv.GoBinary(r.t, "./testdata/hello"),
		"README.md":     []byte(message + "\n"),
		".gitignore":    []byte("*.tmp\n"),
		"notes/a.txt":   []byte("left out by .dockerignore\n"),
		".dockerignore": []byte("notes\nREADME.md\n"),
	})
	return r.commit(message)
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
