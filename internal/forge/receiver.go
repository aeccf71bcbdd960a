package forge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// DeliveryStore is what the receiver needs from the store.
type DeliveryStore interface {
	InsertDelivery(ctx context.Context, d spacepods.ForgeDelivery) (spacepods.ForgeDelivery, bool, error)
	ClaimDelivery(ctx context.Context) (spacepods.ForgeDelivery, bool, error)
	FinishDelivery(ctx context.Context, id int64, state, result, errText string) error
	RetryDelivery(ctx context.Context, id int64, result, errText string, at time.Time) error
	RequeueDeliveries(ctx context.Context) (int, error)
	PRHead(ctx context.Context, repo string, number int) (string, error)
	SetPRHead(ctx context.Context, repo string, number int, sha string) error
}

// Receiver takes webhook deliveries: it verifies them, stores them (one row
// per delivery ID) and answers at once; its worker (Run) then parses each
// stored delivery into an Event and hands it to every Handler, recording
// in the delivery log what they did. A delivery stored before a crash is
// processed after the restart.
type Receiver struct {
	// Secret is the webhook secret shared with the forge.
	Secret []byte
	Store  DeliveryStore
	// Forge answers "what is this pull request's head now?" when an event
	// comes for another head than the last one acted on. Nil: events are
	// taken in their order of receipt.
	Forge Forge
	// Apps lists the apps whose manifest names repo ("owner/name"): events
	// of repositories no app names are ignored, with that reason.
	Apps     func(ctx context.Context, repo string) ([]string, error)
	Handlers []Handler
	Logger   *slog.Logger
	// RetryBackoff is how long a delivery that failed for a passing reason
	// (EUNAVAILABLE: the forge or another outside system did not answer)
	// waits before its next attempt; default 10 s doubling per attempt. After
	// MaxAttempts it stays failed (a redelivery from the forge tries again).
	RetryBackoff func(attempt int) time.Duration

	mu   sync.Mutex
	wake chan struct{}
}

// MaxAttempts is how many times a delivery is processed before a passing
// failure is left failed.
const MaxAttempts = 5

// MaxPayloadBytes bounds a delivery's body (GitHub caps payloads at 25 MB,
// but the events Spacepods handles are far smaller).
const MaxPayloadBytes = 5 << 20

// Receive verifies and stores one delivery, and wakes the worker. It
// returns the stored delivery and whether it is new work (false for a
// replay of a delivery already stored, which changes nothing).
// EUNAUTHORIZED for a missing or bad signature, EINVALID for a request that
// is no webhook delivery.
func (r *Receiver) Receive(ctx context.Context, h http.Header, body []byte) (spacepods.ForgeDelivery, bool, error) {
	dh, err := ReadHeaders(h)
	if err != nil {
		return spacepods.ForgeDelivery{}, false, err
	}
	if err := VerifySignature(r.Secret, body, dh.Signature); err != nil {
		return spacepods.ForgeDelivery{}, false, err
	}
	if !utf8.Valid(body) {
		return spacepods.ForgeDelivery{}, false, spacepods.Errorf(spacepods.EINVALID, "the delivery's body is not UTF-8 JSON: set the webhook's content type to application/json on the forge")
	}
	d := spacepods.ForgeDelivery{DeliveryID: dh.ID, Event: dh.Event, Payload: body}
	// The log's columns come from the payload now; a payload that does not
	// parse is still stored, and fails in the worker with the reason.
	if ev, err := ParseEvent(dh, body); err == nil {
		d.Action, d.Repo = ev.Action, ev.Repo
		if ev.PR != nil {
			d.PR = ev.PR.Number
		}
	}
	stored, queued, err := r.Store.InsertDelivery(ctx, d)
	if err != nil {
		return stored, false, err
	}
	if queued {
		r.notify()
	}
	return stored, queued, nil
}

func (r *Receiver) wakeChan() chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
	}
	return r.wake
}

func (r *Receiver) notify() {
	select {
	case r.wakeChan() <- struct{}{}:
	default:
	}
}

// Run processes stored deliveries until ctx ends: first those a stopped
// server left, then each new one as Receive stores it. Store errors are
// retried after a pause (1 s, doubling up to 30 s).
func (r *Receiver) Run(ctx context.Context) {
	log := r.logger()
	if n, err := r.Store.RequeueDeliveries(ctx); err != nil {
		log.Error("requeue interrupted deliveries", "err", err)
	} else if n > 0 {
		log.Info("processing deliveries a stopped server left", "deliveries", n)
	}
	wake := r.wakeChan()
	pause := time.Second
	for {
		worked, err := r.ProcessNext(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Error("forge delivery worker", "err", err, "retry_in", pause)
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			pause = min(pause*2, 30*time.Second)
			continue
		case worked:
			pause = time.Second
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-time.After(5 * time.Second): // retries coming due, and deliveries stored by another server
		}
	}
}

