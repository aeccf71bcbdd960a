package forge_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// recorder is a forge.Handler that records the events it gets.
type recorder struct {
	mu     sync.Mutex
	events []forge.Event
	fail   error
}

func (r *recorder) HandleEvent(_ context.Context, ev forge.Event) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	if r.fail != nil {
		return "tried", r.fail
	}
	return fmt.Sprintf("recorded %s %s", ev.Kind, ev.Action), nil
}

func (r *recorder) got() []forge.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]forge.Event(nil), r.events...)
}

// headForge answers PullRequest with a fixed head; the other methods are
// not called by the receiver.
type headForge struct {
	forge.Forge
	head  string
	calls int
}

func (f *headForge) PullRequest(_ context.Context, repo string, n int) (forge.PullRequest, error) {
	f.calls++
	return forge.PullRequest{Repo: repo, Number: n, HeadSHA: f.head}, nil
}

const secret = "hook-secret"

func delivery(id, event, body string) (http.Header, []byte) {
	h := http.Header{}
	h.Set("X-GitHub-Delivery", id)
	h.Set("X-GitHub-Event", event)
	h.Set("X-Hub-Signature-256", "sha256="+forge.Sign([]byte(secret), []byte(body)))
	return h, []byte(body)
}

func newReceiver(st *store.Store, rec *recorder) *forge.Receiver {
	var hs []forge.Handler
	if rec != nil {
		hs = append(hs, rec)
	}
	return &forge.Receiver{Secret: []byte(secret), Store: st, Handlers: hs,
		Apps: func(_ context.Context, repo string) ([]string, error) {
			if repo == "acme/catalog-api" {
				return []string{"catalog-api"}, nil
			}
			return nil, nil
		}}
}

// drain processes every pending delivery.
func drain(t *testing.T, r *forge.Receiver) {
	t.Helper()
	for {
		ok, err := r.ProcessNext(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
	}
}

func deliveryByID(t *testing.T, st *store.Store, id string) spacepods.ForgeDelivery {
	t.Helper()
	d, err := st.Delivery(context.Background(), 0, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestReceiver_StoresThenDispatchesAndReplayIsNoOp(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		rec := &recorder{}
		r := newReceiver(st, rec)
		h, body := delivery("d-1", "pull_request", ghLabeled)
		d, queued, err := r.Receive(ctx, h, body)
		if err != nil || !queued {
			t.Fatalf("receive: %v queued=%v", err, queued)
		}
		if d.State != spacepods.DeliveryPending || d.Repo != "acme/catalog-api" || d.Action != "labeled" || d.PR != 8 {
			t.Fatalf("stored %+v", d)
		}
		if len(rec.got()) != 0 {
			t.Fatal("dispatched before the worker ran")
		}
		drain(t, r)
		evs := rec.got()
		if len(evs) != 1 || evs[0].Kind != forge.EventPullRequest || evs[0].Action != "labeled" || evs[0].Label != "preview" || evs[0].DeliveryID != "d-1" {
			t.Fatalf("dispatched %+v", evs)
		}
		got := deliveryByID(t, st, "d-1")
		if got.State != spacepods.DeliveryDone || got.Result != "recorded pull_request labeled" || got.FinishedAt == nil || got.Attempts != 1 {
			t.Fatalf("logged %+v", got)
		}
		// The forge sends it again (a retry, or an attacker replaying it).
		if _, queued, err := r.Receive(ctx, h, body); err != nil || queued {
			t.Fatalf("replay: %v queued=%v", err, queued)
		}
		drain(t, r)
		if n := len(rec.got()); n != 1 {
			t.Fatalf("replay dispatched again: %d events", n)
		}
	})
}

func TestReceiver_BadSignatureIsRefusedAndNotStored(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	r := newReceiver(st, &recorder{})
	h, body := delivery("d-bad", "push", ghPush)
	h.Set("X-Hub-Signature-256", "sha256="+forge.Sign([]byte("wrong"), body))
	if _, _, err := r.Receive(context.Background(), h, body); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Fatalf("%v, want EUNAUTHORIZED", err)
	}
	h.Del("X-Hub-Signature-256")
	if _, _, err := r.Receive(context.Background(), h, body); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
		t.Fatalf("unsigned: %v, want EUNAUTHORIZED", err)
	}
	if _, err := st.Delivery(context.Background(), 0, "d-bad"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("a refused delivery was stored: %v", err)
	}
}

