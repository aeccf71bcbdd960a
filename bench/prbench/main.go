// Command prbench measures a pull request's CI pod on the real stack
// (Docker, PostgreSQL, the edge router, the deploy engine, the pods
// service, the Gatekeeper runner and the previews handler on an in-memory
// forge): from HandleEvent(pull_request opened) to the spacepods/tests
// status reading success, in phases:
//
//   - handle: the handler's decision (HandleEvent's own time);
//   - build wait: until the head's build is found (CI records it -build-delay
//     after the event; 0: already recorded);
//   - pod: until spacepods/pod reads success (the example's catalog-api pod:
//     pricing-api and catalog-api with its seeded database and migration);
//   - tests: until spacepods/tests reads success (catalog-api's selftest).
//
// In the same run, alternating with it, the baseline: the same pod made
// alone through the pods service, then one test run alone through the
// Gatekeeper runner. It prints the ratio of the PR's pod + tests phases to
// that baseline (target ≤ 1.5×).
//
//	go run ./bench/prbench -url postgres://… [-runs 3] [-build-delay 0s]
//
// The PostgreSQL admin URL is the one scripts/test.sh starts (or
// SPACEPODS_TEST_POSTGRES); containers must reach it at Docker's bridge
// gateway (scripts/lib.sh's start_postgres listens there). Everything it
// creates is destroyed, and the leak audit must come back empty.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/forge/forgetest"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/previews"
	"github.com/spacepods/spacepods/internal/spacepods"
)

const repo = "acme/catalog-api"

type sample struct {
	Handle, BuildWait, Pod, Tests, Total time.Duration // the PR flow
	BasePod, BaseTests                   time.Duration // the baseline
}

