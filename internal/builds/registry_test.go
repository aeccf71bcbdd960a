package builds_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
	"github.com/spacepods/spacepods/internal/testenv"
)

// hookStack is a real docker-registry whose notifications go to a real API
// server (route table, hook, store) over HTTP.
type hookStack struct {
	reg   *testenv.Registry
	api   *httptest.Server
	store *store.Store
	token string
	admin string // an admin API token
}

const hookToken = "spn_test-notify-token-0123456789"

// startHookStack serves the API over st (nil: a new SQLite store) and
// starts a registry notifying it.
func startHookStack(t *testing.T, st *store.Store) *hookStack {
	t.Helper()
	if st == nil {
		st = storetest.MustOpenSQLite(t)
	}
	n := &builds.Notifications{Store: st, Token: hookToken, Images: &builds.Client{}, Logger: testenv.Logger(t, "notifications", 0)}
	a := &auth.Service{Store: st}
	srv := &server.Server{Catalog: catalog.NewService(st), Auth: a, Store: st, Registry: n, Version: "test"}
	api := httptest.NewServer(srv.Handler())
	t.Cleanup(api.Close)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{NotifyURL: api.URL + "/api/v1/hooks/registry", NotifyToken: hookToken})
	n.Images.Registry = builds.Registry{Host: reg.Host}
	admin, _, err := a.Create(setupCtx, "admin-"+strings.ToLower(rand.Text()[:6]), spacepods.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	return &hookStack{reg: reg, api: api, store: st, token: hookToken, admin: admin}
}

var setupCtx = spacepods.WithActor(context.Background(), &spacepods.Token{Name: "setup", Role: spacepods.RoleAdmin})

// register registers app manifests.
func (h *hookStack) register(t *testing.T, manifests ...string) {
	t.Helper()
	for _, m := range manifests {
		if _, _, err := catalog.NewService(h.store).Register(setupCtx, []byte(m), ""); err != nil {
			t.Fatal(err)
		}
	}
}

