package ui

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// The env vars editor of an app page: custom vars and secrets per scope
// (all, pods, env:<name>), through config.Service with the API's role
// rules: viewers read plain values only; developers set and unset vars and
// secrets but never read secret values; only admins reveal them (audited
// by config.Service.List) or override a standard var.

// configData is the editor's part of the app page.
type configData struct {
	On      bool         // the server has a config service
	Secrets bool         // ... and a secret store
	Tables  []scopeTable // all and pods always, then each env:<name> with vars
	Scopes  []string     // choices of the set form's scope select
	Envs    []string     // master environments and pods, for a new env:<name> scope
	Form    configForm   // what the set form shows (what was sent, when it failed)
	Error   string       // why the last change failed
}

type scopeTable struct {
	Scope string
	Vars  []configRow
}

// configRow is one var; a secret's Value is empty unless Revealed (an
// admin's reveal of this very var).
type configRow struct {
	spacepods.ConfigVar
	Revealed bool
}

// configForm is the set form.
type configForm struct {
	Key, Value, Scope, Env string
	Secret, Override       bool
}

// appState is what a config form adds to the app page.
type appState struct {
	form   configForm
	err    error                // the change failed: say why, keep the form
	reveal *spacepods.ConfigVar // an admin revealed this secret
}

func (u *UI) needConfig() error {
	if u.cfg.Config == nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "this server has no config service: use `spacepods config` against a server that has one")
	}
	return nil
}

// configData gathers the editor's tables and choices.
func (u *UI) configData(ctx context.Context, app string, masters []spacepods.Environment, runtime bool, st appState) (configData, error) {
	c := configData{On: u.cfg.Config != nil, Form: st.form}
	if c.Form.Scope == "" {
		c.Form.Scope = spacepods.ScopeAll
	}
	if st.err != nil {
		c.Error = spacepods.ErrorMessage(st.err)
	}
	if !c.On {
		return c, nil
	}
	c.Secrets = u.cfg.Config.Secrets != nil
	vars, err := u.cfg.Config.List(ctx, app, "", false)
	if err != nil {
		return c, err
	}
	byScope := map[string][]configRow{}
	for _, cv := range vars {
		row := configRow{ConfigVar: cv}
		if cv.Secret {
			row.Value = "" // never shown, whatever List returns
			if r := st.reveal; r != nil && r.Scope == cv.Scope && r.Key == cv.Key {
				row.Value, row.Revealed = r.Value, true
			}
		}
		byScope[cv.Scope] = append(byScope[cv.Scope], row)
	}
	c.Scopes = []string{spacepods.ScopeAll, spacepods.ScopePods}
	for _, m := range masters { // pipeline order
		c.Scopes = append(c.Scopes, spacepods.EnvScope(m.Name))
		c.Envs = append(c.Envs, m.Name)
	}
	var extra []string
	for s := range byScope {
		if !slices.Contains(c.Scopes, s) {
			extra = append(extra, s)
		}
	}
	sort.Strings(extra)
	c.Scopes = append(c.Scopes, extra...)
	for _, s := range c.Scopes {
		if s == spacepods.ScopeAll || s == spacepods.ScopePods || len(byScope[s]) > 0 {
			c.Tables = append(c.Tables, scopeTable{Scope: s, Vars: byScope[s]})
		}
	}
	if runtime {
		ps, err := u.cfg.Pods.List(ctx, spacepods.EnvPod)
		if err != nil {
			return c, err
		}
		for _, p := range ps {
			c.Envs = append(c.Envs, p.Name)
		}
	}
	return c, nil
}

// scopeTitle names a scope for people.
func scopeTitle(scope string) string {
	switch {
	case scope == spacepods.ScopeAll:
		return "All environments"
	case scope == spacepods.ScopePods:
		return "Every pod"
	case strings.HasPrefix(scope, "env:"):
		return strings.TrimPrefix(scope, "env:") + " only"
	}
	return scope
}

