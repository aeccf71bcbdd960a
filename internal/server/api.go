package server

import (
	"net/http"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, spacepods.ActorFrom(r.Context()))
	return nil
}

func (s *Server) registerApp(w http.ResponseWriter, r *http.Request) error {
	var req spacepods.RegisterAppRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	app, created, err := s.Catalog.Register(r.Context(), []byte(req.Manifest), req.SeedSQL)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, spacepods.RegisterAppResponse{App: app, Created: created})
	return nil
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	apps, err := s.Catalog.List(r.Context(), store.ListOptions{After: r.URL.Query().Get("after"), Limit: limit})
	return reply(w, http.StatusOK, apps, err)
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	app, err := s.Catalog.Get(r.Context(), name)
	return reply(w, http.StatusOK, app, err)
}

func (s *Server) appVersions(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	vs, err := s.Catalog.Versions(r.Context(), name)
	return reply(w, http.StatusOK, vs, err)
}

func (s *Server) appDeps(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	tree, order, problem, err := s.Catalog.Deps(r.Context(), name)
	return reply(w, http.StatusOK, spacepods.AppDeps{Tree: tree, Order: order, Problem: problem}, err)
}

func (s *Server) recordBuild(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	var b spacepods.Build
	if err := decode(w, r, &b); err != nil {
		return err
	}
	if b.App == "" {
		b.App = name
	}
	if b.App != name {
		return spacepods.Errorf(spacepods.EINVALID, "body names app %q but the URL names %q: they must match", b.App, name)
	}
	b, err = s.Catalog.RecordBuild(r.Context(), b)
	return reply(w, http.StatusCreated, b, err)
}

func (s *Server) listBuilds(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	bs, err := s.Catalog.Builds(r.Context(), spacepods.BuildFilter{App: name, Branch: r.URL.Query().Get("branch"), Limit: limit})
	return reply(w, http.StatusOK, bs, err)
}

func (s *Server) latestBuild(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	branch := r.URL.Query().Get("branch")
	if branch == "" {
		branch = spacepods.DefaultBranch
	}
	b, err := s.Catalog.LatestBuild(r.Context(), name, branch)
	return reply(w, http.StatusOK, b, err)
}

func (s *Server) getBuild(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	n, err := pathInt(r, "number")
	if err != nil {
		return err
	}
	b, err := s.Catalog.Build(r.Context(), name, n)
	return reply(w, http.StatusOK, b, err)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req spacepods.CreateTokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	secret, t, err := s.Auth.Create(r.Context(), req.Name, req.Role)
	return reply(w, http.StatusCreated, spacepods.CreateTokenResponse{Token: t, Secret: secret}, err)
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.Auth.List(r.Context())
	return reply(w, http.StatusOK, ts, err)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "token")
	if err != nil {
		return err
	}
	if err := s.Auth.Revoke(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	before, err := queryInt(r, "before", 0)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	es, err := s.Store.ListAudit(r.Context(), int64(before), limit)
	return reply(w, http.StatusOK, es, err)
}