// ProcessNext processes the oldest pending delivery, if any, and reports
// whether there was one. Its error is the store's: what a handler or the
// forge fails with is recorded on the delivery.
func (r *Receiver) ProcessNext(ctx context.Context) (bool, error) {
	d, ok, err := r.Store.ClaimDelivery(ctx)
	if err != nil || !ok {
		return false, err
	}
	state, result, perr := r.process(ctx, d)
	errText := ""
	if perr != nil {
		state, errText = spacepods.DeliveryFailed, perr.Error()
		if msg := spacepods.ErrorMessage(perr); spacepods.ErrorCode(perr) != spacepods.EINTERNAL {
			errText = msg
		}
	}
	// A cancelled ctx must not leave the delivery "processing" forever: the
	// next start requeues it anyway, but record what is known now.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if perr != nil && spacepods.ErrorCode(perr) == spacepods.EUNAVAILABLE && d.Attempts < MaxAttempts {
		wait := r.backoff(d.Attempts)
		errText = fmt.Sprintf("%s (attempt %d of %d; trying again in %s)", errText, d.Attempts, MaxAttempts, wait)
		r.logger().Warn("forge delivery will be retried", "delivery", d.DeliveryID, "event", d.Event, "repo", d.Repo, "err", errText)
		return true, r.Store.RetryDelivery(fctx, d.ID, result, errText, time.Now().Add(wait))
	}
	r.logger().Info("forge delivery", "delivery", d.DeliveryID, "event", d.Event, "action", d.Action, "repo", d.Repo, "state", state, "result", result, "err", errText)
	return true, r.Store.FinishDelivery(fctx, d.ID, state, result, errText)
}

// handledActions are the pull request actions handed to handlers.
var handledActions = map[string]bool{"opened": true, "reopened": true, "synchronize": true, "closed": true, "labeled": true, "unlabeled": true, "edited": true, "ready_for_review": true, "converted_to_draft": true}

// process decides what one delivery triggers: the state, the log's result
// line, and an error when something failed.
func (r *Receiver) process(ctx context.Context, d spacepods.ForgeDelivery) (string, string, error) {
	ev, err := ParseEvent(DeliveryHeaders{ID: d.DeliveryID, Event: d.Event}, d.Payload)
	if err != nil {
		return spacepods.DeliveryFailed, "", err
	}
	ev.Received = d.ReceivedAt
	switch ev.Kind {
	case EventPing:
		return spacepods.DeliveryDone, "pong: the webhook reaches Spacepods and its secret matches", nil
	case EventPush:
		if ev.After == zeroSHA {
			return spacepods.DeliveryIgnored, "ignored: " + ev.Ref + " was deleted", nil
		}
	case EventPullRequest:
		if !handledActions[ev.Action] {
			return spacepods.DeliveryIgnored, fmt.Sprintf("ignored: pull request action %q is not acted on", ev.Action), nil
		}
	case EventComment:
		if ev.Action != "created" {
			return spacepods.DeliveryIgnored, fmt.Sprintf("ignored: comment action %q (only new comments carry commands)", ev.Action), nil
		}
		if ev.PR == nil {
			return spacepods.DeliveryIgnored, "ignored: a comment on an issue, not on a pull request", nil
		}
	default:
		return spacepods.DeliveryIgnored, fmt.Sprintf("ignored: %q events are not acted on (configure the webhook to send push, pull request and issue comment events)", ev.Kind), nil
	}
	if r.Apps != nil {
		apps, err := r.Apps(ctx, ev.Repo)
		if err != nil {
			return "", "", fmt.Errorf("find the apps of %s: %w", ev.Repo, err)
		}
		if len(apps) == 0 {
			return spacepods.DeliveryIgnored, fmt.Sprintf("ignored: no app's manifest has repo: %s", ev.Repo), nil
		}
	}
	if stale, why, err := r.staleHead(ctx, ev); err != nil {
		return "", "", err
	} else if stale {
		return spacepods.DeliveryIgnored, "ignored: " + why, nil
	}
	var results []string
	var errs []error
	for _, h := range r.Handlers {
		sum, err := h.HandleEvent(ctx, ev)
		if sum != "" {
			results = append(results, sum)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return spacepods.DeliveryFailed, strings.Join(results, "; "), err
	}
	if ev.PR != nil && ev.PR.HeadSHA != "" {
		if err := r.Store.SetPRHead(ctx, ev.Repo, ev.PR.Number, ev.PR.HeadSHA); err != nil {
			return "", "", err
		}
	}
	if len(results) == 0 {
		return spacepods.DeliveryDone, "nothing to do", nil
	}
	return spacepods.DeliveryDone, strings.Join(results, "; "), nil
}

const zeroSHA = "0000000000000000000000000000000000000000"

// staleHead reports whether a pull request event is for an older head
// than the pull request's current one. Forges do not promise to deliver
// in order, so the order of receipt cannot say which of two heads is the
// newer; the forge can: when an event's head differs from the head of the
// last event acted on for that pull request, the forge is asked for the
// pull request's head now, and an event for any other head is stale (a
// newer event is on its way or was handled). Closing is never stale: a
// closed pull request's pod must go whatever its head.
func (r *Receiver) staleHead(ctx context.Context, ev Event) (bool, string, error) {
	if ev.Kind != EventPullRequest || ev.PR == nil || ev.PR.HeadSHA == "" || ev.Action == "closed" {
		return false, "", nil
	}
	last, err := r.Store.PRHead(ctx, ev.Repo, ev.PR.Number)
	if err != nil || last == "" || last == ev.PR.HeadSHA {
		return false, "", err
	}
	if r.Forge == nil {
		return false, "", nil
	}
	pr, err := r.Forge.PullRequest(ctx, ev.Repo, ev.PR.Number)
	if err != nil {
		return false, "", fmt.Errorf("ask the forge for %s#%d's head: %w", ev.Repo, ev.PR.Number, err)
	}
	if pr.HeadSHA != ev.PR.HeadSHA {
		return true, fmt.Sprintf("out of order: this event is for head %s, but %s#%d's head is now %s", short(ev.PR.HeadSHA), ev.Repo, ev.PR.Number, short(pr.HeadSHA)), nil
	}
	return false, "", nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func (r *Receiver) backoff(attempt int) time.Duration {
	if r.RetryBackoff != nil {
		return r.RetryBackoff(attempt)
	}
	return 10 * time.Second << min(attempt-1, 6)
}

func (r *Receiver) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}
