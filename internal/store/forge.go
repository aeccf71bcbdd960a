package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

const deliveryCols = `id, delivery_id, event, action, repo, pr, payload, state, result, error, attempts, received_at, finished_at`

// deliveryListCols leave the payloads out: the log does not show them.
const deliveryListCols = `id, delivery_id, event, action, repo, pr, '', state, result, error, attempts, received_at, finished_at`

func scanDelivery(sc scanner) (spacepods.ForgeDelivery, error) {
	var d spacepods.ForgeDelivery
	var payload string
	var received int64
	var finished sql.NullInt64
	if err := sc.Scan(&d.ID, &d.DeliveryID, &d.Event, &d.Action, &d.Repo, &d.PR, &payload, &d.State, &d.Result, &d.Error, &d.Attempts, &received, &finished); err != nil {
		return d, err
	}
	d.Payload, d.ReceivedAt = []byte(payload), fromMicros(received)
	if finished.Valid {
		f := fromMicros(finished.Int64)
		d.FinishedAt = &f
	}
	return d, nil
}

// InsertDelivery stores a webhook delivery as pending, unless one with its
// delivery ID exists: then a failed one goes back to pending (the forge's
// "redeliver" button sends the same ID), and any other is left as it is.
// It returns the stored delivery and whether it is (again) pending.
func (s *Store) InsertDelivery(ctx context.Context, d spacepods.ForgeDelivery) (spacepods.ForgeDelivery, bool, error) {
	var queued bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old, err := scanDelivery(tx.QueryRowContext(ctx, s.q(`SELECT `+deliveryCols+` FROM forge_deliveries WHERE delivery_id = $1`), d.DeliveryID))
		switch {
		case err == nil && old.State == spacepods.DeliveryFailed:
			_, err = tx.ExecContext(ctx, s.q(`UPDATE forge_deliveries SET state = $2, payload = $3, finished_at = NULL, retry_at = 0 WHERE id = $1`), old.ID, spacepods.DeliveryPending, string(d.Payload))
			old.State, old.FinishedAt, queued = spacepods.DeliveryPending, nil, true
			d = old
			return err
		case err == nil:
			d = old
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		d.State, d.ReceivedAt, queued = spacepods.DeliveryPending, s.Now(), true
		return tx.QueryRowContext(ctx, s.q(`INSERT INTO forge_deliveries (delivery_id, event, action, repo, pr, payload, state, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`),
			d.DeliveryID, d.Event, d.Action, d.Repo, d.PR, string(d.Payload), d.State, micros(d.ReceivedAt)).Scan(&d.ID)
	})
	if isUniqueViolation(err) { // the same delivery, twice at once: the other request stored it
		d, err = s.Delivery(ctx, 0, d.DeliveryID)
		return d, false, err
	}
	return d, queued, err
}

// ClaimDelivery marks the oldest pending delivery that is not waiting for
// a retry as processing and returns it; false when there is none.
func (s *Store) ClaimDelivery(ctx context.Context) (spacepods.ForgeDelivery, bool, error) {
	for {
		d, err := scanDelivery(s.db.QueryRowContext(ctx, s.q(`SELECT `+deliveryCols+` FROM forge_deliveries WHERE state = $1 AND retry_at <= $2 ORDER BY id LIMIT 1`),
			spacepods.DeliveryPending, micros(s.Now())))
		if errors.Is(err, sql.ErrNoRows) {
			return d, false, nil
		}
		if err != nil {
			return d, false, s.wrap(err)
		}
		// The attempt count guards against a worker that read the row, was
		// overtaken by another that claimed it, failed and put it back to
		// pending: the state alone would let the slow one claim it too.
		res, err := s.db.ExecContext(ctx, s.q(`UPDATE forge_deliveries SET state = $2, attempts = attempts + 1 WHERE id = $1 AND state = $3 AND attempts = $4`),
			d.ID, spacepods.DeliveryProcessing, spacepods.DeliveryPending, d.Attempts)
		if err != nil {
			return d, false, s.wrap(err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			d.State = spacepods.DeliveryProcessing
			d.Attempts++
			return d, true, nil
		}
		// Another worker (another server on this store) took it: next one.
	}
}

// DeliveryPayloadRetention is how long a finished delivery keeps its
// payload. The row itself stays: the log, and the delivery ID that makes a
// replay of it a no-op, however late it comes.
const DeliveryPayloadRetention = 7 * 24 * time.Hour

// FinishDelivery records how a delivery's processing ended, and drops the
// payloads of deliveries finished over DeliveryPayloadRetention ago.
func (s *Store) FinishDelivery(ctx context.Context, id int64, state, result, errText string) error {
	now := s.Now()
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE forge_deliveries SET state = $2, result = $3, error = $4, finished_at = $5 WHERE id = $1`),
			id, state, result, errText, micros(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE forge_deliveries SET payload = '' WHERE finished_at < $1 AND payload <> ''`), micros(now.Add(-DeliveryPayloadRetention)))
		return err
	})
}