// push writes a small random image with labels to repo:tag on the
// registry and returns its manifest digest.
func (h *hookStack) push(t *testing.T, repo, tag string, labels map[string]string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, v1.Config{Labels: labels}); err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(h.reg.Host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// waitEvent waits until the registry's notification of a push of
// repo:tag@digest was taken, and returns it.
func (h *hookStack) waitEvent(t *testing.T, repo, tag, digest string) spacepods.RegistryEvent {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs, err := h.store.ListRegistryEvents(t.Context(), "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Repository == repo && ev.Tag == tag && ev.Digest == digest {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no registry event for %s:%s@%s within 20s; events: %+v", repo, tag, digest, evs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post sends a notification body to the hook with an Authorization header.
func (h *hookStack) post(t *testing.T, authz, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", h.api.URL+"/api/v1/hooks/registry", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v1+json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func hookResult(t *testing.T, out string) spacepods.RegistryHookResult {
	t.Helper()
	var res spacepods.RegistryHookResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("hook answer %q: %v", out, err)
	}
	return res
}

const sha1 = "0123456789abcdef0123456789abcdef01234567"

func noWarn(t *testing.T) func(string) {
	return func(w string) { t.Errorf("unexpected warning: %s", w) }
}

// TestRegistryNotifications runs against one real docker-registry whose
// notifications reach the API's hook.
func TestRegistryNotifications(t *testing.T) {
	h := startHookStack(t, nil)
	ctx := t.Context()
	h.register(t, "name: web\nrepo: acme/web\nkind: web\nport: 8080\n",
		"name: api\nrepo: acme/api\nkind: web\nport: 8080\nimage: {repository: acme/backend}\n")

	t.Run("a pushed tag records a build with its labels and digest", func(t *testing.T) {
		digest := h.push(t, "spacepods-example/web", "7", map[string]string{builds.LabelRevision: sha1, builds.LabelBranch: "feature/x", builds.LabelPR: "12"})
		ev := h.waitEvent(t, "spacepods-example/web", "7", digest)
		if ev.Status != spacepods.RegistryEventRecorded || ev.App != "web" || ev.Build != 7 {
			t.Fatalf("event %+v, want build web#7 recorded", ev)
		}
		b, err := h.store.GetBuild(ctx, "web", 7)
		if err != nil {
			t.Fatal(err)
		}
		want := spacepods.Build{App: "web", Number: 7, GitSHA: sha1, Branch: "feature/x", PR: 12, Image: h.reg.Host + "/spacepods-example/web:7", Digest: digest, CreatedBy: "registry"}
		b.CreatedAt = time.Time{}
		if b != want {
			t.Fatalf("build %+v, want %+v", b, want)
		}
	})

	t.Run("the manifest's image repository maps, a label gives the number", func(t *testing.T) {
		digest := h.push(t, "acme/backend", "main-abc", map[string]string{builds.LabelRevision: sha1, builds.LabelBuild: "31"})
		ev := h.waitEvent(t, "acme/backend", "main-abc", digest)
		if ev.Status != spacepods.RegistryEventRecorded || ev.App != "api" || ev.Build != 31 {
			t.Fatalf("event %+v, want build api#31 recorded", ev)
		}
	})

	t.Run("an unmapped repository is rejected with its reason, listed by the API", func(t *testing.T) {
		digest := h.push(t, "acme/nothing", "1", map[string]string{builds.LabelRevision: sha1})
		ev := h.waitEvent(t, "acme/nothing", "1", digest)
		if ev.Status != spacepods.RegistryEventRejected || !strings.Contains(ev.Reason, "no app's images are pushed to repository acme/nothing") {
			t.Fatalf("event %+v, want rejected with a reason", ev)
		}
		evs, err := client.New(h.api.URL, h.admin).RegistryEvents(ctx, spacepods.RegistryEventRejected, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 || evs[0].ID != ev.ID || evs[0].Reason != ev.Reason {
			t.Fatalf("GET /api/v1/registry/events?status=rejected = %+v, want %+v first", evs, ev)
		}
	})

	t.Run("a push without a revision label is rejected", func(t *testing.T) {
		digest := h.push(t, "web", "8", nil)
		ev := h.waitEvent(t, "web", "8", digest)
		if ev.Status != spacepods.RegistryEventRejected || !strings.Contains(ev.Reason, builds.LabelRevision) {
			t.Fatalf("event %+v, want rejected for the missing label", ev)
		}
		if _, err := h.store.GetBuild(ctx, "web", 8); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("build web#8: %v, want none", err)
		}
	})

	t.Run("a re-pushed tag keeps the first digest and is rejected", func(t *testing.T) {
		first := h.push(t, "web", "9", map[string]string{builds.LabelRevision: sha1})
		h.waitEvent(t, "web", "9", first)
		second := h.push(t, "web", "9", map[string]string{builds.LabelRevision: sha1, "variant": "b"})
		ev := h.waitEvent(t, "web", "9", second)
		if ev.Status != spacepods.RegistryEventRejected || !strings.Contains(ev.Reason, "already has build 9") {
			t.Fatalf("re-push event %+v, want rejected", ev)
		}
		b, err := h.store.GetBuild(ctx, "web", 9)
		if err != nil || b.Digest != first {
			t.Fatalf("build web#9 = %+v, %v; want digest %s", b, err, first)
		}
	})

	t.Run("a bad token gets 401 and changes nothing", func(t *testing.T) {
		body := `{"events":[{"id":"bad-1","action":"push","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","repository":"web","tag":"50","digest":"sha256:` + strings.Repeat("b", 64) + `"}}]}`
		for _, authz := range []string{"", "Bearer wrong", "Bearer " + h.admin, "Basic " + hookToken} {
			if status, out := h.post(t, authz, body); status != http.StatusUnauthorized {
				t.Fatalf("Authorization %q: %d %s, want 401", authz, status, out)
			}
		}
		if _, err := h.store.GetRegistryEvent(ctx, "bad-1"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("event of a refused delivery was kept: %v", err)
		}
	})

	t.Run("duplicate deliveries record one build", func(t *testing.T) {
		digest := h.push(t, "web", "10", map[string]string{builds.LabelRevision: sha1})
		ev := h.waitEvent(t, "web", "10", digest)
		body := `{"events":[{"id":"` + ev.ID + `","action":"push","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","repository":"web","tag":"10","digest":"` + digest + `"}}]}`
		for range 3 {
			status, out := h.post(t, "Bearer "+hookToken, body)
			if res := hookResult(t, out); status != http.StatusOK || res != (spacepods.RegistryHookResult{Duplicate: 1}) {
				t.Fatalf("redelivery: %d %s, want 200 with duplicate 1", status, out)
			}
		}
		bs, err := h.store.ListBuilds(ctx, spacepods.BuildFilter{App: "web"})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, b := range bs {
			if b.Number == 10 {
				n++
			}
		}
		evs, _ := h.store.ListRegistryEvents(ctx, "", 1000)
		m := 0
		for _, e := range evs {
			if e.ID == ev.ID {
				m++
			}
		}
		if n != 1 || m != 1 {
			t.Fatalf("%d builds and %d events for one push delivered 4 times, want 1 and 1", n, m)
		}
	})

	t.Run("pulls are ignored", func(t *testing.T) {
		before, _ := h.store.ListRegistryEvents(ctx, "", 1000)
		ref, _ := name.ParseReference(h.reg.Host + "/web:10")
		if _, err := remote.Image(ref); err != nil {
			t.Fatal(err)
		}
		body := `{"events":[{"id":"pull-1","action":"pull","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","repository":"web","tag":"10","digest":"sha256:` + strings.Repeat("c", 64) + `"}}]}`
		if status, out := h.post(t, "Bearer "+hookToken, body); status != http.StatusOK || hookResult(t, out) != (spacepods.RegistryHookResult{Ignored: 1}) {
			t.Fatalf("pull notification: %d %s", status, out)
		}
		after, _ := h.store.ListRegistryEvents(ctx, "", 1000)
		if len(after) != len(before) {
			t.Fatalf("a pull made an event: %d → %d", len(before), len(after))
		}
	})

	t.Run("without an image host (Kubernetes) registry images pin by digest, others stay as named", func(t *testing.T) {
		digest := h.push(t, "pinned/web", "3", nil)
		p := &builds.Pinner{Images: &builds.Client{}}
		ref := h.reg.Host + "/pinned/web:3"
		got, err := p.Pin(ctx, ref, "", noWarn(t))
		if err != nil || got != h.reg.Host+"/pinned/web@"+digest {
			t.Fatalf("Pin(%s) = %q, %v; want the tag's digest %s", ref, got, err, digest)
		}
		recorded := "sha256:" + strings.Repeat("f", 64)
		if got, _ := p.Pin(ctx, ref, recorded, noWarn(t)); got != h.reg.Host+"/pinned/web@"+recorded {
			t.Fatalf("Pin with the build's digest = %q: the build's recorded digest wins over the tag's", got)
		}
		if got, err := p.Pin(ctx, "acme/local:1", "", noWarn(t)); err != nil || got != "acme/local:1" {
			t.Fatalf("Pin(acme/local:1) = %q, %v; want it as named", got, err)
		}
		if _, err := p.Pin(ctx, h.reg.Host+"/pinned/web:404", "", noWarn(t)); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("Pin of a tag the registry lacks: %v, want ENOTFOUND", err)
		}
		// A registry the control plane cannot reach (the cluster may):
		// deployed by tag, with a warning.
		var warned []string
		unreachable := "127.0.0.1:1/acme/web:3"
		got, err = p.Pin(ctx, unreachable, "", func(w string) { warned = append(warned, w) })
		if err != nil || got != unreachable || len(warned) != 1 || !strings.Contains(warned[0], "not pinned to a digest") {
			t.Fatalf("Pin(%s) = %q, %v, warnings %q; want the tag kept with one warning", unreachable, got, err, warned)
		}
		if err := p.Ready(ctx, got, nil); err != nil {
			t.Fatalf("Ready without an image host: %v", err)
		}
	})
}
