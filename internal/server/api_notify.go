package server

import (
	"net/http"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// slackHook passes Slack's slash commands and button presses to the Slack
// app's handler, which verifies Slack's signature (its authentication).
func (s *Server) slackHook(w http.ResponseWriter, r *http.Request) error {
	if s.Slack == nil {
		return spacepods.Errorf(spacepods.ENOTFOUND, "Slack is not configured on this server: add a slack: section to --notify-config and set SLACK_SIGNING_SECRET (docs/notifications.md)")
	}
	s.Slack.ServeHTTP(w, r)
	return nil
}

// listNotifications is the notification delivery log.
func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) error {
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
	ds, err := s.Store.ListNoticeDeliveries(r.Context(), r.URL.Query().Get("target"), before, limit)
	return reply(w, http.StatusOK, ds, err)
}

func (s *Server) listSlackUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := s.Store.ListSlackUsers(r.Context())
	return reply(w, http.StatusOK, us, err)
}

func (s *Server) putSlackUser(w http.ResponseWriter, r *http.Request) error {
	var req spacepods.LinkSlackUserRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if id == "" || req.Username == "" || !spacepods.ValidRole(req.Role) {
		return spacepods.Errorf(spacepods.EINVALID, "give the Slack user ID in the path, and username and role (admin, developer or viewer) in the body")
	}
	u, err := s.Store.PutSlackUser(r.Context(), spacepods.SlackUser{SlackUser: id, Username: req.Username, Role: req.Role})
	return reply(w, http.StatusOK, u, err)
}

func (s *Server) deleteSlackUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.Store.DeleteSlackUser(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