// RetryDelivery puts a delivery whose processing failed for a passing
// reason back to pending, to be taken again at or after at.
func (s *Store) RetryDelivery(ctx context.Context, id int64, result, errText string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE forge_deliveries SET state = $2, result = $3, error = $4, retry_at = $5 WHERE id = $1`),
		id, spacepods.DeliveryPending, result, errText, micros(at))
	return s.wrap(err)
}

// RequeueDeliveries puts deliveries left processing by a stopped server
// back to pending, and returns how many.
func (s *Store) RequeueDeliveries(ctx context.Context) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE forge_deliveries SET state = $1 WHERE state = $2`), spacepods.DeliveryPending, spacepods.DeliveryProcessing)
	if err != nil {
		return 0, s.wrap(err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Delivery returns one delivery by its row ID, or by the forge's delivery
// ID when id is 0. ENOTFOUND if none.
func (s *Store) Delivery(ctx context.Context, id int64, deliveryID string) (spacepods.ForgeDelivery, error) {
	d, err := scanDelivery(s.db.QueryRowContext(ctx, s.q(`SELECT `+deliveryCols+` FROM forge_deliveries WHERE id = $1 OR (delivery_id = $2 AND $2 <> '')`), id, deliveryID))
	if errors.Is(err, sql.ErrNoRows) {
		return d, spacepods.Errorf(spacepods.ENOTFOUND, "no forge delivery %d%s: see GET /api/v1/hooks/forge/deliveries", id, deliveryID)
	}
	return d, s.wrap(err)
}

// ListDeliveries lists deliveries newest first, those with an ID below
// before (0 = from the newest), at most limit, without their payloads.
func (s *Store) ListDeliveries(ctx context.Context, before int64, limit int) ([]spacepods.ForgeDelivery, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	return queryAll(ctx, s, scanDelivery, `SELECT `+deliveryListCols+` FROM forge_deliveries WHERE id < $1 ORDER BY id DESC LIMIT $2`, before, limit)
}

// PRHead returns the head commit recorded for a pull request; "" when none is.
func (s *Store) PRHead(ctx context.Context, repo string, number int) (string, error) {
	var sha string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT head_sha FROM forge_pr_heads WHERE repo = $1 AND number = $2`), repo, number).Scan(&sha)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return sha, s.wrap(err)
}

// SetPRHead records a pull request's head commit.
func (s *Store) SetPRHead(ctx context.Context, repo string, number int, sha string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO forge_pr_heads (repo, number, head_sha, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (repo, number) DO UPDATE SET head_sha = excluded.head_sha, updated_at = excluded.updated_at`), repo, number, sha, micros(s.Now()))
	return s.wrap(err)
}

// UpsertUserToken records the token of a user signed in through a sign-in
// provider: made at the first sign-in, its role updated at each one (the
// provider's groups decide it). hash is used only when the row is made.
func (s *Store) UpsertUserToken(ctx context.Context, name, role, hash string) (spacepods.Token, error) {
	t := spacepods.Token{Name: name, Role: role, CreatedBy: spacepods.ActorName(ctx), CreatedAt: s.Now()}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var old string
		var created int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT id, role, created_by, created_at FROM tokens WHERE name = $1`), name).Scan(&t.ID, &old, &t.CreatedBy, &created)
		switch {
		case err == nil:
			t.CreatedAt = fromMicros(created)
			if old == role {
				return nil
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE tokens SET role = $2 WHERE id = $1`), t.ID, role); err != nil {
				return err
			}
			return s.audit(ctx, tx, "token.role", name, "role "+old+" → "+role+" (sign-in provider groups)")
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO tokens (name, role, hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`),
			name, role, hash, t.CreatedBy, micros(t.CreatedAt)).Scan(&t.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "token.create", name, "role "+role+" (first sign-in through the sign-in provider)")
	})
	return t, err
}
