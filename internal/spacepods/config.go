package spacepods

import (
	"strings"
	"time"
)

// Config scopes, from least to most specific.
const (
	ScopeAll  = "all"  // every environment
	ScopePods = "pods" // every pod
	// "env:<name>" is one named environment.
)

// MaxConfigValue is the largest value a config var may hold.
const MaxConfigValue = 32 << 10

// ConfigVar is one custom env var of an app in a scope. For a secret, Value
// is never filled in by the store: SecretRef names it in the secret store.
type ConfigVar struct {
	App       string    `json:"app"`
	Scope     string    `json:"scope"`
	Key       string    `json:"key"`
	Value     string    `json:"value,omitempty"`
	Secret    bool      `json:"secret"`
	SecretRef string    `json:"-"`
	Override  bool      `json:"override,omitempty"` // replaces a standard var on purpose
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ParseScope validates a scope: "all", "pods" or "env:<name>".
func ParseScope(s string) (string, error) {
	switch {
	case s == "" || s == ScopeAll:
		return ScopeAll, nil
	case s == ScopePods:
		return ScopePods, nil
	case strings.HasPrefix(s, "env:"):
		if err := ValidateEnvName(strings.TrimPrefix(s, "env:")); err != nil {
			return "", err
		}
		return s, nil
	}
	return "", Errorf(EINVALID, "scope %q: use all, pods or env:<name> (CLI: no flag, --pods or --env NAME)", s)
}

// EnvScope is the scope of one named environment.
func EnvScope(env string) string { return "env:" + env }

// SetConfigRequest sets vars of one app in one scope.
type SetConfigRequest struct {
	Scope    string            `json:"scope,omitempty"` // all (default), pods or env:<name>
	Vars     map[string]string `json:"vars"`
	Secret   bool              `json:"secret,omitempty"`
	Override bool              `json:"override,omitempty"` // allow replacing a standard var (audited)
}

// EffectiveConfig is what a deploy of an app to an environment would get.
type EffectiveConfig struct {
	Vars    map[string]string `json:"vars"`    // plain values, standard ones included
	Secrets []string          `json:"secrets"` // names of secret vars (values masked)
	Sources map[string]string `json:"sources"` // var → standard | manifest | all | pods | env:<name>
}

// KeyRotation is what a rotation of the secret store's master key did.
type KeyRotation struct {
	KeyID string `json:"key_id"`         // the key that wraps every secret now
	Next  string `json:"next,omitempty"` // what the operator still has to do
}

// ApplyConfigRequest redeploys the running build of an app in an environment with
// its current config.
type ApplyConfigRequest struct {
	Env string `json:"env"`
	// ConfirmManifestVersion: as in DeployRequest (the redeploy runs the
	// app's current manifest).
	ConfirmManifestVersion int `json:"confirm_manifest_version,omitempty"`
}
