// Command wakebench measures waking an asleep pod on the real stack
// (Docker, PostgreSQL, the in-process edge router, the deploy engine, the
// pods service and its sleeper):
//
//  1. wake time: the example pod (storefront, catalog-api, pricing-api) is
//     put to sleep, then one GET / to storefront goes through the router;
//     the time from that request in to its response's headers out, which
//     covers the router holding it, the control plane starting the three
//     apps' containers and waiting for their health, routing them, and
//     storefront's own page (which calls catalog-api, which calls
//     pricing-api). Also with storefront alone asleep (one app to wake).
//
//  2. the baseline in the same run: one container's start → healthy alone
//     (a stopped pricing-api replica started with the driver's
//     ResumeService, health polled as the wake polls it), and, for
//     reference, one container's create → healthy (CreateService).
//
// It prints one JSON line, then a table with the ratio of wake time to one
// container's start (target ≤ 1.5×).
//
//	go run ./bench/wakebench [-url postgres://…] [-runs 5]
//
// Example images are built with scripts/build-examples.sh. Everything it
// creates is destroyed at the end, and the leak audit must come back empty.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spacepods/spacepods/bench/internal/benchstat"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func main() {
	url := flag.String("url", os.Getenv("SPACEPODS_TEST_POSTGRES"), "PostgreSQL admin URL (empty: start a local cluster)")
	runs := flag.Int("runs", 5, "wakes and baseline measurements of each kind")
	verbose := flag.Bool("v", false, "log the stack at info level to stderr")
	flag.Parse()
	ctx := context.Background()
	level := slog.LevelWarn + 4 // quiet: the stack logs expected warnings (draining targets…)
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	tmp, err := os.MkdirTemp("", "wakebench-")
	benchstat.Check(err)
	defer func() { _ = os.RemoveAll(tmp) }() // best-effort cleanup; nothing useful to do on failure
	if *url == "" {
		benchstat.Check(os.Chmod(tmp, 0o755)) // reachable by the postgres user when we are root
		c, err := podstest.LocalPostgres(ctx, filepath.Join(tmp, "pg"), logger)
		benchstat.Check(err)
		defer func() { _ = c.Stop(ctx) }() // best-effort cleanup; nothing useful to do on failure
		*url = c.AdminURL()
	}
	// The sleeper runs for its wake poller; pods never sleep by themselves
	// here (no idle timeout): the benchmark puts them to sleep.
	s, err := podstest.New(ctx, filepath.Join(tmp, "store"), podstest.Config{PostgresURL: *url, Logger: logger, SleepEvery: time.Hour})
	benchstat.Check(err)
	defer s.Close()
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		benchstat.Check(s.DestroyAll(cctx))
		leaks, err := s.LeaksOf(cctx)
		benchstat.Check(err)
		if len(leaks) > 0 {
			log.Fatalf("leaks after the benchmark:\n%s", podstest.FormatLeaks(leaks))
		}
	}()

	pod := s.EnvName("wake")
	if _, _, err := s.Pods.Create(ctx, spacepods.CreatePodRequest{Name: pod, Apps: []string{"storefront"}}); err != nil {
		log.Fatal(err)
	}
	_, err = s.WaitEnv(ctx, pod, spacepods.StatusReady)
	benchstat.Check(err)
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

	res := map[string][]time.Duration{}
	for range *runs {
		res["wake_pod"] = append(res["wake_pod"], wake(ctx, s, client, pod, ""))
		res["wake_one"] = append(res["wake_one"], wake(ctx, s, client, pod, "storefront"))
		res["pod_start"] = append(res["pod_start"], podStart(ctx, s, pod))
		start, create := baseline(ctx, s)
		res["container_start"] = append(res["container_start"], start)
		res["container_create"] = append(res["container_create"], create)
	}
	base := benchstat.Median(res["container_start"])
	result := map[string]any{"bench": "wakebench", "runs": *runs}
	for k, v := range res {
		result[k+"_median_ms"] = benchstat.Ms(benchstat.Median(v))
	}
	result["wake_pod_over_container_start"] = benchstat.Round2(float64(benchstat.Median(res["wake_pod"])) / float64(base))
	result["wake_one_over_container_start"] = benchstat.Round2(float64(benchstat.Median(res["wake_one"])) / float64(base))
	result["wake_pod_over_pod_start"] = benchstat.Round2(float64(benchstat.Median(res["wake_pod"])) / float64(benchstat.Median(res["pod_start"])))
	b, _ := json.Marshal(result)
	fmt.Println(string(b))

	fmt.Printf("\nwake on the first request, %d runs, medians (first request in → first response out)\n", *runs)
	fmt.Printf("  %-52s %8.1f ms\n", "example pod asleep (3 apps) → GET storefront /", benchstat.Ms(benchstat.Median(res["wake_pod"])))
	fmt.Printf("  %-52s %8.1f ms\n", "storefront alone asleep → GET storefront /", benchstat.Ms(benchstat.Median(res["wake_one"])))
	fmt.Printf("\nbaseline, same run, medians\n")
	fmt.Printf("  %-52s %8.1f ms\n", "one container: start (stopped) → healthy", benchstat.Ms(base))
	fmt.Printf("  %-52s %8.1f ms\n", "(one container: create → healthy, for reference)", benchstat.Ms(benchstat.Median(res["container_create"])))
	fmt.Printf("  %-52s %8.1f ms\n", "(the pod's 3 web containers started together → healthy)", benchstat.Ms(benchstat.Median(res["pod_start"])))
	fmt.Printf("\n  %-52s %8.2f×   (target ≤ 1.5×)\n", "pod wake / one container's start", result["wake_pod_over_container_start"])
	fmt.Printf("  %-52s %8.2f×\n", "one-app wake / one container's start", result["wake_one_over_container_start"])
	fmt.Printf("  %-52s %8.2f×\n", "pod wake / its 3 containers started together", result["wake_pod_over_pod_start"])
	fmt.Printf("\nthe last pod wake's events (where its time went):\n")
	for _, e := range lastWake {
		fmt.Printf("  %s %-12s %s\n", e.At.Format("15:04:05.000"), e.App, e.Message)
	}
}

