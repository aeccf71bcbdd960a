package server

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/spacepods/spacepods/internal/releasenotes"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Pipelines (internal/pipeline).

func (s *Server) needPipeline() error {
	if s.Pipeline == nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "this server runs no pipelines (--runtime none): restart it with --runtime docker")
	}
	return nil
}

func (s *Server) showPipeline(w http.ResponseWriter, r *http.Request) error {
	if err := s.needPipeline(); err != nil {
		return err
	}
	app, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 20)
	if err != nil {
		return err
	}
	v, err := s.Pipeline.Show(r.Context(), app, limit)
	return reply(w, http.StatusOK, v, err)
}

func (s *Server) listPipelineRuns(w http.ResponseWriter, r *http.Request) error {
	if err := s.needPipeline(); err != nil {
		return err
	}
	app, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 50)
	if err != nil {
		return err
	}
	runs, err := s.Pipeline.Runs(r.Context(), app, limit)
	return reply(w, http.StatusOK, runs, err)
}

func (s *Server) startPipelineRun(w http.ResponseWriter, r *http.Request) error {
	if err := s.needPipeline(); err != nil {
		return err
	}
	app, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	var req spacepods.StartPipelineRunRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Build < 1 {
		return spacepods.Errorf(spacepods.EINVALID, "build must be a positive build number of %s: see `spacepods build list %s`", app, app)
	}
	run, err := s.Pipeline.StartRun(r.Context(), app, req.Build)
	return reply(w, http.StatusCreated, run, err)
}

func runID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, spacepods.Errorf(spacepods.EINVALID, "pipeline run id %q must be a positive integer", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) getPipelineRun(w http.ResponseWriter, r *http.Request) error {
	if err := s.needPipeline(); err != nil {
		return err
	}
	id, err := runID(r)
	if err != nil {
		return err
	}
	run, err := s.Pipeline.Run(r.Context(), id)
	return reply(w, http.StatusOK, run, err)
}

func (s *Server) decidePipelineRun(approve bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needPipeline(); err != nil {
			return err
		}
		id, err := runID(r)
		if err != nil {
			return err
		}
		var req spacepods.PipelineDecisionRequest
		if r.ContentLength != 0 {
			if err := decode(w, r, &req); err != nil {
				return err
			}
		}
		run, err := s.Pipeline.Decide(r.Context(), id, approve, req.Comment)
		return reply(w, http.StatusOK, run, err)
	}
}

// Release notes (internal/releasenotes).

func (s *Server) deployNotes(w http.ResponseWriter, r *http.Request) error {
	if s.Notes == nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "this server computes no release notes (--runtime none): restart it with --runtime docker")
	}
	id, err := deployID(r)
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "markdown" {
		return spacepods.Errorf(spacepods.EINVALID, "format %q: write format=json (default) or format=markdown", format)
	}
	n, err := s.Notes.ForDeploy(r.Context(), id)
	if err != nil || format != "markdown" {
		return reply(w, http.StatusOK, n, err)
	}
	// Markdown, never sniffed as HTML: commit messages are other people's text.
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, strings.NewReader(releasenotes.Markdown(n))) // the status is sent: a client gone midway is not an error to report
	return nil
}
