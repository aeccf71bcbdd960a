package server

import (
	"net/http"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// route is one API endpoint. The route table drives the mux, the role
// checks, the OpenAPI document and the route × role test, so they cannot
// disagree.
type route struct {
	Method   string
	Path     string // Go ServeMux pattern path, e.g. /api/v1/apps/{name}
	Role     string // least role allowed; "" = no token needed
	Summary  string
	Tag      string
	Query    []string // documented query parameters
	Request  any      // zero value of the JSON body type, nil = no body
	Response any      // zero value of the JSON response type
	Status   int      // success status
	Handle   func(w http.ResponseWriter, r *http.Request) error
}

// RegisterRequest registers or updates an app from its manifest.
type RegisterRequest struct {
	// Manifest is the spacepods.yaml text; errors carry its line numbers.
	Manifest string `json:"manifest"`
	// SeedSQL is the content of the file named by database.seed, if any.
	SeedSQL string `json:"seed_sql,omitempty"`
}

// RegisterResponse is the registered app and whether it was new.
type RegisterResponse struct {
	App     spacepods.App `json:"app"`
	Created bool          `json:"created"`
}

// DepsResponse is an app's dependency tree and the start order of its closure.
type DepsResponse struct {
	Tree  *catalog.TreeNode `json:"tree"`
	Order []string          `json:"order"`
}

// TokenRequest asks for a new API token.
type TokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// TokenResponse carries a new token's secret (shown once).
type TokenResponse struct {
	Token  spacepods.Token `json:"token"`
	Secret string          `json:"secret"`
}

// Health is the /healthz body.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	Store   string `json:"store"`
}

func (s *Server) routes() []route {
	return []route{
		{Method: "GET", Path: "/api/v1/whoami", Role: spacepods.RoleViewer, Tag: "auth", Summary: "The caller's token (name and role)", Response: spacepods.Token{}, Handle: s.whoami},

		{Method: "POST", Path: "/api/v1/apps", Role: spacepods.RoleDeveloper, Tag: "apps", Summary: "Register an app from its manifest, or update it (history kept)", Request: RegisterRequest{}, Response: RegisterResponse{}, Status: 201, Handle: s.registerApp},
		{Method: "GET", Path: "/api/v1/apps", Role: spacepods.RoleViewer, Tag: "apps", Summary: "List apps by name, a page at a time", Query: []string{"after", "limit"}, Response: []spacepods.App{}, Handle: s.listApps},
		{Method: "GET", Path: "/api/v1/apps/{name}", Role: spacepods.RoleViewer, Tag: "apps", Summary: "Show an app's current manifest", Response: spacepods.App{}, Handle: s.getApp},
		{Method: "GET", Path: "/api/v1/apps/{name}/versions", Role: spacepods.RoleViewer, Tag: "apps", Summary: "An app's registration history, newest first", Response: []spacepods.AppVersion{}, Handle: s.appVersions},
		{Method: "GET", Path: "/api/v1/apps/{name}/deps", Role: spacepods.RoleViewer, Tag: "apps", Summary: "An app's dependency tree and closure in start order", Response: DepsResponse{}, Handle: s.appDeps},

		{Method: "POST", Path: "/api/v1/apps/{name}/builds", Role: spacepods.RoleDeveloper, Tag: "builds", Summary: "Record a build (CI calls this)", Request: spacepods.Build{}, Response: spacepods.Build{}, Status: 201, Handle: s.recordBuild},
		{Method: "GET", Path: "/api/v1/apps/{name}/builds", Role: spacepods.RoleViewer, Tag: "builds", Summary: "List an app's builds, newest first", Query: []string{"branch", "limit"}, Response: []spacepods.Build{}, Handle: s.listBuilds},
		{Method: "GET", Path: "/api/v1/apps/{name}/builds/latest", Role: spacepods.RoleViewer, Tag: "builds", Summary: "The latest build of a branch (default: main)", Query: []string{"branch"}, Response: spacepods.Build{}, Handle: s.latestBuild},
		{Method: "GET", Path: "/api/v1/apps/{name}/builds/{number}", Role: spacepods.RoleViewer, Tag: "builds", Summary: "Show one build", Response: spacepods.Build{}, Handle: s.getBuild},

		{Method: "POST", Path: "/api/v1/tokens", Role: spacepods.RoleAdmin, Tag: "auth", Summary: "Create an API token (its secret is shown once)", Request: TokenRequest{}, Response: TokenResponse{}, Status: 201, Handle: s.createToken},
		{Method: "GET", Path: "/api/v1/tokens", Role: spacepods.RoleAdmin, Tag: "auth", Summary: "List API tokens (never their secrets)", Response: []spacepods.Token{}, Handle: s.listTokens},
		{Method: "DELETE", Path: "/api/v1/tokens/{name}", Role: spacepods.RoleAdmin, Tag: "auth", Summary: "Revoke an API token", Status: 204, Handle: s.revokeToken},

		{Method: "GET", Path: "/api/v1/audit", Role: spacepods.RoleAdmin, Tag: "audit", Summary: "The audit log, newest first", Query: []string{"before", "limit"}, Response: []spacepods.AuditEntry{}, Handle: s.listAudit},
	}
}
