package server

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Gatekeeper test runs (internal/gatekeeper).

func (s *Server) needTests() error {
	if s.Tests == nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "this server runs no test runner (--runtime none): restart it with --runtime docker")
	}
	return nil
}

func (s *Server) runTests(w http.ResponseWriter, r *http.Request) error {
	if err := s.needTests(); err != nil {
		return err
	}
	env, err := pathName(r, "env", "environment")
	if err != nil {
		return err
	}
	var req spacepods.RunTestsRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	runs, err := s.Tests.Begin(r.Context(), env, req.App, "manual")
	return reply(w, http.StatusAccepted, runs, err)
}

func (s *Server) listTests(w http.ResponseWriter, r *http.Request) error {
	if err := s.needTests(); err != nil {
		return err
	}
	env, err := pathName(r, "env", "environment")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 50)
	if err != nil {
		return err
	}
	runs, err := s.Tests.List(r.Context(), env, r.URL.Query().Get("app"), limit)
	if runs == nil && err == nil {
		runs = []spacepods.TestRun{}
	}
	return reply(w, http.StatusOK, runs, err)
}

func testID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, spacepods.Errorf(spacepods.EINVALID, "test run id %q must be a positive integer", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) getTest(w http.ResponseWriter, r *http.Request) error {
	if err := s.needTests(); err != nil {
		return err
	}
	id, err := testID(r)
	if err != nil {
		return err
	}
	run, err := s.Tests.Get(r.Context(), id)
	return reply(w, http.StatusOK, run, err)
}

func (s *Server) testLog(w http.ResponseWriter, r *http.Request) error {
	if err := s.needTests(); err != nil {
		return err
	}
	id, err := testID(r)
	if err != nil {
		return err
	}
	log, err := s.Tests.Log(r.Context(), id)
	if err != nil {
		return err
	}
	// Plain text, never sniffed as HTML: the output is the test's, not ours.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, strings.NewReader(log)) // the status is sent: a client gone midway is not an error to report
	return nil
}