func TestReceiver_IgnoresWithAReason(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	rec := &recorder{}
	r := newReceiver(st, rec)
	ctx := context.Background()
	cases := []struct{ id, event, body, result string }{
		{"unknown-repo", "push", strings.Replace(ghPush, "acme/catalog-api", "acme/other", 1), "ignored: no app's manifest has repo: acme/other"},
		{"assigned", "pull_request", strings.Replace(ghLabeled, `"labeled"`, `"assigned"`, 1), `ignored: pull request action "assigned" is not acted on`},
		{"issue-comment", "issue_comment", strings.Replace(ghComment, `,"pull_request":{"url":"u"}`, "", 1), "ignored: a comment on an issue, not on a pull request"},
		{"star", "star", `{"action":"created","repository":{"full_name":"acme/catalog-api"}}`, `ignored: "star" events are not acted on`},
		{"ping", "ping", `{"zen":"hi","hook_id":1}`, "pong: the webhook reaches Spacepods and its secret matches"},
	}
	for _, c := range cases {
		h, body := delivery(c.id, c.event, c.body)
		if _, _, err := r.Receive(ctx, h, body); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, r)
	if evs := rec.got(); len(evs) != 0 {
		t.Fatalf("handlers got ignored events: %+v", evs)
	}
	for _, c := range cases {
		d := deliveryByID(t, st, c.id)
		if !strings.HasPrefix(d.Result, c.result) {
			t.Errorf("%s: result %q, want %q…", c.id, d.Result, c.result)
		}
	}
}

func TestReceiver_FailedDeliveryIsKeptAndRedeliveryRetriesIt(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	rec := &recorder{fail: errors.New("the pod could not be created")}
	r := newReceiver(st, rec)
	ctx := context.Background()
	h, body := delivery("d-f", "push", ghPush)
	if _, _, err := r.Receive(ctx, h, body); err != nil {
		t.Fatal(err)
	}
	drain(t, r)
	d := deliveryByID(t, st, "d-f")
	if d.State != spacepods.DeliveryFailed || d.Error != "the pod could not be created" || d.Result != "tried" {
		t.Fatalf("%+v", d)
	}
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	// The forge's "redeliver" sends the same delivery ID.
	if _, queued, err := r.Receive(ctx, h, body); err != nil || !queued {
		t.Fatalf("redelivery of a failed delivery: %v queued=%v", err, queued)
	}
	drain(t, r)
	d = deliveryByID(t, st, "d-f")
	if d.State != spacepods.DeliveryDone || d.Error != "" || d.Attempts != 2 || len(rec.got()) != 2 {
		t.Fatalf("%+v after %d events", d, len(rec.got()))
	}
}

// A server that answered 2xx and died before (or while) processing loses
// nothing: the next server's worker processes what is stored.
func TestReceiver_ProcessesWhatAStoppedServerLeft(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		first := newReceiver(st, &recorder{})
		for _, id := range []string{"a", "b"} {
			h, body := delivery("left-"+id, "push", ghPush)
			if _, _, err := first.Receive(ctx, h, body); err != nil {
				t.Fatal(err)
			}
		}
		// The first server claimed one and died mid-way.
		if _, ok, err := st.ClaimDelivery(ctx); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		rec := &recorder{}
		second := newReceiver(st, rec)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { second.Run(runCtx); close(done) }()
		defer func() { cancel(); <-done }()
		// The handler returns before the worker records the result: wait
		// for the records, then check that each was handled once.
		waitFor(t, func() bool {
			return deliveryByID(t, st, "left-a").State == spacepods.DeliveryDone && deliveryByID(t, st, "left-b").State == spacepods.DeliveryDone
		})
		if n := len(rec.got()); n != 2 {
			t.Errorf("handled %d events, want 2 (one per stored delivery)", n)
		}
	})
}

