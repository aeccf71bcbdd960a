package config

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// SecretStore is what config needs of a secret store (internal/secrets).
type SecretStore interface {
	Put(ctx context.Context, ref string, value []byte) error
	Get(ctx context.Context, ref string) ([]byte, error)
	Delete(ctx context.Context, ref string) error
}

// Service manages apps' custom env vars and secrets per scope.
type Service struct {
	Store   *store.Store
	Secrets SecretStore // nil: secrets cannot be set
}

// SecretRef is where a secret var lives in the secret store.
func SecretRef(app, scope, key string) string {
	return fmt.Sprintf("apps/%s/%s/%s", app, strings.ReplaceAll(scope, ":", "-"), key)
}

func isStandard(app spacepods.App, key string) bool {
	if spacepods.IsStandardVar(key) {
		return true
	}
	for _, d := range app.Dependencies {
		if key == spacepods.EnvVarName(d)+"_URL" {
			return true
		}
	}
	return false
}

// Set validates and stores vars. Secret values go to the secret store
// first; a failed write leaves the old value in place.
func (s *Service) Set(ctx context.Context, app spacepods.App, req spacepods.SetConfigRequest) ([]spacepods.ConfigVar, error) {
	scope, err := spacepods.ParseScope(req.Scope)
	if err != nil {
		return nil, err
	}
	if len(req.Vars) == 0 {
		return nil, spacepods.Errorf(spacepods.EINVALID, "nothing to set: pass KEY=VALUE pairs")
	}
	if err := s.authorizeWrite(ctx, scope); err != nil {
		return nil, err
	}
	if req.Secret && s.Secrets == nil {
		return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "no secret store is configured on this server")
	}
	keys := make([]string, 0, len(req.Vars))
	for k := range req.Vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var vars []spacepods.ConfigVar
	for _, k := range keys {
		v := req.Vars[k]
		switch {
		case !spacepods.ValidEnvVarName(k):
			return nil, spacepods.Errorf(spacepods.EINVALID, "%q is not a valid env var name: use letters, digits and '_', not starting with a digit (e.g. API_TOKEN)", k)
		case len(v) > spacepods.MaxConfigValue:
			return nil, spacepods.Errorf(spacepods.ETOOLARGE, "value of %s is %d bytes, over the limit of %d: store big files elsewhere and pass their location", k, len(v), spacepods.MaxConfigValue)
		case isStandard(app, k) && !req.Override:
			return nil, spacepods.Errorf(spacepods.EINVALID, "%s is set by Spacepods itself: pick another name, or pass --override to replace it on purpose (audited)", k)
		}
		cv := spacepods.ConfigVar{App: app.Name, Scope: scope, Key: k, Secret: req.Secret, Override: req.Override && isStandard(app, k)}
		if req.Secret {
			cv.SecretRef = SecretRef(app.Name, scope, k)
		} else {
			cv.Value = v
		}
		vars = append(vars, cv)
	}
	if req.Secret {
		for _, cv := range vars {
			if err := s.Secrets.Put(ctx, cv.SecretRef, []byte(req.Vars[cv.Key])); err != nil {
				return nil, fmt.Errorf("secret %s: %w", cv.Key, err)
			}
		}
	}
	if err := s.Store.PutConfigVars(ctx, vars); err != nil {
		return nil, err
	}
	return vars, nil
}

