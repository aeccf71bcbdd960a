package router

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The control plane's side of a wake, through the control API: poll, route
// the app awake, report.
func TestSleep_HeldRequestsShareOneWakeAndAreForwarded(t *testing.T) {
	r, front := mustNewRouter(t, testOptions(t))
	api := NewClient(mustControl(t, r, "tok").URL, "tok")
	b := newBackend(t, "web")
	ctx := context.Background()
	if err := api.SetGroup(ctx, "alice", "web", GroupSpec{HealthPath: "/healthz", Asleep: true}); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t)
	const n = 20
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = send(t, c, front, "GET", "web.alice.localhost", "/x", "") })
	}
	wakes, err := api.WaitWakes(ctx, 0, 5*time.Second)
	if err != nil || len(wakes) != 1 {
		t.Fatalf("wait wakes: %v %+v, want one request", err, wakes)
	}
	w := wakes[0]
	if w.Environment != "alice" || w.App != "web" || w.Host != "web.alice.localhost" {
		t.Fatalf("wake request %+v", w)
	}
	// Every request is held on that one wake before it is answered.
	waitFor(t, 5*time.Second, "20 held requests", func() bool {
		ws, _ := r.wakes.after(0)
		return len(ws) == 1 && ws[0].Held == n
	})
	if more, _ := api.WaitWakes(ctx, w.Seq, 50*time.Millisecond); len(more) != 0 {
		t.Fatalf("a second wake was opened: %+v", more)
	}
	if err := api.SetGroup(ctx, "alice", "web", GroupSpec{HealthPath: "/healthz", Targets: []TargetSpec{{Addr: b.addr, Weight: 1}}}); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, r, "alice", "web", b.addr)
	if err := api.FinishWake(ctx, "alice", "web", ""); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, res := range results {
		if res.status != http.StatusOK || res.body != "web" {
			t.Fatalf("request %d: %d %q", i, res.status, res.body)
		}
	}
	if b.hits.Load() != n {
		t.Fatalf("backend got %d requests, want %d", b.hits.Load(), n)
	}
	act, err := api.Activity(ctx)
	if err != nil || len(act) != 1 || act[0].LastRequest == nil || time.Since(*act[0].LastRequest) > time.Minute || act[0].Asleep {
		t.Fatalf("activity: %v %+v", err, act)
	}
}

func TestSleep_FailedWakeAnswersWithAPageNamingTheApp(t *testing.T) {
	r, front := mustNewRouter(t, testOptions(t))
	mustSetGroup(t, r, "bob", "shop", GroupSpec{Asleep: true})
	go func() {
		ws := r.WaitWakes(context.Background(), 0, 5*time.Second)
		if len(ws) == 1 {
			r.FinishWake("bob", "shop", "shop-r3: image gone")
		}
	}()
	res := send(t, newTestClient(t), front, "GET", "shop.bob.localhost", "/", "", "Accept", "text/html")
	if res.status != http.StatusServiceUnavailable || res.header.Get(ErrorHeader) != ReasonWakeFailed {
		t.Fatalf("got %d %q", res.status, res.header.Get(ErrorHeader))
	}
	for _, want := range []string{"shop", "bob", "could not be woken", "shop-r3: image gone", "spacepods pod wake bob"} {
		if !strings.Contains(res.body, want) {
			t.Fatalf("page lacks %q:\n%s", want, res.body)
		}
	}
}

func TestSleep_WakeTimesOutWithoutAControlPlane(t *testing.T) {
	opts := testOptions(t)
	opts.WakeTimeout = 200 * time.Millisecond
	r, front := mustNewRouter(t, opts)
	mustSetGroup(t, r, "bob", "shop", GroupSpec{Asleep: true})
	res := send(t, newTestClient(t), front, "GET", "shop.bob.localhost", "/", "")
	if res.status != http.StatusServiceUnavailable || !strings.Contains(res.body, "did not wake it within 200ms") {
		t.Fatalf("got %d %q", res.status, res.body)
	}
}

func TestSleep_AsleepSurvivesARouterRestart(t *testing.T) {
	opts := testOptions(t)
	opts.SnapshotPath = filepath.Join(t.TempDir(), "routes.json")
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mustSetGroup(t, r, "bob", "shop", GroupSpec{HealthPath: "/healthz", Asleep: true})
	r.Close()
	r2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if st := mustStats(t, r2, "bob", "shop"); !st.Asleep {
		t.Fatalf("restored group is awake: %+v", st)
	}
}

// A control plane keeps polling with the last number it saw: a restarted
// router's requests must come after it.
func TestSleep_WakeNumbersGrowAcrossRouterRestarts(t *testing.T) {
	c := newTestClient(t)
	var seen uint64
	for i := range 2 { // the second router stands for the first one restarted
		r, front := mustNewRouter(t, testOptions(t))
		mustSetGroup(t, r, "bob", "shop", GroupSpec{Asleep: true})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = trySend(c, front.URL, "GET", "shop.bob.localhost", "/", "")
		}()
		ws := r.WaitWakes(context.Background(), seen, 5*time.Second)
		if len(ws) != 1 {
			t.Fatalf("router %d: no wake request after seq %d: %+v", i+1, seen, ws)
		}
		seen = ws[0].Seq
		r.FinishWake("bob", "shop", "test over")
		<-done
	}
}
