package server

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// forgeHook takes a webhook delivery from the code forge. The signature is
// its authentication; it answers as soon as the delivery is stored (202),
// or 200 for a delivery ID already stored (a replay: nothing happens).
func (s *Server) forgeHook(w http.ResponseWriter, r *http.Request) error {
	if s.Hooks == nil {
		return spacepods.Errorf(spacepods.ENOTFOUND, "no forge is configured on this server: start it with --forge github|gitea and --forge-webhook-secret-file (docs/forges.md)")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, forge.MaxPayloadBytes))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return spacepods.Errorf(spacepods.ETOOLARGE, "delivery over %d bytes: Spacepods handles push, pull request and comment events only", forge.MaxPayloadBytes)
	}
	if err != nil {
		return spacepods.Errorf(spacepods.EINVALID, "reading the delivery: %v", err)
	}
	d, queued, err := s.Hooks.Receive(r.Context(), r.Header, body)
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if !queued {
		status = http.StatusOK
	}
	writeJSON(w, status, d)
	return nil
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 50)
	if err != nil {
		return err
	}
	if limit < 1 || limit > 500 {
		return spacepods.Errorf(spacepods.EINVALID, "limit must be 1..500")
	}
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil {
			return spacepods.Errorf(spacepods.EINVALID, "query parameter before=%q must be a delivery ID", v)
		}
	}
	ds, err := s.Store.ListDeliveries(r.Context(), before, limit)
	return reply(w, http.StatusOK, ds, err)
}

func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	d, err := s.Store.Delivery(r.Context(), int64(id), "")
	return reply(w, http.StatusOK, d, err)
}
