package router

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRouter_GaplessUnderChurn is the router's central promise (kamal-proxy's
// gapless test, CONVENTIONS.md item 12): while targets are added, re-weighted,
// set to weight 0 and removed, every request succeeds. Removed backends are
// closed only after the router has drained and dropped them, as the deploy
// engine does.
func TestRouter_GaplessUnderChurn(t *testing.T) {
	const (
		workers      = 8
		duration     = 3 * time.Second
		maxPerWorker = 20000
	)
	r, front := mustNewRouter(t, testOptions(t))

	live := []*backend{newBackend(t, "backend-0")}
	weights := map[*backend]int{live[0]: 1}
	set := func() {
		t.Helper()
		spec := GroupSpec{HealthPath: "/healthz"}
		for _, b := range live {
			spec.Targets = append(spec.Targets, TargetSpec{Addr: b.addr, Weight: weights[b]})
		}
		mustSetGroup(t, r, "alice", "web", spec)
	}
	set()
	waitHealthy(t, r, "alice", "web", live[0].addr)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		total    atomic.Int64
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newTestClient(t)
			for i := 0; i < maxPerWorker && ctx.Err() == nil; i++ {
				var res result
				var err error
				want := ""
				switch i % 4 {
				case 0, 1:
					res, err = trySend(c, front.URL, "GET", host, "/", "")
				case 2:
					want = fmt.Sprintf("worker %d request %d", w, i)
					res, err = trySend(c, front.URL, "POST", host, "/echo", want)
				case 3: // keeps requests in flight while targets are removed
					res, err = trySend(c, front.URL, "GET", host, "/sleep?ms=20", "")
				}
				total.Add(1)
				switch {
				case err != nil:
					fail("worker %d request %d: %v", w, i, err)
				case res.status != 200:
					fail("worker %d request %d: %d %s %q", w, i, res.status, res.header.Get(ErrorHeader), res.body)
				case want != "" && res.body != want:
					fail("worker %d request %d: echo %q, want %q", w, i, res.body, want)
				case want == "" && !strings.HasPrefix(res.body, "backend-"):
					fail("worker %d request %d: body %q", w, i, res.body)
				}
			}
		}()
	}

	rng := rand.New(rand.NewPCG(1, 2))
	deadline := time.Now().Add(duration)
	steps, removed := 0, 0
	for n := 1; time.Now().Before(deadline); n++ {
		nb := newBackend(t, fmt.Sprintf("backend-%d", n))
		live = append(live, nb)
		weights[nb] = 1 + rng.IntN(5)
		set()
		waitHealthy(t, r, "alice", "web", nb.addr)

		// Re-weight; one older target may go to weight 0 (drained by weight).
		for _, b := range live {
			weights[b] = 1 + rng.IntN(5)
		}
		if len(live) > 1 && rng.IntN(2) == 0 {
			weights[live[rng.IntN(len(live)-1)]] = 0
		}
		set()
		time.Sleep(50 * time.Millisecond)

		// Remove the oldest targets, waiting for each to drain before closing it.
		for len(live) > 2 {
			old := live[0]
			live = live[1:]
			delete(weights, old)
			set()
			waitDropped(t, r, "alice", "web", old.addr)
			old.close()
			removed++
		}
		steps++
	}
	cancel()
	wg.Wait()

	st := mustStats(t, r, "alice", "web")
	t.Logf("%d requests over %d churn steps (%d targets removed); group stats: requests=%d transport_errors=%d router_errors=%d",
		total.Load(), steps, removed, st.Requests, st.TransportErrors, st.RouterErrors)
	if len(failures) > 0 {
		t.Fatalf("%d+ requests failed during churn:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	if steps < 3 || removed < 2 || total.Load() < 200 {
		t.Fatalf("too little churn to prove anything: %d steps, %d removed, %d requests", steps, removed, total.Load())
	}
	if st.RouterErrors != 0 || st.TransportErrors != 0 || st.Responses5xx != 0 {
		t.Fatalf("errors counted during churn: %+v", st)
	}
}