func main() {
	url := flag.String("url", os.Getenv("SPACEPODS_TEST_POSTGRES"), "PostgreSQL admin URL (required; or SPACEPODS_TEST_POSTGRES)")
	runs := flag.Int("runs", 3, "PR flows and baselines")
	delay := flag.Duration("build-delay", 0, "record the head's build this long after the event (0: before it)")
	verbose := flag.Bool("v", false, "log the stack at info level to stderr")
	flag.Parse()
	if *url == "" {
		log.Fatal("prbench needs a PostgreSQL admin URL: -url postgres://… (start one with scripts/lib.sh's start_postgres, or run under scripts/test.sh)")
	}
	level := slog.LevelWarn + 4
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "prbench-")
	check(err)
	defer func() { _ = os.RemoveAll(tmp) }() // best-effort cleanup
	s, err := podstest.New(ctx, filepath.Join(tmp, "store"), podstest.Config{PostgresURL: *url, Logger: logger})
	check(err)
	defer s.Close()
	bctx, cancel := context.WithCancel(ctx)
	tests := &gatekeeper.Service{Store: s.Store, Catalog: s.Catalog, Driver: s.Driver, Endpoints: s.Engine(), Logger: logger}
	check(tests.Start(bctx))
	f := forgetest.New()
	f.AddRepo(repo)
	prefix := s.EnvName("prb") + "-"
	h := &previews.Handler{Forge: f, Store: s.Store, Catalog: s.Catalog, Pods: s.Pods, Tests: tests, BaseURL: "http://spacepods.bench",
		Prefix: prefix, Poll: 25 * time.Millisecond, Logger: logger}
	check(h.Start(bctx))
	defer func() {
		cancel()
		h.Wait()
		tests.Wait()
		cctx, c := context.WithTimeout(ctx, 3*time.Minute)
		defer c()
		check(s.DestroyAll(cctx))
		leaks, err := s.LeaksOf(cctx)
		check(err)
		if len(leaks) > 0 {
			log.Fatalf("leaks:\n%s", podstest.FormatLeaks(leaks))
		}
		fmt.Println("leak audit: empty")
	}()

	var samples []sample
	build := 1000
	for i := range *runs {
		var sm sample
		// Alternate which goes first, so that neither always runs on a
		// warmer (or more loaded) host.
		base := func() {
			build++
			sha := randomSHA()
			check(s.RecordBuildAt(ctx, "catalog-api", build, sha, "feature/base"))
			name := s.EnvName("prb-base")
			t0 := time.Now()
			_, _, err := s.Pods.Create(admin(ctx), spacepods.CreatePodRequest{Name: name, Apps: []string{"catalog-api"}, Builds: map[string]int{"catalog-api": build}})
			check(err)
			_, err = s.WaitEnv(ctx, name, spacepods.StatusReady)
			check(err)
			sm.BasePod = time.Since(t0)
			t1 := time.Now()
			runs, err := tests.Run(admin(ctx), name, "catalog-api", "bench")
			check(err)
			if ok, line := gatekeeper.Summary(runs); !ok {
				log.Fatalf("baseline tests: %s", line)
			}
			sm.BaseTests = time.Since(t1)
			check(s.Pods.Destroy(admin(ctx), name))
			check(s.WaitDestroyed(ctx, name))
		}
		pr := func() {
			build++
			n := 100 + i
			sha := randomSHA()
			s.Track(previews.PodName(prefix, n, "catalog-api"))
			if *delay == 0 {
				check(s.RecordBuildAt(ctx, "catalog-api", build, sha, "feature/pr"))
			}
			p := f.SetPR(forge.PullRequest{Repo: repo, Number: n, Author: "alice", HeadSHA: sha, HeadRef: "feature/pr", BaseRef: "main"})
			t0 := time.Now()
			sum, err := h.HandleEvent(ctx, forge.Event{DeliveryID: sha, Kind: forge.EventPullRequest, Action: "opened", Repo: repo, PR: &p})
			check(err)
			sm.Handle = time.Since(t0)
			if !strings.Contains(sum, "creating pod") {
				log.Fatalf("HandleEvent: %s", sum)
			}
			if *delay > 0 {
				time.Sleep(*delay)
				check(s.RecordBuildAt(ctx, "catalog-api", build, sha, "feature/pr"))
			}
			wctx, c := context.WithTimeout(ctx, 10*time.Minute)
			defer c()
			st, err := f.WaitStatus(wctx, repo, sha, previews.ContextTests, forge.StatusSuccess, forge.StatusFailure, forge.StatusError)
			check(err)
			sm.Total = time.Since(t0)
			if st.State != forge.StatusSuccess {
				log.Fatalf("spacepods/tests: %+v", st)
			}
			// Phases from the statuses' times: the pod's "deploying" pending
			// ends the build wait; its success ends the pod phase.
			var deploying, podOK time.Time
			for _, w := range f.Statuses(repo, sha) {
				if w.Context == previews.ContextPod && w.State == forge.StatusPending && strings.HasPrefix(w.Description, "deploying") && deploying.IsZero() {
					deploying = w.At
				}
				if w.Context == previews.ContextPod && w.State == forge.StatusSuccess {
					podOK = w.At
				}
			}
			sm.BuildWait, sm.Pod = deploying.Sub(t0), podOK.Sub(deploying)
			sm.Tests = sm.Total - sm.BuildWait - sm.Pod
			p.State = "closed"
			f.SetPR(p)
			_, err = h.HandleEvent(ctx, forge.Event{Kind: forge.EventPullRequest, Action: "closed", Repo: repo, PR: &p})
			check(err)
			check(s.WaitDestroyed(ctx, previews.PodName(prefix, n, "catalog-api")))
		}
		if i%2 == 0 {
			pr()
			base()
		} else {
			base()
			pr()
		}
		samples = append(samples, sm)
		fmt.Fprintf(os.Stderr, "run %d: PR %s (build wait %s, pod %s, tests %s); alone: pod %s + tests %s\n", i+1,
			ms(sm.Total), ms(sm.BuildWait), ms(sm.Pod), ms(sm.Tests), ms(sm.BasePod), ms(sm.BaseTests))
	}

	med := func(get func(sample) time.Duration) time.Duration {
		var v []time.Duration
		for _, s := range samples {
			v = append(v, get(s))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	handle, wait, pod, tst, total := med(func(s sample) time.Duration { return s.Handle }), med(func(s sample) time.Duration { return s.BuildWait }),
		med(func(s sample) time.Duration { return s.Pod }), med(func(s sample) time.Duration { return s.Tests }), med(func(s sample) time.Duration { return s.Total })
	bpod, btests := med(func(s sample) time.Duration { return s.BasePod }), med(func(s sample) time.Duration { return s.BaseTests })
	prPart := med(func(s sample) time.Duration { return s.Pod + s.Tests })
	basePart := med(func(s sample) time.Duration { return s.BasePod + s.BaseTests })
	ratio := float64(prPart) / float64(basePart)
	out, _ := json.Marshal(map[string]any{"runs": *runs, "build_delay_ms": delay.Milliseconds(), "handle_ms": msf(handle), "build_wait_ms": msf(wait),
		"pod_ms": msf(pod), "tests_ms": msf(tst), "total_ms": msf(total), "baseline_pod_ms": msf(bpod), "baseline_tests_ms": msf(btests),
		"pr_pod_tests_ms": msf(prPart), "baseline_ms": msf(basePart), "ratio": ratio})
	fmt.Println(string(out))
	fmt.Printf("PR opened → spacepods/tests success: example catalog-api pod, %d runs, medians\n", *runs)
	fmt.Printf("  handle (HandleEvent)        %9s\n", ms(handle))
	fmt.Printf("  build wait                  %9s   (build recorded %s after the event)\n", ms(wait), *delay)
	fmt.Printf("  pod (→ spacepods/pod)       %9s\n", ms(pod))
	fmt.Printf("  tests (→ spacepods/tests)   %9s\n", ms(tst))
	fmt.Printf("  total                       %9s\n", ms(total))
	fmt.Printf("baseline, same run: pod spin-up alone %s + one test run alone %s = %s\n", ms(bpod), ms(btests), ms(basePart))
	fmt.Printf("  PR pod + tests / baseline   %8.2f×   (target ≤ 1.5×)\n", ratio)
}

func admin(ctx context.Context) context.Context {
	return spacepods.WithActor(ctx, &spacepods.Token{Name: "bench", Role: spacepods.RoleAdmin})
}

func randomSHA() string {
	b := make([]byte, 20)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func ms(d time.Duration) string   { return fmt.Sprintf("%.1f ms", msf(d)) }
func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