// authorizeWrite is the one rule for who may change config in a scope:
// what reaches a protected environment is changed only by admins. That is
// env:NAME of a protected environment, and also "all", which every
// environment gets, protected ones included (unless env:NAME sets the same
// var), so a developer's change to it would reach production on its next
// deploy, unseen by the admin who deploys. "pods" reaches pods only, and
// env:NAME of an unprotected environment only that environment:
// developers may change both. EFORBIDDEN says what an admin must do and
// what a developer may do instead.
func (s *Service) authorizeWrite(ctx context.Context, scope string) error {
	if spacepods.ActorIsAdmin(ctx) {
		return nil
	}
	switch {
	case scope == spacepods.ScopePods:
		return nil
	case scope == spacepods.ScopeAll:
		envs, err := s.Store.ListEnvironments(ctx, spacepods.EnvMaster)
		if err != nil {
			return err
		}
		var prot []string
		for _, e := range envs {
			if e.Protected {
				prot = append(prot, e.Name)
			}
		}
		if len(prot) > 0 {
			return spacepods.Errorf(spacepods.EFORBIDDEN, "scope all reaches every environment, protected %s included: an admin must set or unset it there; you may set it for every pod (--pods) or for one unprotected environment (--env NAME)", strings.Join(prot, ", "))
		}
		return nil
	}
	name := strings.TrimPrefix(scope, "env:")
	env, err := s.Store.GetEnvironment(ctx, name)
	switch {
	case spacepods.ErrorCode(err) == spacepods.ENOTFOUND:
		return nil // a pod or environment to come: it is not protected yet
	case err != nil:
		return err
	case env.Protected:
		return spacepods.Errorf(spacepods.EFORBIDDEN, "environment %s is protected: an admin must set or unset its config (scope env:%s); ask an admin", name, name)
	}
	return nil
}

// Unset removes a var (and its secret).
func (s *Service) Unset(ctx context.Context, app, scope, key string) error {
	scope, err := spacepods.ParseScope(scope)
	if err != nil {
		return err
	}
	if err := s.authorizeWrite(ctx, scope); err != nil {
		return err
	}
	vars, err := s.Store.ConfigVars(ctx, app)
	if err != nil {
		return err
	}
	for _, v := range vars {
		if v.Scope == scope && v.Key == key && v.Secret && s.Secrets != nil {
			if err := s.Secrets.Delete(ctx, v.SecretRef); err != nil {
				return err
			}
		}
	}
	return s.Store.DeleteConfigVar(ctx, app, scope, key)
}

// List returns an app's vars, in one scope or all (scope ""). Secret
// values are filled in only when reveal is set (the caller checks the
// role). A reveal is audited before any value is read: when the audit
// entry cannot be written, List fails and reveals nothing.
func (s *Service) List(ctx context.Context, app, scope string, reveal bool) ([]spacepods.ConfigVar, error) {
	if scope != "" {
		var err error
		if scope, err = spacepods.ParseScope(scope); err != nil {
			return nil, err
		}
	}
	vars, err := s.Store.ConfigVars(ctx, app)
	if err != nil {
		return nil, err
	}
	if reveal {
		if err := s.Store.AddAudit(ctx, "config.reveal", app, "scope "+orAll(scope)); err != nil {
			return nil, fmt.Errorf("%w (%v)", spacepods.Errorf(spacepods.EUNAVAILABLE,
				"the audit log cannot be written, so no secret value was revealed: try again, and check the Spacepods database"), err)
		}
	}
	out := []spacepods.ConfigVar{}
	for _, v := range vars {
		if scope != "" && v.Scope != scope {
			continue
		}
		if v.Secret && reveal {
			b, err := s.Secrets.Get(ctx, v.SecretRef)
			if err != nil {
				return nil, fmt.Errorf("secret %s: %w", v.Key, err)
			}
			v.Value = string(b)
		}
		out = append(out, v)
	}
	return out, nil
}

func orAll(s string) string {
	if s == "" {
		return "all scopes"
	}
	return s
}

// Custom is the set of custom vars that apply to one app in one
// environment, the most specific scope winning.
type Custom struct {
	Plain     map[string]string // name → value
	Refs      map[string]string // secret name → secret store reference
	Overrides []string          // names that replace a standard var on purpose
	Scopes    map[string]string // name → scope it came from
}

// CustomFor returns the custom vars of app in an environment named env of
// kind envKind: env:<name> beats pods (for pods) beats all.
func (s *Service) CustomFor(ctx context.Context, app, env, envKind string) (Custom, error) {
	vars, err := s.Store.ConfigVars(ctx, app)
	if err != nil {
		return Custom{}, err
	}
	rank := func(scope string) int {
		switch {
		case scope == spacepods.EnvScope(env):
			return 3
		case scope == spacepods.ScopePods && envKind == spacepods.EnvPod:
			return 2
		case scope == spacepods.ScopeAll:
			return 1
		}
		return 0
	}
	best := map[string]spacepods.ConfigVar{}
	for _, v := range vars {
		r := rank(v.Scope)
		if r == 0 {
			continue
		}
		if cur, ok := best[v.Key]; !ok || rank(cur.Scope) < r {
			best[v.Key] = v
		}
	}
	c := Custom{Plain: map[string]string{}, Refs: map[string]string{}, Scopes: map[string]string{}}
	for k, v := range best {
		if v.Secret {
			c.Refs[k] = v.SecretRef
		} else {
			c.Plain[k] = v.Value
		}
		if v.Override {
			c.Overrides = append(c.Overrides, k)
		}
		c.Scopes[k] = v.Scope
	}
	return c, nil
}

