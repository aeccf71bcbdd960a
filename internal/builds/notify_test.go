package builds

import (
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// event renders one distribution event as the registry sends it.
func event(id, action, mediaType, repo, tag, digest string) string {
	return `{"id":"` + id + `","timestamp":"2026-12-02T09:00:00Z","action":"` + action + `","target":{"mediaType":"` + mediaType +
		`","size":528,"digest":"` + digest + `","length":528,"repository":"` + repo + `","url":"http://127.0.0.1:5000/v2/` + repo + `/manifests/` + digest +
		`","tag":"` + tag + `"},"request":{"id":"r1","addr":"127.0.0.1:4000","host":"127.0.0.1:5000","method":"PUT","useragent":"docker/20.10"},"actor":{},"source":{"addr":"h:5000","instanceID":"i"}}`
}

func envelope(events ...string) []byte {
	return []byte(`{"events":[` + strings.Join(events, ",") + `]}`)
}

const (
	dockerV2 = "application/vnd.docker.distribution.manifest.v2+json"
	ociIndex = "application/vnd.oci.image.index.v1+json"
	layer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		name        string
		body        []byte
		wantPushes  []TagPush
		wantIgnored int
		wantErr     string
	}{
		{
			name:       "push of a tag",
			body:       envelope(event("e1", "push", dockerV2, "spacepods-example/web", "7", digestA)),
			wantPushes: []TagPush{{EventID: "e1", Repository: "spacepods-example/web", Tag: "7", Digest: digestA, Host: "127.0.0.1:5000"}},
		},
		{
			name:       "push of an OCI index under a tag",
			body:       envelope(event("e2", "push", ociIndex, "web", "main-3", digestA)),
			wantPushes: []TagPush{{EventID: "e2", Repository: "web", Tag: "main-3", Digest: digestA, Host: "127.0.0.1:5000"}},
		},
		{name: "pull ignored", body: envelope(event("e3", "pull", dockerV2, "web", "7", digestA)), wantIgnored: 1},
		{name: "push by digest ignored", body: envelope(event("e4", "push", dockerV2, "web", "", digestA)), wantIgnored: 1},
		{name: "layer push ignored", body: envelope(event("e5", "push", layer, "web", "", digestA)), wantIgnored: 1},
		{name: "delete ignored", body: envelope(event("e6", "delete", dockerV2, "web", "7", digestA)), wantIgnored: 1},
		{
			name: "mixed batch",
			body: envelope(event("l1", "push", layer, "web", "", digestA), event("m1", "push", dockerV2, "web", "8", digestA),
				event("p1", "pull", dockerV2, "web", "8", digestA)),
			wantPushes:  []TagPush{{EventID: "m1", Repository: "web", Tag: "8", Digest: digestA, Host: "127.0.0.1:5000"}},
			wantIgnored: 2,
		},
		{name: "empty events", body: []byte(`{"events":[]}`)},
		{name: "not JSON", body: []byte(`hello`), wantErr: "not a registry notification envelope"},
		{name: "no events list", body: []byte(`{"foo":1}`), wantErr: "no events list"},
		{name: "tag push without id", body: envelope(event("", "push", dockerV2, "web", "7", digestA)), wantErr: "has no id"},
		{name: "tag push without digest", body: envelope(event("e7", "push", dockerV2, "web", "7", "")), wantErr: "has no sha256 target.digest"},
		{name: "tag push without repository", body: envelope(event("e8", "push", dockerV2, "", "7", digestA)), wantErr: "has no target.repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pushes, ignored, err := ParseEnvelope(tt.body)
			if tt.wantErr != "" {
				if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want EINVALID saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ignored != tt.wantIgnored || len(pushes) != len(tt.wantPushes) {
				t.Fatalf("pushes %+v, ignored %d; want %+v, %d", pushes, ignored, tt.wantPushes, tt.wantIgnored)
			}
			for i := range pushes {
				if pushes[i] != tt.wantPushes[i] {
					t.Errorf("push %d = %+v, want %+v", i, pushes[i], tt.wantPushes[i])
				}
			}
		})
	}
}