// lastWake are the events of the last whole-pod wake.
var lastWake []spacepods.Event

// wake puts app (or, "", every web app) of pod to sleep and times one GET
// of storefront's page through the router.
func wake(ctx context.Context, s *podstest.Stack, c *http.Client, pod, app string) time.Duration {
	_, err := s.Pods.Sleep(ctx, pod, app)
	benchstat.Check(err)
	time.Sleep(500 * time.Millisecond) // let the stop settle: the wake starts from a quiet host
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.RouterAddr+"/", nil)
	benchstat.Check(err)
	req.Host = s.Host(pod, "storefront")
	start := time.Now()
	resp, err := c.Do(req)
	took := time.Since(start)
	benchstat.Check(err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		log.Fatalf("GET storefront after a wake: %d", resp.StatusCode)
	}
	if app == "" {
		evs, err := s.Pods.Events(ctx, pod, 0)
		benchstat.Check(err)
		lastWake = nil
		for _, e := range evs {
			if !e.At.Before(start) {
				lastWake = append(lastWake, e)
			}
		}
	}
	return took
}

// podStart puts the pod to sleep, then starts its web apps' containers
// together straight through the driver (no router, no control plane) and
// times them to healthy: what the wake cannot do faster on this host. The
// pod is woken again after.
func podStart(ctx context.Context, s *podstest.Stack, pod string) time.Duration {
	_, err := s.Pods.Sleep(ctx, pod, "")
	benchstat.Check(err)
	time.Sleep(500 * time.Millisecond)
	svcs, err := s.Driver.ListServices(ctx, pod)
	benchstat.Check(err)
	var web []string
	for _, svc := range svcs {
		if svc.Role == runtime.RoleWeb {
			web = append(web, svc.Name)
		}
	}
	t0 := time.Now()
	var wg sync.WaitGroup
	for _, name := range web {
		wg.Go(func() {
			benchstat.Check(s.Driver.ResumeService(ctx, pod, name))
			waitHealthy(ctx, s, pod, name, t0)
		})
	}
	wg.Wait()
	took := time.Since(t0)
	_, err = s.Pods.Wake(ctx, pod)
	benchstat.Check(err)
	return took
}

// baseline times one pricing-api container alone: create → healthy, then
// stopped and started again: start → healthy, polled as a wake polls it.
func baseline(ctx context.Context, s *podstest.Stack) (start, create time.Duration) {
	env := s.EnvName("base")
	benchstat.Check(s.Driver.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}))
	defer func() { _ = s.Driver.DestroyEnvironment(ctx, env) }() // best-effort cleanup; nothing useful to do on failure
	name := "pricing-api-b1"
	t0 := time.Now()
	benchstat.Check(s.Driver.CreateService(ctx, runtime.ServiceSpec{
		Name: name, Environment: env, App: "pricing-api", Release: 1, Role: runtime.RoleWeb,
		Image: podstest.Image("pricing-api", podstest.BuildNormal), Command: []string{"/app", "serve"},
		Env: map[string]string{"PORT": "8080"}, Port: 8080, Health: runtime.HealthCheck{Path: "/healthz"}, Replicas: 1,
	}))
	waitHealthy(ctx, s, env, name, t0)
	create = time.Since(t0)
	benchstat.Check(s.Driver.SuspendService(ctx, env, name))
	time.Sleep(500 * time.Millisecond)
	t0 = time.Now()
	benchstat.Check(s.Driver.ResumeService(ctx, env, name))
	waitHealthy(ctx, s, env, name, t0)
	return time.Since(t0), create
}

func waitHealthy(ctx context.Context, s *podstest.Stack, env, name string, start time.Time) {
	for pause := 10 * time.Millisecond; ; pause = min(pause*2, 50*time.Millisecond) {
		st, err := s.Driver.ServiceStatus(ctx, env, name)
		benchstat.Check(err)
		if st.Healthy == 1 {
			return
		}
		if time.Since(start) > time.Minute {
			log.Fatalf("baseline container %s not healthy within a minute: %+v", name, st)
		}
		time.Sleep(pause)
	}
}