// WithoutSecrets is c for an environment that must get no secrets (the
// pod of a fork's pull request): every secret goes, and so does every var
// scoped to one environment (env:NAME), whatever its value, since that
// scope is where an environment's credentials are set as plain values too.
// Vars of the pods and all scopes that are not secret stay.
func (c Custom) WithoutSecrets() Custom {
	out := Custom{Plain: map[string]string{}, Refs: map[string]string{}, Scopes: map[string]string{}}
	for k, v := range c.Plain {
		if strings.HasPrefix(c.Scopes[k], "env:") {
			continue
		}
		out.Plain[k], out.Scopes[k] = v, c.Scopes[k]
	}
	for _, k := range c.Overrides {
		if _, ok := out.Plain[k]; ok {
			out.Overrides = append(out.Overrides, k)
		}
	}
	return out
}

// Merge lays custom vars over the composed standard + manifest vars:
// custom vars win over manifest defaults; standard vars win unless the
// custom var is an explicit override. It returns the plain vars and the
// secret references of a release.
func Merge(composed map[string]string, app spacepods.App, c Custom) (map[string]string, map[string]string) {
	ov := map[string]bool{}
	for _, k := range c.Overrides {
		ov[k] = true
	}
	out := map[string]string{}
	for k, v := range composed {
		out[k] = v
	}
	refs := map[string]string{}
	for k, v := range c.Plain {
		if !isStandard(app, k) || ov[k] {
			out[k] = v
		}
	}
	for k, ref := range c.Refs {
		if !isStandard(app, k) || ov[k] {
			delete(out, k)
			refs[k] = ref
		}
	}
	return out, refs
}

// The runtime drivers read secret values through the Service, when they
// start containers.
var _ runtime.SecretResolver = (*Service)(nil)

// ResolveSecrets reads the values of secret refs (name → ref): the runtime
// drivers call it when they start containers, and only then.
func (s *Service) ResolveSecrets(ctx context.Context, refs map[string]string) (map[string]string, error) {
	out := map[string]string{}
	if len(refs) == 0 {
		return out, nil
	}
	if s.Secrets == nil {
		return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the release names secrets but no secret store is configured")
	}
	for k, ref := range refs {
		b, err := s.Secrets.Get(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", k, err)
		}
		out[k] = string(b)
	}
	return out, nil
}

// EffectiveFor computes what a deploy of app (build) to env would get,
// secrets masked. The database URL is shown as a placeholder: its password
// exists only in the release.
func (s *Service) EffectiveFor(ctx context.Context, app spacepods.App, deps map[string]string, env, envKind string, build spacepods.Build) (spacepods.EffectiveConfig, error) {
	db := ""
	if app.Database != nil {
		db = "(set by Spacepods: the " + app.Name + " database of " + env + ")"
	}
	composed := Compose(Inputs{Env: env, App: app, Build: build, DatabaseURL: db, Deps: deps})
	c, err := s.CustomFor(ctx, app.Name, env, envKind)
	if err != nil {
		return spacepods.EffectiveConfig{}, err
	}
	vars, refs := Merge(composed, app, c)
	eff := spacepods.EffectiveConfig{Vars: vars, Secrets: []string{}, Sources: map[string]string{}}
	for k := range vars {
		switch {
		case isStandard(app, k) && !contains(c.Overrides, k):
			eff.Sources[k] = "standard"
		case c.Scopes[k] != "":
			eff.Sources[k] = c.Scopes[k]
		default:
			eff.Sources[k] = "manifest"
		}
	}
	for k := range refs {
		eff.Secrets = append(eff.Secrets, k)
		eff.Sources[k] = c.Scopes[k]
	}
	sort.Strings(eff.Secrets)
	return eff, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
