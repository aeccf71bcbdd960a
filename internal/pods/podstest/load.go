package podstest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// LoadOptions shape constant load through the router. Load stops by itself
// after MaxDuration or MaxRequests, whichever comes first.
type LoadOptions struct {
	Workers     int           // concurrent clients (default 3)
	Pause       time.Duration // between one client's requests (default 10ms)
	MaxDuration time.Duration // default 5m
	MaxRequests int           // default 1,000,000
	Path        string        // default "/"
}

// Load is constant GET traffic to one app through the router, from
// loopback only.
type Load struct {
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	t0   time.Time

	mu       sync.Mutex
	ok       int
	failed   int
	failures []string
	lat      []time.Duration
	end      time.Time
}

// LoadResult is what a Load saw.
type LoadResult struct {
	OK, Failed int
	Failures   []string        // the first few, with time, status and body
	Latencies  []time.Duration // of successful requests, sorted
	Duration   time.Duration
}

// Percentile returns the p-th percentile (0-100) of the latencies.
func (r LoadResult) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies)-1) * p / 100)
	return r.Latencies[i]
}

// SuccessRate is OK / (OK + Failed).
func (r LoadResult) SuccessRate() float64 {
	if r.OK+r.Failed == 0 {
		return 0
	}
	return float64(r.OK) / float64(r.OK+r.Failed)
}

// String summarizes the result in one line.
func (r LoadResult) String() string {
	return fmt.Sprintf("%d requests in %s: %d ok, %d failed; p50 %s, p99 %s",
		r.OK+r.Failed, r.Duration.Round(time.Millisecond), r.OK, r.Failed,
		r.Percentile(50).Round(time.Microsecond), r.Percentile(99).Round(time.Microsecond))
}

// StartLoad starts constant GET traffic to app in env through the router.
func (s *Stack) StartLoad(env, app string, o LoadOptions) *Load {
	if o.Workers <= 0 {
		o.Workers = 3
	}
	if o.Pause == 0 {
		o.Pause = 10 * time.Millisecond
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = 5 * time.Minute
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = 1_000_000
	}
	if o.Path == "" {
		o.Path = "/"
	}
	l := &Load{stop: make(chan struct{}), t0: time.Now()}
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: o.Workers}}
	host := s.Host(env, app)
	url := "http://" + s.RouterAddr + o.Path
	deadline := time.Now().Add(o.MaxDuration)
	var sent sync.Mutex
	count := 0
	for range o.Workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				sent.Lock()
				count++
				over := count > o.MaxRequests
				sent.Unlock()
				if over || time.Now().After(deadline) {
					return
				}
				l.one(client, url, host)
				select {
				case <-l.stop:
					return
				case <-time.After(o.Pause):
				}
			}
		})
	}
	return l
}

func (l *Load) one(client *http.Client, url, host string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Host = host
	start := time.Now()
	resp, err := client.Do(req)
	var status int
	var body []byte
	if err == nil {
		status = resp.StatusCode
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	took := time.Since(start)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && status/100 == 2 {
		l.ok++
		l.lat = append(l.lat, took)
		return
	}
	l.failed++
	if len(l.failures) < 10 {
		what := fmt.Sprintf("%d %s", status, strings.TrimSpace(string(body)))
		if err != nil {
			what = err.Error()
		}
		if len(what) > 300 {
			what = what[:300] + "…"
		}
		l.failures = append(l.failures, fmt.Sprintf("+%s %s", time.Since(l.t0).Round(time.Millisecond), what))
	}
}

// Stop stops the load (if it has not stopped by itself) and returns what
// it saw.
func (l *Load) Stop() LoadResult {
	l.once.Do(func() {
		close(l.stop)
		l.wg.Wait()
		l.end = time.Now()
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	lat := slices.Clone(l.lat)
	slices.Sort(lat)
	return LoadResult{OK: l.ok, Failed: l.failed, Failures: slices.Clone(l.failures), Latencies: lat, Duration: l.end.Sub(l.t0)}
}
