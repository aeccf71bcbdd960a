package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// RecordNotice stores a notice and one pending delivery per target, in one
// transaction. A notice whose key is stored already is not stored again:
// it returns the stored one and false.
func (s *Store) RecordNotice(ctx context.Context, n spacepods.Notice, targets []string) (spacepods.Notice, bool, error) {
	if n.At.IsZero() {
		n.At = s.Now()
	}
	if n.Key == "" {
		n.Key = fmt.Sprintf("%s/%s/%d", n.Kind, n.Subject, n.At.UnixNano())
	}
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM notify_notices WHERE idem_key = $1`), n.Key).Scan(&id)
		if err == nil {
			n.ID = id
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		body, err := json.Marshal(n)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO notify_notices (idem_key, kind, subject, app, env, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`),
			n.Key, n.Kind, n.Subject, n.App, n.Env, string(body), micros(n.At)).Scan(&n.ID); err != nil {
			return err
		}
		for _, t := range targets {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO notify_deliveries (notice_id, target, state, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (notice_id, target) DO NOTHING`),
				n.ID, t, spacepods.NoticePending, micros(n.At)); err != nil {
				return err
			}
		}
		created = true
		return nil
	})
	if isUniqueViolation(err) { // the same key twice at once: the other one stored it
		return n, false, nil
	}
	return n, created, err
}

const noticeDeliveryCols = `d.id, d.notice_id, n.kind, n.idem_key, d.target, d.state, d.attempts, d.next_at, d.last_error, d.result, d.created_at, d.finished_at`

func scanNoticeDelivery(sc scanner) (spacepods.NoticeDelivery, error) {
	var d spacepods.NoticeDelivery
	var next, created int64
	var finished sql.NullInt64
	if err := sc.Scan(&d.ID, &d.NoticeID, &d.Kind, &d.Key, &d.Target, &d.State, &d.Attempts, &next, &d.LastError, &d.Result, &created, &finished); err != nil {
		return d, err
	}
	d.NextAt, d.CreatedAt = fromMicros(next), fromMicros(created)
	if finished.Valid {
		f := fromMicros(finished.Int64)
		d.FinishedAt = &f
	}
	return d, nil
}

// ClaimNoticeDelivery marks the oldest pending delivery that is due as
// sending and returns it with its notice; false when none is. Deliveries to
// one target go in order: one waits while an older one to its target is
// pending (a retry) or sending.
func (s *Store) ClaimNoticeDelivery(ctx context.Context) (spacepods.NoticeDelivery, spacepods.Notice, bool, error) {
	var n spacepods.Notice
	for {
		d, err := scanNoticeDelivery(s.db.QueryRowContext(ctx, s.q(`SELECT `+noticeDeliveryCols+` FROM notify_deliveries d JOIN notify_notices n ON n.id = d.notice_id
			WHERE d.state = $1 AND d.next_at <= $2 AND NOT EXISTS (
				SELECT 1 FROM notify_deliveries e WHERE e.target = d.target AND e.id < d.id AND e.state IN ($1, $3))
			ORDER BY d.id LIMIT 1`), spacepods.NoticePending, micros(s.Now()), spacepods.NoticeSending))
		if errors.Is(err, sql.ErrNoRows) {
			return d, n, false, nil
		}
		if err != nil {
			return d, n, false, s.wrap(err)
		}
		// The attempt count guards against another worker having claimed,
		// failed and requeued it since the SELECT (it would be pending again).
		res, err := s.db.ExecContext(ctx, s.q(`UPDATE notify_deliveries SET state = $2, attempts = attempts + 1 WHERE id = $1 AND state = $3 AND attempts = $4`),
			d.ID, spacepods.NoticeSending, spacepods.NoticePending, d.Attempts)
		if err != nil {
			return d, n, false, s.wrap(err)
		}
		if k, _ := res.RowsAffected(); k != 1 {
			continue // another worker took it meanwhile: look again
		}
		d.State = spacepods.NoticeSending
		d.Attempts++
		n, err = s.Notice(ctx, d.NoticeID)
		return d, n, err == nil, err
	}
}

// Notice returns a stored notice. ENOTFOUND if none.
func (s *Store) Notice(ctx context.Context, id int64) (spacepods.Notice, error) {
	var n spacepods.Notice
	var body string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT payload FROM notify_notices WHERE id = $1`), id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return n, spacepods.Errorf(spacepods.ENOTFOUND, "no notice %d", id)
	}
	if err != nil {
		return n, s.wrap(err)
	}
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		return n, fmt.Errorf("notice %d: %w", id, err)
	}
	n.ID = id
	return n, nil
}

// FinishNoticeDelivery records that a delivery was sent or is dead.
func (s *Store) FinishNoticeDelivery(ctx context.Context, id int64, state, result, errText string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE notify_deliveries SET state = $2, result = $3, last_error = $4, finished_at = $5 WHERE id = $1`),
		id, state, result, errText, micros(s.Now()))
	return s.wrap(err)
}

// RetryNoticeDelivery puts a failed delivery back to pending, due at at.
func (s *Store) RetryNoticeDelivery(ctx context.Context, id int64, errText string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE notify_deliveries SET state = $2, last_error = $3, next_at = $4 WHERE id = $1`),
		id, spacepods.NoticePending, errText, micros(at))
	return s.wrap(err)
}

