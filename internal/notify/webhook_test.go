package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/notify"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

var hookSecret = []byte("s3cret-for-tests")

// receiver is a webhook receiver that answers 503 to its first failFirst
// deliveries, verifies every signature, and records what it accepted.
type receiver struct {
	mu        sync.Mutex
	failFirst int
	seen      int
	badSigs   int
	attempts  []time.Time
	accepted  []notify.WebhookBody
	headers   []http.Header
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts = append(rc.attempts, time.Now())
	if err := notify.VerifyWebhook(hookSecret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		rc.badSigs++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	rc.seen++
	if rc.seen <= rc.failFirst {
		http.Error(w, "not yet", http.StatusServiceUnavailable)
		return
	}
	var b notify.WebhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.accepted = append(rc.accepted, b)
	rc.headers = append(rc.headers, r.Header.Clone())
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) got() []notify.WebhookBody {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]notify.WebhookBody(nil), rc.accepted...)
}

func webhookService(st *store.Store, url string, backoff time.Duration) *notify.Service {
	return &notify.Service{
		Store:   st,
		Route:   func(context.Context, spacepods.Notice) []string { return []string{"webhook:ops"} },
		Senders: map[string]notify.Sender{"webhook": &notify.WebhookSender{Hooks: map[string]notify.Webhook{"ops": {URL: url, Secret: hookSecret}}, PublicURL: "http://spacepods.test"}},
		Backoff: func(n int) time.Duration { return backoff << (n - 1) },
	}
}

// TestWebhook_RetriesInOrderSignedAndSurvivesARestart: a receiver that
// fails its first three deliveries gets every notice, in order, each
// attempt signed, after retries with growing waits; the server is
// restarted while a delivery waits for its retry, and the next one
// delivers it with the same idempotency key.
func TestWebhook_RetriesInOrderSignedAndSurvivesARestart(t *testing.T) {
	rc := &receiver{failFirst: 3}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	first := webhookService(st, srv.URL, 300*time.Millisecond)
	for i := 1; i <= 3; i++ {
		n := notice(i)
		n.URL = "/deploys/1"
		first.Notify(ctx, n)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { first.Run(rctx); close(done) }()
	// Two failed attempts of the first notice, then stop the server
	// while it waits for the third.
	waitFor(t, "two failed attempts", func() bool { rc.mu.Lock(); defer rc.mu.Unlock(); return rc.seen >= 2 })
	cancel()
	<-done
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rc.got(); len(got) != 0 {
		t.Fatalf("accepted %d before the restart", len(got))
	}

	st2, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	second := webhookService(st2, srv.URL, 100*time.Millisecond)
	rctx2, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	go second.Run(rctx2)
	waitFor(t, "all three accepted after the restart", func() bool { return len(rc.got()) == 3 })

	got := rc.got()
	for i, b := range got {
		if want := notice(i + 1).Key; b.Key != want {
			t.Errorf("delivery %d has key %q, want %q (order kept)", i, b.Key, want)
		}
		if b.Schema != notify.WebhookSchema || b.Kind != spacepods.NoticeDeployCompleted || b.App != "web" || b.URL != "http://spacepods.test/deploys/1" {
			t.Errorf("body %+v", b)
		}
		rc.mu.Lock()
		h := rc.headers[i]
		rc.mu.Unlock()
		if h.Get(notify.HeaderIdempotent) != b.Key || h.Get(notify.HeaderEvent) != b.Kind || h.Get(notify.HeaderDelivery) == "" {
			t.Errorf("headers %v", h)
		}
	}
	if got[0].Attempt != 4 {
		t.Errorf("first notice delivered at attempt %d, want 4 (three 503s, one across the restart)", got[0].Attempt)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.badSigs != 0 {
		t.Errorf("%d attempts had a bad signature", rc.badSigs)
	}
	// Backoff grows: the wait before attempt 2 is shorter than before attempt 3
	// (before: 300ms; after the restart the first wait is ≥ 100ms).
	if w1 := rc.attempts[1].Sub(rc.attempts[0]); w1 < 300*time.Millisecond {
		t.Errorf("first retry after %s, want ≥ 300ms", w1)
	}
	ds, err := st2.ListNoticeDeliveries(ctx, "webhook:ops", 0, 10)
	if err != nil || len(ds) != 3 || ds[2].State != spacepods.NoticeSent || ds[2].Attempts != 4 || !strings.HasPrefix(ds[2].Result, "204") {
		t.Errorf("delivery log: %+v %v", ds, err)
	}
}

func TestWebhook_HungTargetDoesNotSlowNotify(t *testing.T) {
	block := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	defer hung.Close()
	defer close(block)
	rc := &receiver{}
	ok := httptest.NewServer(rc)
	defer ok.Close()
	st, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := &notify.Service{
		Store: st,
		Route: func(context.Context, spacepods.Notice) []string { return []string{"webhook:hung", "webhook:ok"} },
		Senders: map[string]notify.Sender{"webhook": &notify.WebhookSender{Hooks: map[string]notify.Webhook{
			"hung": {URL: hung.URL, Secret: hookSecret}, "ok": {URL: ok.URL, Secret: hookSecret}}}},
		SendTimeout: 500 * time.Millisecond, Backoff: func(int) time.Duration { return time.Hour },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.Run(ctx)
	start := time.Now()
	for i := 1; i <= 5; i++ {
		svc.Notify(ctx, notice(i))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("5 Notify calls took %s with a hung target", d)
	}
	waitFor(t, "the live target gets all five", func() bool { return len(rc.got()) == 5 })
	// The hung target's first attempt times out and waits for its retry;
	// the later notices to it wait behind it (order per target).
	waitFor(t, "the hung target's first attempt to time out", func() bool {
		ds, _ := st.ListNoticeDeliveries(ctx, "webhook:hung", 0, 10)
		return len(ds) == 5 && ds[4].Attempts == 1 && strings.Contains(ds[4].LastError, "deadline")
	})
	ds, _ := st.ListNoticeDeliveries(ctx, "webhook:hung", 0, 10)
	for _, d := range ds[:4] {
		if d.Attempts != 0 || d.State != spacepods.NoticePending {
			t.Errorf("a later delivery to the hung target was tried before the first: %+v", d)
		}
	}
}

func TestVerifyWebhook_RefusesBadAndStaleSignatures(t *testing.T) {
	body := []byte(`{"schema":"spacepods.notice/v1"}`)
	now := time.Now()
	sign := func(at time.Time, secret []byte) http.Header {
		h := http.Header{}
		sec := at.Unix()
		h.Set(notify.HeaderTimestamp, itoa(sec))
		h.Set(notify.HeaderSignature, notify.Sign(secret, itoa(sec), body))
		return h
	}
	if err := notify.VerifyWebhook(hookSecret, sign(now, hookSecret), body, now, 5*time.Minute); err != nil {
		t.Errorf("valid: %v", err)
	}
	if err := notify.VerifyWebhook(hookSecret, sign(now, []byte("other")), body, now, 5*time.Minute); err == nil {
		t.Error("wrong secret accepted")
	}
	if err := notify.VerifyWebhook(hookSecret, sign(now.Add(-6*time.Minute), hookSecret), body, now, 5*time.Minute); err == nil {
		t.Error("stale accepted")
	}
	if err := notify.VerifyWebhook(hookSecret, sign(now, hookSecret), append(body, ' '), now, 5*time.Minute); err == nil {
		t.Error("changed body accepted")
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }
