// Package notify tells people what happened: domain services hand it
// notices (spacepods.Notifier); it routes each to its targets (Slack
// channels, direct messages, outgoing webhooks), stores the notice and one
// delivery per target in one transaction, and delivers them in the
// background with retries and exponential backoff. A notice stored before
// a crash is delivered after the restart (at least once: receivers
// deduplicate on its key), and a dead target only delays its own queue,
// never a deploy.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Store is what the notifier needs from the store.
type Store interface {
	RecordNotice(ctx context.Context, n spacepods.Notice, targets []string) (spacepods.Notice, bool, error)
	ClaimNoticeDelivery(ctx context.Context) (spacepods.NoticeDelivery, spacepods.Notice, bool, error)
	FinishNoticeDelivery(ctx context.Context, id int64, state, result, errText string) error
	RetryNoticeDelivery(ctx context.Context, id int64, errText string, at time.Time) error
	RequeueNoticeDeliveries(ctx context.Context) (int, error)
}

// Sender delivers notices to the targets of one type (the part of a
// target before the colon). Its error is retried, unless Permanent.
type Sender interface {
	Send(ctx context.Context, target string, n spacepods.Notice, d spacepods.NoticeDelivery) (result string, err error)
}

// permanent marks an error that a retry would not fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err so that the delivery is not retried (a target that
// does not exist, a payload the receiver refuses for good).
func Permanent(err error) error { return permanent{err} }

// IsPermanent reports whether err was wrapped by Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// Defaults.
const (
	DefaultMaxAttempts = 8
	DefaultWorkers     = 4
	DefaultSendTimeout = 10 * time.Second
)

// Service is the notifier: a spacepods.Notifier and its delivery worker.
type Service struct {
	Store Store
	// Route returns a notice's targets ("slack:#deploys", "webhook:ops",
	// "slack-dm:alice"); nil or none: the notice is stored, delivered to
	// nobody.
	Route func(ctx context.Context, n spacepods.Notice) []string
	// Senders by target type ("slack", "slack-dm", "webhook").
	Senders map[string]Sender
	Logger  *slog.Logger
	// Backoff is the wait before attempt n+1 after attempt n failed;
	// default 2 s doubling, at most 10 minutes.
	Backoff     func(attempt int) time.Duration
	MaxAttempts int           // default DefaultMaxAttempts
	Workers     int           // deliveries sent at once (to different targets); default DefaultWorkers
	SendTimeout time.Duration // per attempt; default DefaultSendTimeout
	// Now is the clock of retries; nil: time.Now.
	Now func() time.Time

	once sync.Once
	wake chan struct{}
}

var _ spacepods.Notifier = (*Service)(nil)

func (s *Service) init() { s.once.Do(func() { s.wake = make(chan struct{}, 1) }) }

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// DefaultBackoff is 2 s doubling per attempt, at most 10 minutes.
func DefaultBackoff(attempt int) time.Duration {
	d := 2 * time.Second
	for i := 1; i < attempt && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}

// Notify routes and stores a notice and wakes the worker. It does not
// send anything, and logs (never returns) a store failure: a notice must
// not fail the deploy it tells about.
func (s *Service) Notify(ctx context.Context, n spacepods.Notice) {
	s.init()
	if _, err := s.Record(ctx, n); err != nil {
		s.logger().Error("record notice", "kind", n.Kind, "subject", n.Subject, "err", err)
	}
}

// Record routes and stores a notice, returning it as stored (with its ID
// and key); a notice whose key is stored already is returned as it was.
func (s *Service) Record(ctx context.Context, n spacepods.Notice) (spacepods.Notice, error) {
	s.init()
	if n.Kind == "" {
		return n, spacepods.Errorf(spacepods.EINVALID, "a notice needs a kind")
	}
	var targets []string
	if s.Route != nil {
		targets = s.Route(ctx, n)
	}
	stored, created, err := s.Store.RecordNotice(ctx, n, targets)
	if err != nil {
		return stored, err
	}
	if created && len(targets) > 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return stored, nil
}

// Run delivers until ctx ends: first what a stopped server left, then
// each notice as it is recorded, and retries as they come due.
func (s *Service) Run(ctx context.Context) {
	s.init()
	log := s.logger()
	if n, err := s.Store.RequeueNoticeDeliveries(ctx); err != nil {
		log.Error("requeue interrupted notice deliveries", "err", err)
	} else if n > 0 {
		log.Info("delivering notices a stopped server left", "deliveries", n)
	}
	workers := s.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	// Each worker claims one delivery at a time; the store keeps one
	// target's deliveries in order, so workers only ever send to
	// different targets at once, and a slow target holds up one worker.
	kick := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { s.work(ctx, kick) })
	}
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-s.wake:
		case <-time.After(time.Second): // retries coming due
		}
		for range workers {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}
}

func (s *Service) work(ctx context.Context, kick <-chan struct{}) {
	pause := time.Second
	for {
		worked, err := s.DeliverNext(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.logger().Error("notice delivery worker", "err", err, "retry_in", pause)
			pause = min(pause*2, 30*time.Second)
		case worked:
			pause = time.Second
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-time.After(pause):
		}
	}
}

// DeliverNext sends the next due delivery, if any, and reports whether
// there was one. Its error is the store's: a target's failure is recorded
// on the delivery.
func (s *Service) DeliverNext(ctx context.Context) (bool, error) {
	d, n, ok, err := s.Store.ClaimNoticeDelivery(ctx)
	if err != nil || !ok {
		return false, err
	}
	result, serr := s.send(ctx, n, d)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	log := s.logger().With("notice", n.ID, "kind", n.Kind, "target", d.Target, "attempt", d.Attempts)
	if serr == nil {
		log.Debug("notice delivered", "result", result)
		return true, s.Store.FinishNoticeDelivery(fctx, d.ID, spacepods.NoticeSent, result, "")
	}
	if ctx.Err() != nil {
		// Stopping: the next start requeues it.
		return true, nil
	}
	maxAttempts := s.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	if IsPermanent(serr) || d.Attempts >= maxAttempts {
		log.Warn("notice delivery gave up", "err", serr)
		return true, s.Store.FinishNoticeDelivery(fctx, d.ID, spacepods.NoticeDead, result,
			fmt.Sprintf("%v (attempt %d of %d; not retried)", serr, d.Attempts, maxAttempts))
	}
	backoff := s.Backoff
	if backoff == nil {
		backoff = DefaultBackoff
	}
	wait := backoff(d.Attempts)
	log.Info("notice delivery will be retried", "err", serr, "retry_in", wait)
	return true, s.Store.RetryNoticeDelivery(fctx, d.ID, fmt.Sprintf("%v (attempt %d of %d; next in %s)", serr, d.Attempts, maxAttempts, wait), s.now().Add(wait))
}

func (s *Service) send(ctx context.Context, n spacepods.Notice, d spacepods.NoticeDelivery) (string, error) {
	typ, name, ok := strings.Cut(d.Target, ":")
	sender := s.Senders[typ]
	if !ok || sender == nil {
		return "", Permanent(fmt.Errorf("no sender for target %q (targets are slack:#CHANNEL, slack-dm:USER or webhook:NAME, and that kind must be configured)", d.Target))
	}
	timeout := s.SendTimeout
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return sender.Send(sctx, name, n, d)
}
