package server

import (
	"io"
	"net/http"
	"strconv"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/streams"
)

func (s *Server) needRuntime() error {
	if s.Pods == nil || s.Deploys == nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "this server runs without a runtime (--runtime none): pods and deploys are off; restart it with --runtime docker")
	}
	return nil
}

func (s *Server) planPod(w http.ResponseWriter, r *http.Request) error {
	var req spacepods.CreatePodRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	p, err := s.Pods.Plan(r.Context(), req)
	return reply(w, http.StatusOK, p, err)
}

func (s *Server) createPod(w http.ResponseWriter, r *http.Request) error {
	var req spacepods.CreatePodRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	p, env, err := s.Pods.Create(r.Context(), req)
	return reply(w, http.StatusAccepted, spacepods.CreatePodResponse{Plan: p, Pod: env}, err)
}

func (s *Server) listEnvs(kind string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		envs, err := s.Pods.List(r.Context(), kind)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, envs)
		return nil
	}
}

func (s *Server) showEnv(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "environment")
	if err != nil {
		return err
	}
	v, err := s.Pods.Show(r.Context(), name)
	return reply(w, http.StatusOK, v, err)
}

func (s *Server) envEvents(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "environment")
	if err != nil {
		return err
	}
	after, err := queryInt(r, "after", 0)
	if err != nil {
		return err
	}
	evs, err := s.Pods.Events(r.Context(), name, int64(after))
	return reply(w, http.StatusOK, evs, err)
}

func (s *Server) updatePod(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "pod")
	if err != nil {
		return err
	}
	var req spacepods.UpdatePodRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	p, err := s.Pods.Update(r.Context(), name, req.Builds)
	return reply(w, http.StatusAccepted, p, err)
}

func (s *Server) extendPod(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "pod")
	if err != nil {
		return err
	}
	var req spacepods.ExtendPodRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	env, err := s.Pods.Extend(r.Context(), name, req.TTL)
	return reply(w, http.StatusOK, env, err)
}

func (s *Server) destroyEnv(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "environment")
	if err != nil {
		return err
	}
	if err := s.Pods.Destroy(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Server) appLogs(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "environment")
	if err != nil {
		return err
	}
	app, err := pathName(r, "app", "app")
	if err != nil {
		return err
	}
	tail, err := queryInt(r, "tail", 100)
	if err != nil {
		return err
	}
	follow := r.URL.Query().Get("follow") == "true"
	if follow {
		release, err := s.Streams.Acquire(r.Context())
		if err != nil {
			return err
		}
		defer release()
		streams.LiftDeadlines(w)
	}
	rc, err := s.Pods.Logs(r.Context(), name, app, runtime.LogOptions{Follow: follow, Tail: tail})
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	fw := flushWriter{w}
	_, _ = io.Copy(fw, rc) // the reader went away; nothing left to report to
	return nil
}

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

func (s *Server) createEnv(w http.ResponseWriter, r *http.Request) error {
	var req spacepods.CreateEnvironmentRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	env, err := s.Pods.CreateMaster(r.Context(), req.Name, req.Protected)
	return reply(w, http.StatusCreated, env, err)
}

func (s *Server) createDeploy(w http.ResponseWriter, r *http.Request) error {
	var req spacepods.DeployRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	d, err := s.Deploys.Deploy(r.Context(), deploy.Request{Env: req.Env, App: req.App, Build: req.Build, ConfirmVersion: req.ConfirmManifestVersion})
	return reply(w, http.StatusAccepted, d, err)
}

func (s *Server) planDeploy(w http.ResponseWriter, r *http.Request) error {
	var req spacepods.DeployRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	p, err := s.Deploys.Plan(r.Context(), deploy.Request{Env: req.Env, App: req.App, Build: req.Build})
	return reply(w, http.StatusOK, p, err)
}

func (s *Server) listDeploys(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 50)
	if err != nil {
		return err
	}
	ds, err := s.Deploys.List(r.Context(), r.URL.Query().Get("env"), r.URL.Query().Get("app"), limit)
	for i := range ds {
		spacepods.HideOutput(r.Context(), &ds[i])
	}
	return reply(w, http.StatusOK, ds, err)
}

func deployID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, spacepods.Errorf(spacepods.EINVALID, "deploy id %q must be a positive integer", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) getDeploy(w http.ResponseWriter, r *http.Request) error {
	id, err := deployID(r)
	if err != nil {
		return err
	}
	d, err := s.Deploys.Get(r.Context(), id)
	spacepods.HideOutput(r.Context(), &d)
	return reply(w, http.StatusOK, d, err)
}

func (s *Server) deployEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := deployID(r)
	if err != nil {
		return err
	}
	after, err := queryInt(r, "after", 0)
	if err != nil {
		return err
	}
	evs, err := s.Deploys.Events(r.Context(), id, int64(after))
	return reply(w, http.StatusOK, evs, err)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) error {
	var req spacepods.RollbackRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	d, err := s.Deploys.Rollback(r.Context(), req.Env, req.App)
	return reply(w, http.StatusAccepted, d, err)
}

func (s *Server) promote(w http.ResponseWriter, r *http.Request) error {
	var req spacepods.PromoteRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	d, err := s.Deploys.Promote(r.Context(), req.App, req.From, req.To, req.ConfirmManifestVersion)
	return reply(w, http.StatusAccepted, d, err)
}

func (s *Server) createSnapshot(w http.ResponseWriter, r *http.Request) error {
	var req spacepods.CreateSnapshotRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	snap, err := s.Pods.Snapshot(r.Context(), req.Env, req.App, req.Name)
	return reply(w, http.StatusCreated, snap, err)
}

func (s *Server) listSnapshots(w http.ResponseWriter, r *http.Request) error {
	snaps, err := s.Pods.Snapshots(r.Context())
	return reply(w, http.StatusOK, snaps, err)
}

func (s *Server) leaks(remove bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		ls, err := s.Pods.Leaks(r.Context(), remove)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, ls)
		return nil
	}
}
