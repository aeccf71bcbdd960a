// Command podbench measures, on the real stack (Docker, PostgreSQL, the
// in-process edge router, the deploy engine and the pods service):
//
//  1. pod spin-up: create the example pod (storefront and its dependencies)
//     until every app is healthy and routable, with per-phase timings read
//     back from the pod's events and its deploys' steps and events;
//
//  2. the floor in the same run: one container's start-to-healthy alone
//     (driver CreateService + polling ServiceStatus) plus one database
//     clone alone, and the ratio of spin-up to that floor (target ≤ 1.5×);
//
//  3. a staged rollout of storefront at 4 replicas under constant load
//     through the router: total rollout time against the sum of the stages'
//     intrinsic waits (new replicas healthy + bake), success rate, and p99
//     latency during the rollout against steady state.
//
//     go run ./bench/podbench [-url postgres://…] [-runs 3] [-rollouts 2]
//
// It prints one JSON line, then tables. Example images are built with
// scripts/build-examples.sh (fast when nothing changed). Everything it
// creates is destroyed at the end, and the leak audit must come back empty.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/docker"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func main() {
	url := flag.String("url", os.Getenv("SPACEPODS_TEST_POSTGRES"), "PostgreSQL admin URL (empty: start a local cluster)")
	runs := flag.Int("runs", 3, "pod spin-ups and floor measurements")
	rollouts := flag.Int("rollouts", 2, "staged rollouts under load")
	steady := flag.Duration("steady", 5*time.Second, "steady-state load before each rollout")
	workers := flag.Int("workers", 3, "load clients")
	bake := flag.Duration("bake", time.Second, "bake per rollout stage")
	overlap := flag.Bool("overlap", false, "start a pod's services while its migration runs (deploy.Options.OverlapPodMigrations)")
	verbose := flag.Bool("v", false, "log the stack at info level to stderr")
	flag.Parse()
	fmt.Printf("pods follow the deploy script's order strictly (migrations before services): %v\n", !*overlap)
	ctx := context.Background()
	level := slog.LevelWarn + 4 // quiet: the stack logs expected warnings (draining targets…)
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	tmp, err := os.MkdirTemp("", "podbench-")
	check(err)
	defer func() { _ = os.RemoveAll(tmp) }() // best-effort cleanup; nothing useful to do on failure
	if *url == "" {
		check(os.Chmod(tmp, 0o755)) // reachable by the postgres user when we are root
		// As the server starts it: containers reach it at the default
		// bridge's gateway, from Docker's address pools.
		dd, err := docker.New(logger)
		check(err)
		gw, err := dd.BridgeGateway(ctx)
		check(err)
		subnets, err := dd.ContainerSubnets(ctx)
		check(err)
		dd.Close()
		c, err := databases.StartLocal(ctx, filepath.Join(tmp, "pg"), logger, databases.ListenOn(gw), databases.AdmitPods(subnets...))
		check(err)
		defer func() { _ = c.Stop(ctx) }() // best-effort cleanup; nothing useful to do on failure
		*url = c.AdminURL()
	}
	s, err := podstest.New(ctx, filepath.Join(tmp, "store"), podstest.Config{
		PostgresURL: *url, Logger: logger, Deploy: deploy.Options{Bake: *bake, OverlapPodMigrations: *overlap},
	})
	check(err)
	defer s.Close()
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		check(s.DestroyAll(cctx))
		leaks, err := s.LeaksOf(cctx)
		check(err)
		if len(leaks) > 0 {
			log.Fatalf("leaks after the benchmark:\n%s", podstest.FormatLeaks(leaks))
		}
	}()

	result := map[string]any{"bench": "podbench", "runs": *runs}
	spin := spinUp(ctx, s, *runs)
	floor := measureFloor(ctx, s, *runs)
	ratio := float64(median(spin["total"])) / float64(median(floor["container"])+median(floor["clone"]))
	for k, v := range spin {
		result["spinup_"+k+"_median_ms"] = ms(median(v))
	}
	for k, v := range floor {
		result["floor_"+k+"_median_ms"] = ms(median(v))
	}
	result["spinup_over_floor"] = round2(ratio)
	var ro []rolloutResult
	if *rollouts > 0 {
		ro = rolloutBench(ctx, s, *rollouts, *steady, *workers)
		result["rollouts"] = ro
	}
	b, _ := json.Marshal(result)
	fmt.Println(string(b))

	fmt.Printf("\npod spin-up: example pod (pricing-api, catalog-api, storefront), %d runs, medians\n", *runs)
	for _, k := range spinOrder {
		if v, ok := spin[k]; ok {
			fmt.Printf("  %-44s %8.1f ms\n", spinLabels[k], ms(median(v)))
		}
	}
	fmt.Printf("\nfloor, same run, medians\n")
	fmt.Printf("  %-44s %8.1f ms\n", "one container: CreateService → healthy", ms(median(floor["container"])))
	fmt.Printf("  %-44s %8.1f ms\n", "one database clone from a snapshot", ms(median(floor["clone"])))
	fmt.Printf("  %-44s %8.1f ms\n", "(one database seeded create, for reference)", ms(median(floor["seeded"])))
	fmt.Printf("  %-44s %8.1f ms\n", "floor = container + clone", ms(median(floor["container"])+median(floor["clone"])))
	fmt.Printf("  %-44s %8.2f×   (target ≤ 1.5×)\n", "spin-up / floor", ratio)
	for i, r := range ro {
		fmt.Printf("\nrollout %d: storefront build %d, 4 replicas, stages %s, bake %s, %d load clients\n", i+1, r.Build, r.Stages, *bake, *workers)
		for j, st := range r.StageMS {
			fmt.Printf("  stage %d: new replicas healthy %7.1f ms, stage done %7.1f ms\n", j+1, r.StageHealthyMS[j], st)
		}
		fmt.Printf("  %-44s %8.1f ms\n", "total rollout (deploy start → end)", r.TotalMS)
		fmt.Printf("  %-44s %8.1f ms\n", "sum of intrinsic waits (healthy + bake)", r.IntrinsicMS)
		fmt.Printf("  %-44s %8.2f×\n", "total / intrinsic", r.TotalMS/r.IntrinsicMS)
		fmt.Printf("  %-44s %d/%d (%.3f%%)\n", "requests ok during rollout", r.OK, r.OK+r.Failed, r.SuccessRate*100)
		fmt.Printf("  %-44s %8.2f ms vs %.2f ms steady (p50 %.2f vs %.2f)\n", "p99 latency during rollout", r.P99MS, r.SteadyP99MS, r.P50MS, r.SteadyP50MS)
	}
}

