// Command pipelinebench measures the pipeline's overhead on the real stack
// (Docker, PostgreSQL, the edge router, the deploy engine, the Gatekeeper
// runner, the pipeline service): each run records a new main build of the
// example catalog-api, whose pipeline is qa → staging (tests at each
// stage, no gate), and waits until the run completes. For each run it
// compares the run's wall time (created → ended) with the sum of what it
// waited for, measured in the same run: its deploys (started → ended) and
// its test runs (started → ended). The ratio is the pipeline's overhead
// (target ≤ 1.1×): queueing, polling, store writes, the scan that starts
// the run.
//
//	go run ./bench/pipelinebench -url postgres://… [-runs 3]
//
// The PostgreSQL admin URL is the one scripts/test.sh starts (or
// SPACEPODS_TEST_POSTGRES). Everything it creates is destroyed, and the
// leak audit must come back empty.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/pipeline"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func main() {
	url := flag.String("url", os.Getenv("SPACEPODS_TEST_POSTGRES"), "PostgreSQL admin URL (required; or SPACEPODS_TEST_POSTGRES)")
	runs := flag.Int("runs", 3, "pipeline runs")
	poll := flag.Duration("poll", 2*time.Second, "the pipeline's Poll (the server's default is 2s)")
	flag.Parse()
	if *url == "" {
		log.Fatal("pipelinebench needs a PostgreSQL admin URL: -url postgres://… (start one with scripts/lib.sh's start_postgres, or run under scripts/test.sh)")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn + 4}))
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "pipelinebench-")
	check(err)
	defer func() { _ = os.RemoveAll(tmp) }() // best-effort cleanup
	s, err := podstest.New(ctx, filepath.Join(tmp, "store"), podstest.Config{PostgresURL: *url, Logger: logger})
	check(err)
	defer s.Close()
	admin := spacepods.WithActor(ctx, &spacepods.Token{Name: "bench", Role: spacepods.RoleAdmin})
	var envs []string
	for _, prefix := range []string{"qa", "stg"} {
		env := s.EnvName(prefix)
		_, err := s.Pods.CreateMaster(admin, env, false)
		check(err)
		d, err := s.Engine().Deploy(admin, deploy.Request{Env: env, App: "pricing-api", Build: podstest.BuildNormal})
		check(err)
		_, err = s.Engine().WaitDeploy(ctx, d.ID)
		check(err)
		envs = append(envs, env)
	}
	bctx, cancel := context.WithCancel(ctx)
	tests := &gatekeeper.Service{Store: s.Store, Catalog: s.Catalog, Driver: s.Driver, Endpoints: s.Engine(), Logger: logger}
	check(tests.Start(bctx))
	p := &pipeline.Service{Store: s.Store, Catalog: s.Catalog, Deploys: s.Engine(), Tests: tests, Poll: *poll, Logger: logger}
	check(p.Start(bctx))
	defer func() {
		cancel()
		p.Wait()
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
	m, err := s.Manifest("catalog-api")
	check(err)
	_, err = s.Register(admin, "catalog-api", m+fmt.Sprintf("pipeline: [%s, %s]\n", envs[0], envs[1]))
	check(err)

	var ratios []float64
	fmt.Printf("%-4s %-6s %10s %10s %10s %7s\n", "run", "build", "wall", "deploys", "tests", "ratio")
	for i := 0; i < *runs+1; i++ {
		build := 100 + i
		if i > 0 { // run 0 is build 1, started by the registration (a warm-up, not counted)
			_, err := s.Catalog.RecordBuild(admin, spacepods.Build{App: "catalog-api", Number: build, GitSHA: s.SHA, Branch: "main", Image: podstest.Image("catalog-api", podstest.BuildNormal)})
			check(err)
		} else {
			build = podstest.BuildNormal
		}
		r := waitRun(ctx, p, build)
		if r.Status != spacepods.RunCompleted {
			log.Fatalf("run %d of build %d ended %s: %s", r.ID, build, r.Status, r.Error)
		}
		wall := r.EndedAt.Sub(r.CreatedAt)
		var deploys, testRuns time.Duration
		for _, st := range r.Stages {
			d, err := s.Store.GetDeploy(ctx, st.DeployID)
			check(err)
			deploys += d.EndedAt.Sub(*d.StartedAt)
			for _, id := range st.TestRuns {
				tr, err := s.Store.GetTestRun(ctx, id)
				check(err)
				testRuns += tr.Ended.Sub(tr.Started)
			}
		}
		ratio := wall.Seconds() / (deploys + testRuns).Seconds()
		label := fmt.Sprint(i)
		if i == 0 {
			label = "warm"
		} else {
			ratios = append(ratios, ratio)
		}
		fmt.Printf("%-4s %-6d %10s %10s %10s %6.3fx\n", label, build, wall.Round(time.Millisecond), deploys.Round(time.Millisecond), testRuns.Round(time.Millisecond), ratio)
	}
	slices.Sort(ratios)
	fmt.Printf("median overhead: %.3fx the sum of its deploys and test runs (target <= 1.1x), %d runs, poll %s\n", ratios[len(ratios)/2], len(ratios), *poll)
}

// waitRun waits until build's run has ended and returns it.
func waitRun(ctx context.Context, p *pipeline.Service, build int) spacepods.PipelineRun {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		runs, err := p.Runs(ctx, "catalog-api", 10)
		check(err)
		for _, r := range runs {
			if r.Build == build && r.Done() {
				return r
			}
		}
		if time.Now().After(deadline) {
			log.Fatalf("build %d's run did not end within 10m", build)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