// parseConfigForm reads the set form: an environment or pod name typed in
// (env) wins over the scope select.
func parseConfigForm(f url.Values) (configForm, string) {
	c := configForm{
		Key:      strings.TrimSpace(f.Get("key")),
		Value:    f.Get("value"),
		Scope:    f.Get("scope"),
		Env:      strings.TrimSpace(f.Get("env")),
		Secret:   f.Get("secret") != "",
		Override: f.Get("override") != "",
	}
	scope := c.Scope
	if c.Env != "" {
		scope = spacepods.EnvScope(c.Env)
	}
	return c, scope
}

// setConfig handles the set form (developer; override: admin).
func (u *UI) setConfig(w http.ResponseWriter, r *http.Request) error {
	if err := u.needConfig(); err != nil {
		return err
	}
	ctx, name := r.Context(), r.PathValue("name")
	app, err := u.cfg.Catalog.Get(ctx, name)
	if err != nil {
		return err
	}
	form, scope := parseConfigForm(r.PostForm)
	fail := func(err error) error {
		if spacepods.ErrorCode(err) == spacepods.EINTERNAL {
			return err
		}
		if form.Secret {
			form.Value = "" // never send a secret back to the browser
		}
		return u.renderApp(w, r, httpjson.StatusOf(spacepods.ErrorCode(err)), name, appState{form: form, err: err})
	}
	if form.Override && !spacepods.RoleAtLeast(sessionOf(r).Token.Role, spacepods.RoleAdmin) {
		return fail(spacepods.Errorf(spacepods.EFORBIDDEN, "only admins may override a standard var: pick another name, or ask an admin"))
	}
	if _, err := u.cfg.Config.Set(ctx, app, spacepods.SetConfigRequest{Scope: scope, Vars: map[string]string{form.Key: form.Value}, Secret: form.Secret, Override: form.Override}); err != nil {
		return fail(err)
	}
	http.Redirect(w, r, "/apps/"+url.PathEscape(name)+"?done=config-set#env-vars", http.StatusSeeOther)
	return nil
}

// unsetConfig handles a row's Unset button (developer).
func (u *UI) unsetConfig(w http.ResponseWriter, r *http.Request) error {
	if err := u.needConfig(); err != nil {
		return err
	}
	ctx, name := r.Context(), r.PathValue("name")
	if _, err := u.cfg.Catalog.Get(ctx, name); err != nil {
		return err
	}
	scope, key := r.PostForm.Get("scope"), r.PostForm.Get("key")
	if err := u.cfg.Config.Unset(ctx, name, scope, key); err != nil {
		if spacepods.ErrorCode(err) == spacepods.EINTERNAL {
			return err
		}
		return u.renderApp(w, r, httpjson.StatusOf(spacepods.ErrorCode(err)), name, appState{err: err})
	}
	http.Redirect(w, r, "/apps/"+url.PathEscape(name)+"?done=config-unset#env-vars", http.StatusSeeOther)
	return nil
}

// revealConfig shows one secret's value (admin), read through
// config.Service.List with reveal, which writes the config.reveal audit
// entry. A POST: the value never sits in a URL, a history or a cache.
func (u *UI) revealConfig(w http.ResponseWriter, r *http.Request) error {
	if err := u.needConfig(); err != nil {
		return err
	}
	ctx, name := r.Context(), r.PathValue("name")
	if _, err := u.cfg.Catalog.Get(ctx, name); err != nil {
		return err
	}
	scope, key := r.PostForm.Get("scope"), r.PostForm.Get("key")
	vars, err := u.cfg.Config.List(ctx, name, scope, true)
	if err != nil {
		return err
	}
	for _, cv := range vars {
		if cv.Key == key && cv.Secret {
			return u.renderApp(w, r, http.StatusOK, name, appState{reveal: &cv})
		}
	}
	return spacepods.Errorf(spacepods.ENOTFOUND, "%s has no secret %s in scope %s: it may have been unset; reload the page", name, key, scope)
}
