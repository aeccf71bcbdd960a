package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pool is a tiny connection pool over pgx.Conn: the examples stay within the
// modules the repository already requires (pgxpool would add one).
type pool struct {
	cfg  *pgx.ConnConfig
	sem  chan struct{}
	mu   sync.Mutex
	idle []*pgx.Conn
}

func newPool(databaseURL string, size int) (*pool, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is not a PostgreSQL URL (postgres://user:password@host:5432/db): %w", err)
	}
	cfg.ConnectTimeout = 5 * time.Second
	return &pool{cfg: cfg, sem: make(chan struct{}, size)}, nil
}

// with runs fn on a pooled connection. Connections that fail with anything
// but a server-side SQL error are closed rather than reused.
func (p *pool) with(ctx context.Context, fn func(*pgx.Conn) error) error {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.sem }()
	p.mu.Lock()
	var c *pgx.Conn
	if n := len(p.idle); n > 0 {
		c, p.idle = p.idle[n-1], p.idle[:n-1]
	}
	p.mu.Unlock()
	if c == nil || c.IsClosed() {
		var err error
		if c, err = pgx.ConnectConfig(ctx, p.cfg); err != nil {
			return fmt.Errorf("connect to database: %w", err)
		}
	}
	err := fn(c)
	var pgErr *pgconn.PgError
	if err != nil && !errors.As(err, &pgErr) && !errors.Is(err, pgx.ErrNoRows) {
		_ = c.Close(context.Background())
		return err
	}
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
	return err
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		_ = c.Close(context.Background())
	}
	p.idle = nil
}

// connectRetry opens one connection, retrying for up to wait (a database
// that was just created may not accept connections yet).
func connectRetry(ctx context.Context, databaseURL string, wait time.Duration) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is not a PostgreSQL URL (postgres://user:password@host:5432/db): %w", err)
	}
	cfg.ConnectTimeout = 5 * time.Second
	deadline := time.Now().Add(wait)
	for {
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("connect to database: %w", err)
		}
		time.Sleep(time.Second)
	}
}
