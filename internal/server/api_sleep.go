package server

import (
	"net/http"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func (s *Server) sleepPod(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "pod")
	if err != nil {
		return err
	}
	var req spacepods.SleepPodRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			return err
		}
	}
	v, err := s.Pods.Sleep(r.Context(), name, req.App)
	return reply(w, http.StatusOK, v, err)
}

func (s *Server) wakePod(w http.ResponseWriter, r *http.Request) error {
	name, err := pathName(r, "name", "pod")
	if err != nil {
		return err
	}
	v, err := s.Pods.Wake(r.Context(), name)
	return reply(w, http.StatusOK, v, err)
}
