package server

import (
	"io"
	"net/http"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// maxNotification bounds a registry notification body (distribution
// batches a few events; 1 MiB holds thousands).
const maxNotification = 1 << 20

// registryHook takes a registry's push notifications (distribution's
// envelope, any Content-Type): authenticated by the bearer token of the
// registry's endpoint, not by an API token.
func (s *Server) registryHook(w http.ResponseWriter, r *http.Request) error {
	if s.Registry == nil {
		return spacepods.Errorf(spacepods.EUNAUTHORIZED, "this server takes no registry notifications: start it with --registry embedded or --registry HOST and a notification token (docs/registry.md)")
	}
	if err := s.Registry.Authorize(r.Header.Get("Authorization")); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNotification))
	if err != nil {
		return spacepods.Errorf(spacepods.EINVALID, "read the notification: %v (at most %d bytes)", err, maxNotification)
	}
	res, err := s.Registry.Take(r.Context(), body)
	return reply(w, http.StatusOK, res, err)
}

func (s *Server) registryEvents(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "", spacepods.RegistryEventRecorded, spacepods.RegistryEventRejected:
	default:
		return spacepods.Errorf(spacepods.EINVALID, "status %q: use recorded or rejected, or leave it out for both", status)
	}
	evs, err := s.Store.ListRegistryEvents(r.Context(), status, limit)
	return reply(w, http.StatusOK, evs, err)
}