var spinOrder = []string{"network", "database", "queue_wait", "database_wait", "migrate", "create_service", "first_healthy", "routable", "critical_path_app", "total"}

var spinLabels = map[string]string{
	"network":           "network + router environment",
	"database_wait":     "deploy's wait for its database (catalog-api)",
	"queue_wait":        "deploy queued → started (slowest app)",
	"database":          "database create (catalog-api, seed; in parallel)",
	"migrate":           "migrations (catalog-api task)",
	"create_service":    "container start: create_service (slowest)",
	"first_healthy":     "container start → healthy (slowest)",
	"routable":          "→ healthy at the router (slowest)",
	"critical_path_app": "catalog-api deploy, start → end",
	"total":             "create → every app healthy and routable",
}

// spinUp creates and destroys the example pod runs times.
func spinUp(ctx context.Context, s *podstest.Stack, runs int) map[string][]time.Duration {
	out := map[string][]time.Duration{}
	for range runs {
		name := s.EnvName("bench")
		start := time.Now()
		_, _, err := s.Pods.Create(ctx, spacepods.CreatePodRequest{Name: name, Apps: []string{"storefront"}})
		check(err)
		_, err = s.WaitEnv(ctx, name, spacepods.StatusReady)
		check(err)
		total := time.Since(start)
		status, _, err := s.Get(ctx, name, "storefront", "/")
		check(err)
		if status != 200 {
			log.Fatalf("storefront answered %d after the pod was ready", status)
		}
		out["total"] = append(out["total"], total)
		for k, v := range phases(ctx, s, name) {
			out[k] = append(out[k], v)
		}
		check(s.Pods.Destroy(ctx, name))
		check(s.WaitDestroyed(ctx, name))
	}
	return out
}

var (
	networkRE = regexp.MustCompile(`^network and routes ready \((.+)\)$`)
	dbRE      = regexp.MustCompile(`^database ready in (.+)$`)
	podDBRE   = regexp.MustCompile(`^database ready in ([^ ]+) \(`)
	healthyRE = regexp.MustCompile(`^stage 1/\d+: \d+ new replicas running and healthy after (.+)$`)
	routedRE  = regexp.MustCompile(`^stage 1/\d+: new replicas take traffic after (.+)$`)
)