func TestAppOf(t *testing.T) {
	apps := []spacepods.App{
		{Name: "web"},
		{Name: "api", Image: &spacepods.Image{Repository: "acme/backend"}},
		{Name: "worker"},
		{Name: "a1", Image: &spacepods.Image{Repository: "shared/thing"}},
		{Name: "a2", Image: &spacepods.Image{Repository: "shared/thing"}},
	}
	tests := []struct {
		name, repo, want, reason string
	}{
		{"by name", "spacepods-example/web", "web", ""},
		{"by name at top level", "web", "web", ""},
		{"by manifest key", "acme/backend", "api", ""},
		{"an app with a key is not matched by name", "other/api", "", "no app's images are pushed to repository other/api: register an app named api, or add image: {repository: other/api}"},
		{"unknown", "acme/nothing", "", "no app's images are pushed to repository acme/nothing"},
		{"claimed twice", "shared/thing", "", "apps a1, a2 all name repository shared/thing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := appOf(apps, tt.repo)
			if got != tt.want || !strings.Contains(reason, tt.reason) || (tt.want == "") == (reason == "") {
				t.Fatalf("appOf(%s) = %q, %q; want %q, %q", tt.repo, got, reason, tt.want, tt.reason)
			}
		})
	}
}

func TestBuildFromLabels(t *testing.T) {
	sha := "3f2c1ab"
	tests := []struct {
		name   string
		tag    string
		labels map[string]string
		want   *spacepods.Build
		reason string
	}{
		{"number from the tag, branch default", "12", map[string]string{LabelRevision: sha}, &spacepods.Build{App: "web", Number: 12, GitSHA: sha, Branch: "main"}, ""},
		{"number from a label", "main-abc", map[string]string{LabelRevision: sha, LabelBuild: "40", LabelBranch: "feature/x", LabelPR: "9"},
			&spacepods.Build{App: "web", Number: 40, GitSHA: sha, Branch: "feature/x", PR: 9}, ""},
		{"tag is the number even with a label", "5", map[string]string{LabelRevision: sha, LabelBuild: "40"}, &spacepods.Build{App: "web", Number: 5, GitSHA: sha, Branch: "main"}, ""},
		{"no number", "latest", map[string]string{LabelRevision: sha}, nil, `tag "latest" is not a build number and the image has no io.spacepods.build label`},
		{"bad build label", "latest", map[string]string{LabelRevision: sha, LabelBuild: "x"}, nil, `label io.spacepods.build="x" is not a build number`},
		{"no revision", "3", nil, nil, "the image has no org.opencontainers.image.revision label"},
		{"bad pr", "3", map[string]string{LabelRevision: sha, LabelPR: "-1"}, nil, `label io.spacepods.pr="-1" is not a pull request number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := buildFromLabels("web", tt.tag, tt.labels)
			if tt.want == nil {
				if got != nil || !strings.Contains(reason, tt.reason) {
					t.Fatalf("got %+v, %q; want reason %q", got, reason, tt.reason)
				}
				return
			}
			if got == nil || *got != *tt.want {
				t.Fatalf("got %+v (%s), want %+v", got, reason, tt.want)
			}
		})
	}
}

func TestRepository(t *testing.T) {
	for ref, want := range map[string]string{
		"127.0.0.1:5000/spacepods-example/web:7": "127.0.0.1:5000/spacepods-example/web",
		"127.0.0.1:5000/web":                     "127.0.0.1:5000/web",
		"acme/web:latest":                        "acme/web",
	} {
		if got := Repository(ref); got != want {
			t.Errorf("Repository(%s) = %s, want %s", ref, got, want)
		}
	}
}

func TestAuthorize_ConstantTimeBearer(t *testing.T) {
	n := &Notifications{Token: "spn_right"}
	if err := n.Authorize("Bearer spn_right"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"", "Bearer ", "Bearer spn_wrong", "spn_right", "Basic spn_right", "Bearer spn_righ"} {
		if err := n.Authorize(h); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
			t.Errorf("Authorize(%q) = %v, want EUNAUTHORIZED", h, err)
		}
	}
	if err := (&Notifications{}).Authorize("Bearer "); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Errorf("no token set must close the endpoint, got %v", err)
	}
}
