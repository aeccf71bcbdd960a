package server

import (
	"net/http"

	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func (s *Server) needConfig() error {
	if s.Config == nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "this server has no config service")
	}
	return nil
}

func (s *Server) setConfig(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	var req spacepods.SetConfigRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := s.needConfig(); err != nil {
		return err
	}
	app, err := s.Catalog.Get(r.Context(), name)
	if err != nil {
		return err
	}
	if req.Override && !spacepods.RoleAtLeast(spacepods.ActorFrom(r.Context()).Role, spacepods.RoleAdmin) {
		return spacepods.Errorf(spacepods.EFORBIDDEN, "only admins may override a standard var")
	}
	vars, err := s.Config.Set(r.Context(), app, req)
	return reply(w, http.StatusOK, vars, err)
}

func (s *Server) unsetConfig(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	if !spacepods.ValidEnvVarName(key) {
		return spacepods.Errorf(spacepods.EINVALID, "%q is not a valid env var name", key)
	}
	if err := s.needConfig(); err != nil {
		return err
	}
	if err := s.Config.Unset(r.Context(), name, r.URL.Query().Get("scope"), key); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listConfig(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	reveal := r.URL.Query().Get("reveal") == "true"
	if reveal && !spacepods.RoleAtLeast(spacepods.ActorFrom(r.Context()).Role, spacepods.RoleAdmin) {
		return spacepods.Errorf(spacepods.EFORBIDDEN, "only admins may reveal secret values")
	}
	if err := s.needConfig(); err != nil {
		return err
	}
	if _, err := s.Catalog.Get(r.Context(), name); err != nil {
		return err
	}
	vars, err := s.Config.List(r.Context(), name, r.URL.Query().Get("scope"), reveal)
	return reply(w, http.StatusOK, vars, err)
}

func (s *Server) effectiveConfig(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	envName := r.URL.Query().Get("env")
	if err := spacepods.ValidateEnvName(envName); err != nil {
		return spacepods.Errorf(spacepods.EINVALID, "say which environment: ?env=NAME (CLI: --env NAME)")
	}
	if err := s.needConfig(); err != nil {
		return err
	}
	ctx := r.Context()
	app, err := s.Catalog.Get(ctx, name)
	if err != nil {
		return err
	}
	env, err := s.Pods.Show(ctx, envName)
	if err != nil {
		return err
	}
	build, err := s.runningOrLatest(r, env.AppStatus, name)
	if err != nil {
		return err
	}
	deps := map[string]string{}
	for _, d := range app.Dependencies {
		da, err := s.Catalog.Get(ctx, d)
		switch {
		case err != nil:
		case s.Deploys != nil:
			deps[d] = s.Deploys.DependencyURL(envName, da)
		default:
			deps[d] = config.DependencyURL(da)
		}
	}
	eff, err := s.Config.EffectiveFor(ctx, app, deps, env.Name, env.Kind, build)
	return reply(w, http.StatusOK, eff, err)
}

// runningOrLatest is the build of app running in env, or the latest of main.
func (s *Server) runningOrLatest(r *http.Request, apps []spacepods.EnvApp, app string) (spacepods.Build, error) {
	for _, a := range apps {
		if a.App == app && a.Build > 0 {
			return s.Catalog.Build(r.Context(), app, a.Build)
		}
	}
	return s.Catalog.LatestBuild(r.Context(), app, spacepods.DefaultBranch)
}

func (s *Server) applyConfig(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	var req spacepods.ApplyConfigRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	env, err := s.Pods.Show(r.Context(), req.Env)
	if err != nil {
		return err
	}
	build := 0
	for _, a := range env.AppStatus {
		if a.App == name && a.Release > 0 {
			build = a.Build
		}
	}
	if build == 0 {
		return spacepods.Errorf(spacepods.ECONFLICT, "%s runs no release of %s: nothing to apply the config to (deploy it first)", req.Env, name)
	}
	d, err := s.Deploys.Submit(r.Context(), deploy.Request{Env: req.Env, App: name, Build: build, ConfirmVersion: req.ConfirmManifestVersion})
	return reply(w, http.StatusAccepted, d, err)
}

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	if s.RotateKey == nil {
		return spacepods.Errorf(spacepods.EINVALID, "this server's secret store has no master key to rotate (rotate keys in the backend itself, e.g. Vault)")
	}
	res, err := s.RotateKey(r.Context())
	if err != nil {
		return err
	}
	// The rotation is done whatever happens to its audit entry: say so
	// in the log rather than answer as if it had failed.
	if err := s.Store.AddAudit(r.Context(), "secrets.rotate-key", "master key", "new key "+res.KeyID); err != nil {
		s.Logger.Error("audit entry of a master key rotation not written", "key_id", res.KeyID, "err", err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
