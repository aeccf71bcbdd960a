// Command notifybench measures what notifying costs the code that
// notifies (a deploy step): Notify (route, then store the notice and one
// delivery per target in one transaction) against a baseline measured in
// the same run and store (AddEvent, the one-row insert every deploy step
// already makes), with two webhook targets of which one never answers;
// and how long a notice takes from Notify to the live webhook receiver
// while the other target hangs.
//
//	go run ./bench/notifybench [-n 300] [-postgres URL]
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/spacepods/spacepods/internal/notify"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

func main() {
	pg := flag.String("postgres", os.Getenv("SPACEPODS_TEST_POSTGRES"), "admin URL of a PostgreSQL server (a fresh database is made on it); empty = SQLite only")
	n := flag.Int("n", 300, "samples per operation")
	flag.Parse()
	fmt.Printf("notification benchmark: %d samples per operation; targets: one live webhook, one that never answers\n\n", *n)
	fmt.Printf("%-9s %-44s %10s %10s\n", "store", "operation", "p50", "p99")
	tmp, err := os.MkdirTemp("", "notifybench")
	check(err)
	defer func() { _ = os.RemoveAll(tmp) }() // best-effort cleanup; nothing useful to do on failure
	st, err := store.Open(context.Background(), "", tmp)
	check(err)
	run("sqlite", st, *n)
	_ = st.Close()
	if *pg != "" {
		u, drop := createDatabase(*pg)
		defer drop()
		st, err := store.Open(context.Background(), u, "")
		check(err)
		run("postgres", st, *n)
		_ = st.Close()
	} else {
		fmt.Println("postgres  skipped: pass -postgres URL")
	}
}

func run(name string, st *store.Store, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hang := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-hang }))
	defer hung.Close()
	defer close(hang)
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		arrived[r.Header.Get(notify.HeaderIdempotent)] = time.Now()
		mu.Unlock()
	}))
	defer live.Close()
	secret := []byte("bench")
	svc := &notify.Service{
		Store: st, Logger: slog.New(slog.DiscardHandler),
		Route: func(context.Context, spacepods.Notice) []string { return []string{"webhook:hung", "webhook:live"} },
		Senders: map[string]notify.Sender{"webhook": &notify.WebhookSender{Hooks: map[string]notify.Webhook{
			"hung": {URL: hung.URL, Secret: secret}, "live": {URL: live.URL, Secret: secret}}}},
		SendTimeout: 2 * time.Second, Backoff: func(int) time.Duration { return time.Hour },
	}
	go svc.Run(ctx)
	var base, rec []time.Duration
	sent := map[string]time.Time{}
	for i := range n {
		// Alternate the two, so that other load on the machine hits both alike.
		t0 := time.Now()
		_, err := st.AddEvent(ctx, spacepods.Event{Env: "bench", App: "web", Level: "info", Message: fmt.Sprintf("step %d", i)})
		check(err)
		base = append(base, time.Since(t0))
		key := fmt.Sprintf("%s-%d", name, i)
		t0 = time.Now()
		svc.Notify(ctx, spacepods.Notice{Kind: spacepods.NoticeDeployStarted, Key: key, Subject: "deploy:1", App: "web", Env: "bench", Text: "bench"})
		rec = append(rec, time.Since(t0))
		sent[key] = t0
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		got := len(arrived)
		mu.Unlock()
		if got == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var e2e []time.Duration
	mu.Lock()
	for k, at := range arrived {
		e2e = append(e2e, at.Sub(sent[k]))
	}
	mu.Unlock()
	row(name, "baseline: AddEvent (one insert)", base)
	row(name, "Notify, 2 targets (one hung)", rec)
	fmt.Printf("%-9s %-44s %9.2fx %9.2fx\n", name, "  Notify / baseline", ratio(rec, base, 0.5), ratio(rec, base, 0.99))
	row(name, fmt.Sprintf("Notify → live webhook (%d of %d arrived)", len(e2e), n), e2e)
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func ratio(a, b []time.Duration, p float64) float64 {
	return float64(pct(a, p)) / float64(max(pct(b, p), 1))
}

func row(store, op string, ds []time.Duration) {
	fmt.Printf("%-9s %-44s %10s %10s\n", store, op, pct(ds, 0.5).Round(time.Microsecond), pct(ds, 0.99).Round(time.Microsecond))
}

// createDatabase makes a fresh database on the server at admin and returns
// its URL and a function that drops it.
func createDatabase(admin string) (string, func()) {
	db, err := sql.Open("pgx", admin)
	check(err)
	name := fmt.Sprintf("notifybench_%d", time.Now().UnixNano())
	_, err = db.Exec("CREATE DATABASE " + name)
	check(err)
	u, err := url.Parse(admin)
	check(err)
	u.Path = "/" + name
	return u.String(), func() {
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") // best-effort cleanup; nothing useful to do on failure
		_ = db.Close()
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "notifybench:", err)
		os.Exit(1)
	}
}
