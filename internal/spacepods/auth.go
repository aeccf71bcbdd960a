package spacepods

import (
	"context"
	"time"
)

// Roles, from most to least powerful.
const (
	RoleAdmin     = "admin"
	RoleDeveloper = "developer"
	RoleViewer    = "viewer"
)

var roleRank = map[string]int{RoleViewer: 1, RoleDeveloper: 2, RoleAdmin: 3}

// ValidRole reports whether r is a known role.
func ValidRole(r string) bool { return roleRank[r] > 0 }

// RoleAtLeast reports whether role has at least the rights of min.
func RoleAtLeast(role, min string) bool { return roleRank[role] >= roleRank[min] && roleRank[role] > 0 }

// Token is an API token. Only its hash is stored.
type Token struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	CreatedBy string     `json:"created_by,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
}

// AuditEntry is one change made by someone.
type AuditEntry struct {
	ID      int64     `json:"id"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"` // e.g. app.register, build.record
	Target  string    `json:"target"`
	Details string    `json:"details,omitempty"`
	At      time.Time `json:"at"`
}

type ctxKey int

const actorKey ctxKey = 1

// WithActor returns a context carrying the authenticated token.
func WithActor(ctx context.Context, t *Token) context.Context {
	return context.WithValue(ctx, actorKey, t)
}

// ActorFrom returns the token in ctx, or nil.
func ActorFrom(ctx context.Context) *Token {
	t, _ := ctx.Value(actorKey).(*Token)
	return t
}

// ActorName returns the name of the caller in ctx, or "system".
func ActorName(ctx context.Context) string {
	if t := ActorFrom(ctx); t != nil {
		return t.Name
	}
	return "system"
}

// Session is a signed-in browser: its own revocable record, bound to the
// token that signed in. Only the hash of its random ID is stored; the ID
// lives in the browser's HttpOnly cookie.
type Session struct {
	ID        int64      `json:"id"`
	Token     Token      `json:"token"` // the token it signed in with (its role applies)
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// ActorRole returns the role of the caller in ctx. A context without a
// caller is the system itself (the reaper, crash recovery, tests of a
// service), which acts with an admin's rights.
func ActorRole(ctx context.Context) string {
	if t := ActorFrom(ctx); t != nil {
		return t.Role
	}
	return RoleAdmin
}

// ActorIsAdmin reports whether the caller in ctx has the admin role.
func ActorIsAdmin(ctx context.Context) bool { return RoleAtLeast(ActorRole(ctx), RoleAdmin) }

// CreateTokenRequest asks for a new API token.
type CreateTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// CreateTokenResponse carries a new token's secret (shown once).
type CreateTokenResponse struct {
	Token  Token  `json:"token"`
	Secret string `json:"secret"`
}