func TestReceiver_DropsAnEventForAnOlderHead(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	rec := &recorder{}
	r := newReceiver(st, rec)
	fake := &headForge{head: strings.Repeat("b", 40)}
	r.Forge = fake
	ctx := context.Background()
	headA, headB := strings.Repeat("a", 40), strings.Repeat("b", 40)
	syncBody := func(head string) string { return strings.Replace(giteaSync, strings.Repeat("d", 40), head, 1) }
	// B (the newer push) arrives first; A's event arrives late.
	for _, d := range []struct{ id, head string }{{"sync-b", headB}, {"sync-a", headA}} {
		h, body := delivery(d.id, "pull_request", syncBody(d.head))
		if _, _, err := r.Receive(ctx, h, body); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, r)
	evs := rec.got()
	if len(evs) != 1 || evs[0].PR.HeadSHA != headB {
		t.Fatalf("dispatched %+v", evs)
	}
	if d := deliveryByID(t, st, "sync-a"); d.State != spacepods.DeliveryIgnored || !strings.Contains(d.Result, "out of order") {
		t.Fatalf("late event: %+v", d)
	}
	if fake.calls != 1 {
		t.Fatalf("asked the forge %d times, want once (only when the head changed)", fake.calls)
	}
	// Closing is acted on whatever head the event names.
	h, body := delivery("close-a", "pull_request", strings.Replace(syncBody(headA), `"synchronized"`, `"closed"`, 1))
	if _, _, err := r.Receive(ctx, h, body); err != nil {
		t.Fatal(err)
	}
	drain(t, r)
	if evs := rec.got(); len(evs) != 2 || evs[1].Action != "closed" {
		t.Fatalf("closed not dispatched: %+v", evs)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// flaky fails with EUNAVAILABLE (an outside system did not answer) its
// first failures calls.
type flaky struct {
	recorder
	failures int
}

func (f *flaky) HandleEvent(ctx context.Context, ev forge.Event) (string, error) {
	f.mu.Lock()
	fail := f.failures > 0
	f.failures--
	f.mu.Unlock()
	if fail {
		return "", spacepods.Errorf(spacepods.EUNAVAILABLE, "the builder did not answer")
	}
	return f.recorder.HandleEvent(ctx, ev)
}

func TestReceiver_PassingFailuresAreRetriedThenLeftFailed(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		h := &flaky{failures: 2}
		r := newReceiver(st, nil)
		r.Handlers = []forge.Handler{h}
		r.RetryBackoff = func(int) time.Duration { return 0 }
		hd, body := delivery("flaky-1", "push", ghPush)
		if _, _, err := r.Receive(ctx, hd, body); err != nil {
			t.Fatal(err)
		}
		drain(t, r)
		d := deliveryByID(t, st, "flaky-1")
		if d.State != spacepods.DeliveryDone || d.Attempts != 3 || d.Error != "" || len(h.got()) != 1 {
			t.Fatalf("%+v after %d events", d, len(h.got()))
		}
		// One that never comes back is left failed after MaxAttempts.
		h.mu.Lock()
		h.failures = 100
		h.mu.Unlock()
		hd, body = delivery("flaky-2", "push", ghPush)
		if _, _, err := r.Receive(ctx, hd, body); err != nil {
			t.Fatal(err)
		}
		drain(t, r)
		d = deliveryByID(t, st, "flaky-2")
		if d.State != spacepods.DeliveryFailed || d.Attempts != forge.MaxAttempts || d.Error != "the builder did not answer" {
			t.Fatalf("%+v", d)
		}
		// A retry waits for its time.
		r.RetryBackoff = func(int) time.Duration { return time.Hour }
		hd, body = delivery("flaky-3", "push", ghPush)
		if _, _, err := r.Receive(ctx, hd, body); err != nil {
			t.Fatal(err)
		}
		drain(t, r)
		d = deliveryByID(t, st, "flaky-3")
		if d.State != spacepods.DeliveryPending || d.Attempts != 1 || !strings.Contains(d.Error, "attempt 1 of 5; trying again in 1h0m0s") {
			t.Fatalf("%+v", d)
		}
	})
}
