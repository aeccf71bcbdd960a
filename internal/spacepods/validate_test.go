package spacepods_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestBuild_Validate(t *testing.T) {
	valid := spacepods.Build{App: "catalog-api", Number: 42, GitSHA: "3f2c1ab", Branch: "feature/x-1", PR: 7, Image: "acme/catalog-api:42"}
	tests := []struct {
		name   string
		change func(b *spacepods.Build)
		msg    string // "" = valid
	}{
		{"valid", func(*spacepods.Build) {}, ""},
		{"full sha, digest image, no PR", func(b *spacepods.Build) {
			b.GitSHA, b.Image, b.PR = strings.Repeat("ab", 20), "registry.local:5000/acme/catalog-api@sha256:"+strings.Repeat("0", 64), 0
		}, ""},
		{"bad app", func(b *spacepods.Build) { b.App = "Catalog" }, `app "Catalog" is not a valid name`},
		{"number zero", func(b *spacepods.Build) { b.Number = 0 }, "build number must be a positive integer"},
		{"sha too short", func(b *spacepods.Build) { b.GitSHA = "3f2c1a" }, "is not a hex commit id"},
		{"sha upper case", func(b *spacepods.Build) { b.GitSHA = "3F2C1AB" }, "is not a hex commit id"},
		{"branch empty", func(b *spacepods.Build) { b.Branch = "" }, "is not a valid branch name"},
		{"branch with space", func(b *spacepods.Build) { b.Branch = "my branch" }, "is not a valid branch name"},
		{"negative PR", func(b *spacepods.Build) { b.PR = -1 }, "pr must be a positive"},
		{"image empty", func(b *spacepods.Build) { b.Image = "" }, "is not an image reference"},
		{"image with space", func(b *spacepods.Build) { b.Image = "acme/x 1" }, "is not an image reference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := valid
			tc.change(&b)
			err := b.Validate()
			switch {
			case tc.msg == "" && err != nil:
				t.Fatalf("valid build refused: %v", err)
			case tc.msg != "" && (spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), tc.msg)):
				t.Fatalf("error %v, want EINVALID containing %q", err, tc.msg)
			}
		})
	}
}

func TestParseScope(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"empty is all", "", spacepods.ScopeAll, true},
		{"all", "all", spacepods.ScopeAll, true},
		{"pods", "pods", spacepods.ScopePods, true},
		{"named environment", "env:production", "env:production", true},
		{"bad environment name", "env:Prod", "", false},
		{"empty environment name", "env:", "", false},
		{"unknown", "prod", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := spacepods.ParseScope(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseScope(%q) = %q, %v", tc.in, got, err)
			}
			if err != nil && spacepods.ErrorCode(err) != spacepods.EINVALID {
				t.Fatalf("error code %s, want EINVALID", spacepods.ErrorCode(err))
			}
		})
	}
	if s := spacepods.EnvScope("qa"); s != "env:qa" {
		t.Errorf("EnvScope(qa) = %s", s)
	}
}

func TestRoles(t *testing.T) {
	tests := []struct {
		name, role, min string
		want            bool
	}{
		{"admin is a developer", spacepods.RoleAdmin, spacepods.RoleDeveloper, true},
		{"developer is a viewer", spacepods.RoleDeveloper, spacepods.RoleViewer, true},
		{"viewer is no developer", spacepods.RoleViewer, spacepods.RoleDeveloper, false},
		{"developer is no admin", spacepods.RoleDeveloper, spacepods.RoleAdmin, false},
		{"same role", spacepods.RoleViewer, spacepods.RoleViewer, true},
		{"unknown role has no rights", "root", spacepods.RoleViewer, false},
		{"empty role has no rights", "", spacepods.RoleViewer, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := spacepods.RoleAtLeast(tc.role, tc.min); got != tc.want {
				t.Fatalf("RoleAtLeast(%q, %q) = %v", tc.role, tc.min, got)
			}
		})
	}
	for _, r := range []string{spacepods.RoleAdmin, spacepods.RoleDeveloper, spacepods.RoleViewer} {
		if !spacepods.ValidRole(r) {
			t.Errorf("ValidRole(%s) = false", r)
		}
	}
	if spacepods.ValidRole("owner") {
		t.Error(`ValidRole("owner") = true`)
	}
}

// TestActor_RoleInContext: the one place that says what a caller may do;
// a context without a caller is the system itself (the reaper, crash
// recovery), which acts as an admin.
func TestActor_RoleInContext(t *testing.T) {
	as := func(role string) context.Context {
		return spacepods.WithActor(context.Background(), &spacepods.Token{Name: "t-" + role, Role: role})
	}
	tests := []struct {
		name       string
		ctx        context.Context
		role, who  string
		admin, out bool
	}{
		{"system", context.Background(), spacepods.RoleAdmin, "system", true, true},
		{"admin", as(spacepods.RoleAdmin), spacepods.RoleAdmin, "t-admin", true, true},
		{"developer", as(spacepods.RoleDeveloper), spacepods.RoleDeveloper, "t-developer", false, true},
		{"viewer", as(spacepods.RoleViewer), spacepods.RoleViewer, "t-viewer", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := spacepods.ActorRole(tc.ctx); got != tc.role {
				t.Errorf("ActorRole = %s, want %s", got, tc.role)
			}
			if got := spacepods.ActorName(tc.ctx); got != tc.who {
				t.Errorf("ActorName = %s, want %s", got, tc.who)
			}
			if got := spacepods.ActorIsAdmin(tc.ctx); got != tc.admin {
				t.Errorf("ActorIsAdmin = %v, want %v", got, tc.admin)
			}
			if got := spacepods.MayReadOutput(tc.ctx); got != tc.out {
				t.Errorf("MayReadOutput = %v, want %v", got, tc.out)
			}
			evs := spacepods.RedactEvents(tc.ctx, []spacepods.Event{{Message: "migrate failed", Output: "postgres://u:pw@db/x"}, {Message: "ok"}})
			if hidden := evs[0].Output == ""; hidden == tc.out || evs[0].OutputHidden != hidden || evs[1].OutputHidden {
				t.Errorf("RedactEvents for %s: %+v", tc.name, evs)
			}
		})
	}
}

func TestErrors_CodeAndMessage(t *testing.T) {
	notFound := spacepods.Errorf(spacepods.ENOTFOUND, "pod %q not found", "p1")
	tests := []struct {
		name      string
		err       error
		code, msg string
	}{
		{"nil", nil, "", ""},
		{"domain error", notFound, spacepods.ENOTFOUND, `pod "p1" not found`},
		{"wrapped domain error", fmt.Errorf("destroy: %w", notFound), spacepods.ENOTFOUND, `pod "p1" not found`},
		{"other error is internal and hidden", errors.New("pq: password authentication failed"), spacepods.EINTERNAL, "internal error; the server log has the details"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := spacepods.ErrorCode(tc.err); got != tc.code {
				t.Errorf("ErrorCode = %q, want %q", got, tc.code)
			}
			if got := spacepods.ErrorMessage(tc.err); got != tc.msg {
				t.Errorf("ErrorMessage = %q, want %q", got, tc.msg)
			}
		})
	}
}