// phases reads a pod's timings from its events and deploys.
func phases(ctx context.Context, s *podstest.Stack, env string) map[string]time.Duration {
	out := map[string]time.Duration{}
	evs, err := s.Pods.Events(ctx, env, 0)
	check(err)
	for _, e := range evs {
		if m := networkRE.FindStringSubmatch(e.Message); m != nil {
			out["network"] = parse(m[1])
		}
		if m := podDBRE.FindStringSubmatch(e.Message); m != nil {
			out["database"] = parse(m[1])
		}
	}
	maxOf := func(k string, d time.Duration) {
		if d > out[k] {
			out[k] = d
		}
	}
	ds, err := s.Engine().List(ctx, env, "", 100)
	check(err)
	for _, d := range ds {
		maxOf("queue_wait", d.StartedAt.Sub(d.CreatedAt))
		for _, st := range d.Steps {
			if st.StartedAt == nil || st.EndedAt == nil {
				continue
			}
			took := st.EndedAt.Sub(*st.StartedAt)
			switch st.Name {
			case "migrate":
				if st.Status == "done" {
					out["migrate"] = took
				}
			case "create_service":
				maxOf("create_service", took)
			}
		}
		if d.App == "catalog-api" {
			out["critical_path_app"] = d.EndedAt.Sub(*d.StartedAt)
		}
		devs, err := s.Engine().Events(ctx, d.ID, 0)
		check(err)
		for _, e := range devs {
			if m := dbRE.FindStringSubmatch(e.Message); m != nil {
				out["database_wait"] = parse(m[1])
			}
			if m := healthyRE.FindStringSubmatch(e.Message); m != nil {
				maxOf("first_healthy", parse(m[1]))
			}
			if m := routedRE.FindStringSubmatch(e.Message); m != nil {
				maxOf("routable", parse(m[1]))
			}
		}
	}
	return out
}

