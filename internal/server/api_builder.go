package server

import (
	"net/http"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/streams"
)

// needBuilder answers 503 when the server runs no built-in builder.
func (s *Server) needBuilder() error {
	if s.Builder == nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "the built-in builder is off on this server: start it with --registry HOST[:PORT] (the registry images are pushed to) and a Docker Engine it can reach (see docs/builder.md)")
	}
	return nil
}

func buildJobID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, spacepods.Errorf(spacepods.EINVALID, "build job id %q must be a positive integer (see `spacepods build jobs APP`)", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) runBuild(w http.ResponseWriter, r *http.Request) error {
	if err := s.needBuilder(); err != nil {
		return err
	}
	app, err := pathName(r, "name", "app")
	if err != nil {
		return err
	}
	var req spacepods.RunBuildRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	j, err := s.Builder.Run(r.Context(), app, req)
	return reply(w, http.StatusAccepted, j, err)
}

func (s *Server) listBuildJobs(w http.ResponseWriter, r *http.Request) error {
	if err := s.needBuilder(); err != nil {
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
	jobs, err := s.Builder.Jobs(r.Context(), app, limit)
	return reply(w, http.StatusOK, jobs, err)
}

func (s *Server) getBuildJob(w http.ResponseWriter, r *http.Request) error {
	if err := s.needBuilder(); err != nil {
		return err
	}
	id, err := buildJobID(r)
	if err != nil {
		return err
	}
	// The log (build output) goes only to those who may read output.
	j, err := s.Builder.Job(r.Context(), id, spacepods.MayReadOutput(r.Context()))
	return reply(w, http.StatusOK, j, err)
}

func (s *Server) cancelBuildJob(w http.ResponseWriter, r *http.Request) error {
	if err := s.needBuilder(); err != nil {
		return err
	}
	id, err := buildJobID(r)
	if err != nil {
		return err
	}
	j, err := s.Builder.Cancel(r.Context(), id)
	return reply(w, http.StatusOK, j, err)
}

// buildJobLog answers a job's log as text from a byte offset; follow=true
// streams it until the job ends.
func (s *Server) buildJobLog(w http.ResponseWriter, r *http.Request) error {
	if err := s.needBuilder(); err != nil {
		return err
	}
	id, err := buildJobID(r)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0)
	if err != nil || offset < 0 {
		return spacepods.Errorf(spacepods.EINVALID, "offset must be a byte offset (0 or more)")
	}
	if _, err := s.Builder.Job(r.Context(), id, false); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("follow") != "true" {
		j, err := s.Builder.Job(r.Context(), id, true)
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		if offset < len(j.Log) {
			_, _ = w.Write([]byte(j.Log[offset:])) // the reader went away; nothing left to report to
		}
		return nil
	}
	release, err := s.Streams.Acquire(r.Context())
	if err != nil {
		return err
	}
	defer release()
	streams.LiftDeadlines(w)
	w.WriteHeader(http.StatusOK)
	fw := flushWriter{w}
	_, _ = fw.Write(nil)                                 // send the headers now: a queued job may wait a while
	_ = s.Builder.FollowLog(r.Context(), id, offset, fw) // ends with the job or the reader
	return nil
}
