// Package streams caps the live streams (UI event streams, log follows)
// that the API and the web UI hold open, and frees them from the HTTP
// server's deadlines. The API server and the UI share one Limiter.
package streams

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Default caps of live streams (--max-streams, --max-streams-per-user).
const (
	DefaultMax        = 256
	DefaultMaxPerUser = 16
)

// Limiter caps the live streams (UI event streams, log follows) open at
// once, per user (token name) and in total, so that neither one user's
// tabs nor everyone's can hold all the server's connections and store
// reads. The API and the UI share one.
type Limiter struct {
	PerUser int // 0 = DefaultMaxPerUser
	Total   int // 0 = DefaultMax

	mu     sync.Mutex
	open   int
	byUser map[string]int
}

// Acquire takes a stream slot for the caller in ctx; call release when the
// stream ends. ELIMIT (429) when the caller or the server is at its cap.
func (s *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if s == nil {
		return func() {}, nil
	}
	user := spacepods.ActorName(ctx)
	perUser, total := s.PerUser, s.Total
	if perUser <= 0 {
		perUser = DefaultMaxPerUser
	}
	if total <= 0 {
		total = DefaultMax
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byUser == nil {
		s.byUser = map[string]int{}
	}
	switch {
	case s.byUser[user] >= perUser:
		return nil, spacepods.Errorf(spacepods.ELIMIT, "%s has %d live streams open (log follows, live pages), the most one user may: close some Spacepods tabs or `logs --follow` commands and try again (an admin can raise --max-streams-per-user)", user, s.byUser[user])
	case s.open >= total:
		return nil, spacepods.Errorf(spacepods.ELIMIT, "the server has %d live streams open, its limit: try again in a minute (an admin can raise --max-streams)", s.open)
	}
	s.open++
	s.byUser[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.open--
			if s.byUser[user]--; s.byUser[user] <= 0 {
				delete(s.byUser, user)
			}
		})
	}, nil
}

// Open returns how many streams are open.
func (s *Limiter) Open() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// LiftDeadlines frees a long-lived response (a stream) from the server's
// ReadTimeout and WriteTimeout: without this, the write deadline cuts the
// stream, and the read deadline ends the request's context, when they pass.
func LiftDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})  // clearing deadlines: a failure shows up as the next read/write error
	_ = rc.SetWriteDeadline(time.Time{}) // clearing deadlines: a failure shows up as the next read/write error
}