// measureFloor times one container start-to-healthy and one database clone,
// each alone.
func measureFloor(ctx context.Context, s *podstest.Stack, runs int) map[string][]time.Duration {
	out := map[string][]time.Duration{}
	env := s.EnvName("floor")
	check(s.Driver.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}))
	defer func() { _ = s.Driver.DestroyEnvironment(ctx, env) }() // best-effort cleanup; nothing useful to do on failure
	defer func() { _ = s.Databases.DropEnvironment(ctx, env) }() // best-effort cleanup; nothing useful to do on failure

	for i := range runs {
		name := fmt.Sprintf("pricing-api-f%d", i)
		start := time.Now()
		check(s.Driver.CreateService(ctx, runtime.ServiceSpec{
			Name: name, Environment: env, App: "pricing-api", Release: i + 1, Role: runtime.RoleWeb,
			Image: podstest.Image("pricing-api", podstest.BuildNormal), Command: []string{"/app", "serve"},
			Env: map[string]string{"PORT": "8080"}, Port: 8080, Health: runtime.HealthCheck{Path: "/healthz"}, Replicas: 1,
		}))
		for {
			st, err := s.Driver.ServiceStatus(ctx, env, name)
			check(err)
			if st.Healthy == 1 {
				break
			}
			if time.Since(start) > time.Minute {
				log.Fatalf("floor container %s not healthy within a minute: %+v", name, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
		out["container"] = append(out["container"], time.Since(start))
		check(s.Driver.DeleteService(ctx, env, name))
	}

	m, err := s.Manifest("catalog-api")
	check(err)
	seed, err := s.Seed("catalog-api", m)
	check(err)
	snap := "floor-" + strings.TrimPrefix(env, "floor-")
	start := time.Now()
	_, err = s.Databases.Create(ctx, env, "src", databases.Source{Seed: seed})
	check(err)
	out["seeded"] = append(out["seeded"], time.Since(start))
	_, err = s.Databases.Snapshot(ctx, env, "src", snap)
	check(err)
	defer func() { _ = s.Databases.DropSnapshot(ctx, snap) }() // best-effort cleanup; nothing useful to do on failure
	for i := range runs {
		start := time.Now()
		_, err := s.Databases.Create(ctx, env, fmt.Sprintf("clone%d", i), databases.Source{Snapshot: snap})
		check(err)
		out["clone"] = append(out["clone"], time.Since(start))
	}
	return out
}

type rolloutResult struct {
	Build          int       `json:"build"`
	Stages         string    `json:"stages"`
	TotalMS        float64   `json:"total_ms"`
	IntrinsicMS    float64   `json:"intrinsic_ms"`
	StageHealthyMS []float64 `json:"stage_healthy_ms"`
	StageMS        []float64 `json:"stage_ms"`
	OK             int       `json:"ok"`
	Failed         int       `json:"failed"`
	SuccessRate    float64   `json:"success_rate"`
	P50MS          float64   `json:"p50_ms"`
	P99MS          float64   `json:"p99_ms"`
	SteadyP50MS    float64   `json:"steady_p50_ms"`
	SteadyP99MS    float64   `json:"steady_p99_ms"`
}

var (
	stageHealthyRE = regexp.MustCompile(`^stage (\d+)/(\d+): \d+ new replicas running and healthy after (.+)$`)
	stageDoneRE    = regexp.MustCompile(`^stage (\d+)/(\d+) done in (.+)$`)
)

// rolloutBench deploys storefront (4 replicas, in a master environment)
// rollouts times under load, alternating builds 2 and 1.
func rolloutBench(ctx context.Context, s *podstest.Stack, rollouts int, steady time.Duration, workers int) []rolloutResult {
	m, err := s.Manifest("storefront")
	check(err)
	_, err = s.Register(ctx, "storefront", strings.Replace(m, "replicas: {default: 1,", "replicas: {default: 4,", 1))
	check(err)
	check(s.AddBuild(ctx, "storefront", podstest.BuildNormal2, ""))
	env := s.EnvName("prod")
	_, err = s.Pods.CreateMaster(ctx, env, false)
	check(err)
	for _, app := range []string{"pricing-api", "catalog-api", "storefront"} {
		d, err := s.Engine().Submit(ctx, deploy.Request{Env: env, App: app, Build: podstest.BuildNormal})
		check(err)
		d, err = s.Engine().WaitDeploy(ctx, d.ID)
		check(err)
		if d.Status != spacepods.DeployCompleted {
			log.Fatalf("setup deploy of %s: %s: %s", app, d.Status, d.Error)
		}
	}
	app, err := s.Catalog.Get(ctx, "storefront")
	check(err)
	opts := podstest.LoadOptions{Workers: workers, Pause: 10 * time.Millisecond, MaxDuration: 10 * time.Minute}
	var out []rolloutResult
	for i := range rollouts {
		build := podstest.BuildNormal2
		if i%2 == 1 {
			build = podstest.BuildNormal
		}
		l := s.StartLoad(env, "storefront", opts)
		time.Sleep(steady)
		base := l.Stop()
		l = s.StartLoad(env, "storefront", opts)
		d, err := s.Engine().Submit(ctx, deploy.Request{Env: env, App: "storefront", Build: build})
		check(err)
		d, err = s.Engine().WaitDeploy(ctx, d.ID)
		check(err)
		during := l.Stop()
		if d.Status != spacepods.DeployCompleted {
			log.Fatalf("rollout of build %d: %s: %s", build, d.Status, d.Error)
		}
		r := rolloutResult{
			Build: build, Stages: fmt.Sprint(app.Stages()), TotalMS: ms(d.EndedAt.Sub(*d.StartedAt)),
			OK: during.OK, Failed: during.Failed, SuccessRate: during.SuccessRate(),
			P50MS: ms(during.Percentile(50)), P99MS: ms(during.Percentile(99)),
			SteadyP50MS: ms(base.Percentile(50)), SteadyP99MS: ms(base.Percentile(99)),
		}
		evs, err := s.Engine().Events(ctx, d.ID, 0)
		check(err)
		bakeMS := ms(s.Engine().Options.Bake)
		for _, e := range evs {
			if m := stageHealthyRE.FindStringSubmatch(e.Message); m != nil {
				h := ms(parse(m[3]))
				r.StageHealthyMS = append(r.StageHealthyMS, h)
				r.IntrinsicMS += h + bakeMS
			}
			if m := stageDoneRE.FindStringSubmatch(e.Message); m != nil {
				r.StageMS = append(r.StageMS, ms(parse(m[3])))
			}
		}
		if len(during.Failures) > 0 {
			fmt.Fprintf(os.Stderr, "rollout %d failures:\n  %s\n", i+1, strings.Join(during.Failures, "\n  "))
		}
		out = append(out, r)
	}
	return out
}

func parse(s string) time.Duration {
	d, err := time.ParseDuration(s)
	check(err)
	return d
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
