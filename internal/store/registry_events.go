package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// TakeRegistryEvent keeps one tag push a registry notified and, when b is
// not nil, records the build it makes, in one transaction. taken is false,
// and nothing changes, when the event's ID was taken before (the registry
// retried a delivery). A build whose number the app already has is not
// recorded: the event is kept as rejected, saying so (a tag pushed again
// with another image), or as recorded when it is the same image again.
func (s *Store) TakeRegistryEvent(ctx context.Context, ev spacepods.RegistryEvent, b *spacepods.Build) (_ spacepods.RegistryEvent, taken bool, err error) {
	defer s.changes.Signal("")
	ev.ReceivedAt = s.Now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM registry_events WHERE id = $1`), ev.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if b != nil {
			var have, sha string
			err := tx.QueryRowContext(ctx, s.q(`SELECT digest, git_sha FROM builds WHERE app = $1 AND number = $2`), b.App, b.Number).Scan(&have, &sha)
			switch {
			case err == nil && have == b.Digest:
				// The same image pushed under its tag again: nothing new.
				ev.Reason = fmt.Sprintf("app %s already has build %d with this digest (the same image pushed again)", b.App, b.Number)
				b = nil
			case err == nil && have == "" && sha == b.GitSHA:
				// Recorded before its push (by CI, or by the builder before
				// it pushed): the same commit, so this is its image.
				if _, err := tx.ExecContext(ctx, s.q(`UPDATE builds SET digest = $3 WHERE app = $1 AND number = $2`), b.App, b.Number, b.Digest); err != nil {
					return err
				}
				ev.Reason = fmt.Sprintf("build %d of %s was recorded before its push (same commit): its digest is now kept", b.Number, b.App)
				b = nil
			case err == nil:
				ev.Status, ev.Reason = spacepods.RegistryEventRejected, fmt.Sprintf("app %s already has build %d (digest %s): build numbers are unique per app and releases keep the digest they were registered with; push the next build number as a new tag", b.App, b.Number, orNone(have))
				b = nil
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		if b != nil {
			b.CreatedAt, b.CreatedBy = ev.ReceivedAt, spacepods.ActorName(ctx)
			if err := s.insertBuild(ctx, tx, *b); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO registry_events (id, repository, tag, digest, status, app, build, reason, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`),
			ev.ID, ev.Repository, ev.Tag, ev.Digest, ev.Status, ev.App, ev.Build, ev.Reason, micros(ev.ReceivedAt))
		if err != nil {
			return err
		}
		taken = true
		return nil
	})
	if isUniqueViolation(err) {
		// The same delivery, taken by a concurrent request.
		return ev, false, nil
	}
	return ev, taken, err
}

func orNone(s string) string {
	if s == "" {
		return "none recorded"
	}
	return s
}

const registryEventCols = `id, repository, tag, digest, status, app, build, reason, received_at`

func scanRegistryEvent(row scanner) (spacepods.RegistryEvent, error) {
	var e spacepods.RegistryEvent
	var at int64
	err := row.Scan(&e.ID, &e.Repository, &e.Tag, &e.Digest, &e.Status, &e.App, &e.Build, &e.Reason, &at)
	e.ReceivedAt = fromMicros(at)
	return e, err
}

// ListRegistryEvents lists the tag pushes registries notified, newest
// first; status "" = all, else recorded or rejected.
func (s *Store) ListRegistryEvents(ctx context.Context, status string, limit int) ([]spacepods.RegistryEvent, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if status == "" {
		return queryAll(ctx, s, scanRegistryEvent, `SELECT `+registryEventCols+` FROM registry_events ORDER BY received_at DESC, id LIMIT $1`, limit)
	}
	return queryAll(ctx, s, scanRegistryEvent, `SELECT `+registryEventCols+` FROM registry_events WHERE status = $2 ORDER BY received_at DESC, id LIMIT $1`, limit, status)
}

// GetRegistryEvent returns one event by the registry's ID. ENOTFOUND if
// it was never taken.
func (s *Store) GetRegistryEvent(ctx context.Context, id string) (spacepods.RegistryEvent, error) {
	e, err := scanRegistryEvent(s.db.QueryRowContext(ctx, s.q(`SELECT `+registryEventCols+` FROM registry_events WHERE id = $1`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, spacepods.Errorf(spacepods.ENOTFOUND, "no registry event %s", id)
	}
	return e, s.wrap(err)
}