// RequeueNoticeDeliveries puts deliveries a stopped server left sending
// back to pending (they are sent again: at least once), and returns how
// many.
func (s *Store) RequeueNoticeDeliveries(ctx context.Context) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE notify_deliveries SET state = $1 WHERE state = $2`), spacepods.NoticePending, spacepods.NoticeSending)
	if err != nil {
		return 0, s.wrap(err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ListNoticeDeliveries lists deliveries newest first: those to target
// ("" = all) with an ID below before (0 = from the newest), at most limit.
func (s *Store) ListNoticeDeliveries(ctx context.Context, target string, before int64, limit int) ([]spacepods.NoticeDelivery, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	return queryAll(ctx, s, scanNoticeDelivery, `SELECT `+noticeDeliveryCols+` FROM notify_deliveries d JOIN notify_notices n ON n.id = d.notice_id
		WHERE d.id < $1 AND (d.target = $2 OR $2 = '') ORDER BY d.id DESC LIMIT $3`, before, target, limit)
}

// NoticeThread returns the channel and message timestamp of a subject's
// message to target; ok false when none is recorded.
func (s *Store) NoticeThread(ctx context.Context, subject, target string) (channel, ts string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, s.q(`SELECT channel, ts FROM notify_threads WHERE subject = $1 AND target = $2`), subject, target).Scan(&channel, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	return channel, ts, err == nil, s.wrap(err)
}

// SetNoticeThread records a subject's message to target.
func (s *Store) SetNoticeThread(ctx context.Context, subject, target, channel, ts string) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO notify_threads (subject, target, channel, ts, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (subject, target) DO UPDATE SET channel = excluded.channel, ts = excluded.ts, updated_at = excluded.updated_at`),
		subject, target, channel, ts, micros(s.Now()))
	return s.wrap(err)
}

// PutSlackUser maps a Slack user to a Spacepods user and role (replacing
// any mapping of that Slack user), audited.
func (s *Store) PutSlackUser(ctx context.Context, u spacepods.SlackUser) (spacepods.SlackUser, error) {
	u.CreatedBy, u.CreatedAt = spacepods.ActorName(ctx), s.Now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO slack_users (slack_user, username, role, created_by, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (slack_user) DO UPDATE SET username = excluded.username, role = excluded.role, created_by = excluded.created_by, created_at = excluded.created_at`),
			u.SlackUser, u.Username, u.Role, u.CreatedBy, micros(u.CreatedAt)); err != nil {
			return err
		}
		return s.audit(ctx, tx, "slack_user.put", u.SlackUser, "acts as "+u.Username+" with role "+u.Role)
	})
	return u, err
}

// DeleteSlackUser removes a Slack user's mapping. ENOTFOUND if none.
func (s *Store) DeleteSlackUser(ctx context.Context, slackUser string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM slack_users WHERE slack_user = $1`), slackUser)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return spacepods.Errorf(spacepods.ENOTFOUND, "Slack user %s is not mapped: see `spacepods slack users`", slackUser)
		}
		return s.audit(ctx, tx, "slack_user.delete", slackUser, "")
	})
}

func scanSlackUser(sc scanner) (spacepods.SlackUser, error) {
	var u spacepods.SlackUser
	var at int64
	err := sc.Scan(&u.SlackUser, &u.Username, &u.Role, &u.CreatedBy, &at)
	u.CreatedAt = fromMicros(at)
	return u, err
}

// SlackUser returns a Slack user's mapping. ENOTFOUND if none.
func (s *Store) SlackUser(ctx context.Context, slackUser string) (spacepods.SlackUser, error) {
	u, err := scanSlackUser(s.db.QueryRowContext(ctx, s.q(`SELECT slack_user, username, role, created_by, created_at FROM slack_users WHERE slack_user = $1`), slackUser))
	if errors.Is(err, sql.ErrNoRows) {
		return u, spacepods.Errorf(spacepods.ENOTFOUND, "Slack user %s is not mapped to a Spacepods user", slackUser)
	}
	return u, s.wrap(err)
}

// SlackUserOf returns the Slack user mapped to a Spacepods user; ENOTFOUND
// if none is.
func (s *Store) SlackUserOf(ctx context.Context, username string) (spacepods.SlackUser, error) {
	u, err := scanSlackUser(s.db.QueryRowContext(ctx, s.q(`SELECT slack_user, username, role, created_by, created_at FROM slack_users WHERE username = $1 ORDER BY slack_user LIMIT 1`), username))
	if errors.Is(err, sql.ErrNoRows) {
		return u, spacepods.Errorf(spacepods.ENOTFOUND, "no Slack user is mapped to %s", username)
	}
	return u, s.wrap(err)
}

// ListSlackUsers lists the mappings by Slack user ID.
func (s *Store) ListSlackUsers(ctx context.Context) ([]spacepods.SlackUser, error) {
	return queryAll(ctx, s, scanSlackUser, `SELECT slack_user, username, role, created_by, created_at FROM slack_users ORDER BY slack_user`)
}
