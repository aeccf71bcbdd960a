// Command podbench measures, on the real stack (Docker, PostgreSQL, the
// in-process edge router, the deploy engine and the pods service):
//
//  1. pod spin-up, warm: create the example pod (storefront and its
//     dependencies) until every app is healthy and routable, with per-phase
//     timings read back from the pod's events and its deploys' steps and
//     events; the first pod of the stack is a warm-up and is left out of
//     the medians;
//
//  2. the sequential floor, measured in the same run, interleaved with the
//     spin-ups: each piece of the pod's critical path alone, with the very
//     specs the pod's deploys ran (deploy.Engine.LiveSpecs) — catalog-api's
//     database made as the pod makes it, then its migration task
//     (driver RunTask), then the slowest of the pod's services from
//     CreateService to healthy (polled every 10 ms). The floor is the sum of
//     their medians; the target is spin-up ≤ 1.15× the floor;
//
//  3. cold (-cold N): N times, a fresh PostgreSQL cluster and a fresh
//     control plane (new store, router, driver, engine), as a fresh
//     scripts/run.sh gives, then the first pod's create → healthy and
//     routable (target ≤ 3 s), with its phases;
//
//  4. a staged rollout of storefront at 4 replicas under constant load
//     through the router: total rollout time against the sum of the stages'
//     intrinsic waits (new replicas healthy + bake), success rate, and p99
//     latency during the rollout against steady state.
//
//     go run ./bench/podbench [-url postgres://…] [-runs 5] [-cold 3] [-rollouts 2]
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
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spacepods/spacepods/bench/internal/benchstat"
	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/docker"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func main() {
	url := flag.String("url", os.Getenv("SPACEPODS_TEST_POSTGRES"), "PostgreSQL admin URL (empty: start a local cluster)")
	runs := flag.Int("runs", 5, "warm pod spin-ups and floor measurements (after one warm-up pod)")
	cold := flag.Int("cold", 0, "cold spin-ups: each with a fresh PostgreSQL cluster (needs -url empty) and a fresh control plane")
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
	opts := deploy.Options{Bake: *bake, OverlapPodMigrations: *overlap}

	tmp, err := os.MkdirTemp("", "podbench-")
	benchstat.Check(err)
	defer func() { _ = os.RemoveAll(tmp) }() // best-effort cleanup; nothing useful to do on failure
	benchstat.Check(os.Chmod(tmp, 0o755))    // reachable by the postgres user when we are root
	result := map[string]any{"bench": "podbench", "runs": *runs}

	var colds []coldResult
	if *cold > 0 {
		if *url != "" {
			log.Fatal("-cold starts a fresh PostgreSQL cluster for each cold pod: leave -url (and SPACEPODS_TEST_POSTGRES) empty")
		}
		for i := range *cold {
			colds = append(colds, coldOnce(ctx, filepath.Join(tmp, fmt.Sprintf("cold%d", i)), logger, opts))
		}
	}

	if *url == "" {
		c := startPostgres(ctx, filepath.Join(tmp, "pg"), logger)
		defer func() { _ = c.Stop(ctx) }() // best-effort cleanup; nothing useful to do on failure
		*url = c.AdminURL()
	}
	s, err := podstest.New(ctx, filepath.Join(tmp, "store"), podstest.Config{PostgresURL: *url, Logger: logger, Deploy: opts})
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

	// The first pod of a stack is a warm-up (see -cold for what it costs).
	first, _, _ := spinOnce(ctx, s)
	spin := map[string][]time.Duration{}
	floor := map[string][]time.Duration{}
	for range *runs {
		got, specs, _ := spinOnce(ctx, s)
		for k, v := range got {
			spin[k] = append(spin[k], v)
		}
		for k, v := range floorOnce(ctx, s, specs) {
			floor[k] = append(floor[k], v)
		}
	}
	floorSum := benchstat.Median(floor["database"]) + benchstat.Median(floor["migrate"]) + benchstat.Median(floor["service"])
	ratio := float64(benchstat.Median(spin["total"])) / float64(floorSum)
	for k, v := range spin {
		result["spinup_"+k+"_median_ms"] = benchstat.Ms(benchstat.Median(v))
	}
	for k, v := range floor {
		result["floor_"+k+"_median_ms"] = benchstat.Ms(benchstat.Median(v))
	}
	result["warmup_pod_ms"] = benchstat.Ms(first["total"])
	result["floor_ms"] = benchstat.Ms(floorSum)
	result["spinup_over_floor"] = benchstat.Round2(ratio)
	if len(colds) > 0 {
		var totals []time.Duration
		for _, c := range colds {
			totals = append(totals, c.Total)
		}
		result["cold"] = colds
		result["cold_total_median_ms"] = benchstat.Ms(benchstat.Median(totals))
	}
	var ro []rolloutResult
	if *rollouts > 0 {
		ro = rolloutBench(ctx, s, *rollouts, *steady, *workers)
		result["rollouts"] = ro
	}
	b, _ := json.Marshal(result)
	fmt.Println(string(b))

	fmt.Printf("\npod spin-up, warm: example pod (pricing-api, catalog-api, storefront), %d runs after one warm-up pod (%.1f ms), medians\n", *runs, benchstat.Ms(first["total"]))
	printPhases(spin)
	fmt.Printf("\nsequential floor, same run (interleaved with the spin-ups), each piece alone, medians\n")
	fmt.Printf("  %-46s %8.1f ms\n", "catalog-api's database, made as the pod does", benchstat.Ms(benchstat.Median(floor["database"])))
	fmt.Printf("  %-46s %8.1f ms\n", "catalog-api's migration task (RunTask)", benchstat.Ms(benchstat.Median(floor["migrate"])))
	for _, app := range []string{"pricing-api", "catalog-api", "storefront"} {
		fmt.Printf("  %-46s %8.1f ms\n", "  "+app+": CreateService → healthy", benchstat.Ms(benchstat.Median(floor["service_"+app])))
	}
	fmt.Printf("  %-46s %8.1f ms\n", "slowest service: CreateService → healthy", benchstat.Ms(benchstat.Median(floor["service"])))
	fmt.Printf("  %-46s %8.1f ms\n", "floor = database + migration + slowest service", benchstat.Ms(floorSum))
	fmt.Printf("  %-46s %8.1f ms\n", "create → every app healthy and routable", benchstat.Ms(benchstat.Median(spin["total"])))
	fmt.Printf("  %-46s %8.2f×   (target ≤ 1.15×)\n", "spin-up / floor", ratio)
	for i, c := range colds {
		fmt.Printf("\ncold %d: fresh PostgreSQL cluster and control plane, first pod\n", i+1)
		fmt.Printf("  %-46s %8.1f ms\n", "PostgreSQL cluster start (initdb + start)", benchstat.Ms(c.Postgres))
		fmt.Printf("  %-46s %8.1f ms\n", "control plane start (store, router, engine…)", benchstat.Ms(c.Stack))
		printPhases(c.phases())
		fmt.Printf("  %-46s %8.1f ms (target ≤ 3000 ms), %.2f× the warm median\n", "first pod: create → healthy and routable", benchstat.Ms(c.Total), float64(c.Total)/float64(benchstat.Median(spin["total"])))
	}
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

// startPostgres starts a fresh local PostgreSQL cluster as the server does:
// containers reach it at the default bridge's gateway, from Docker's
// address pools.
func startPostgres(ctx context.Context, dir string, logger *slog.Logger) *databases.Cluster {
	dd, err := docker.New(logger)
	benchstat.Check(err)
	defer dd.Close()
	gw, err := dd.BridgeGateway(ctx)
	benchstat.Check(err)
	subnets, err := dd.ContainerSubnets(ctx)
	benchstat.Check(err)
	c, err := databases.StartLocal(ctx, dir, logger, databases.ListenOn(gw), databases.AdmitPods(subnets...))
	benchstat.Check(err)
	return c
}

// coldResult is one cold spin-up: a fresh PostgreSQL cluster and control
// plane, then the first pod.
type coldResult struct {
	Postgres time.Duration            `json:"postgres_ns"`
	Stack    time.Duration            `json:"stack_ns"`
	Total    time.Duration            `json:"total_ns"`
	Phases   map[string]time.Duration `json:"phases_ns"`
}

func (c coldResult) phases() map[string][]time.Duration {
	out := map[string][]time.Duration{}
	for k, v := range c.Phases {
		out[k] = []time.Duration{v}
	}
	return out
}

// coldOnce starts a PostgreSQL cluster and a control plane in dir, times the
// first pod, and tears it all down.
func coldOnce(ctx context.Context, dir string, logger *slog.Logger, opts deploy.Options) coldResult {
	benchstat.Check(os.MkdirAll(dir, 0o755))
	var r coldResult
	t0 := time.Now()
	c := startPostgres(ctx, filepath.Join(dir, "pg"), logger)
	defer func() { _ = c.Stop(ctx) }() // best-effort cleanup; nothing useful to do on failure
	r.Postgres = time.Since(t0)
	t0 = time.Now()
	s, err := podstest.New(ctx, filepath.Join(dir, "store"), podstest.Config{PostgresURL: c.AdminURL(), Logger: logger, Deploy: opts})
	benchstat.Check(err)
	defer s.Close()
	r.Stack = time.Since(t0)
	r.Phases, _, _ = spinOnce(ctx, s)
	r.Total = r.Phases["total"]
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	benchstat.Check(s.DestroyAll(cctx))
	leaks, err := s.LeaksOf(cctx)
	benchstat.Check(err)
	if len(leaks) > 0 {
		log.Fatalf("leaks after a cold spin-up:\n%s", podstest.FormatLeaks(leaks))
	}
	return r
}

func printPhases(spin map[string][]time.Duration) {
	for _, k := range spinOrder {
		if v, ok := spin[k]; ok {
			fmt.Printf("  %-46s %8.1f ms\n", spinLabels[k], benchstat.Ms(benchstat.Median(v)))
		}
	}
}

var spinOrder = []string{"network", "database", "queue_wait", "database_wait", "migrate", "create_service", "first_healthy", "routable",
	"catalog_clear_stale", "catalog_register_release", "catalog_migrate", "catalog_create_service", "catalog_rollout", "critical_path_app", "total"}

var spinLabels = map[string]string{
	"network":                  "network + router environment",
	"database_wait":            "deploy's wait for its database (catalog-api)",
	"queue_wait":               "deploy queued → started (slowest app)",
	"database":                 "database create (catalog-api, seed; in parallel)",
	"migrate":                  "migrations (catalog-api task)",
	"create_service":           "container start: create_service (slowest)",
	"first_healthy":            "container start → healthy (slowest)",
	"routable":                 "→ healthy at the router (slowest)",
	"catalog_clear_stale":      "  catalog-api: clear_stale",
	"catalog_register_release": "  catalog-api: register_release",
	"catalog_migrate":          "  catalog-api: migrate",
	"catalog_create_service":   "  catalog-api: create_service",
	"catalog_rollout":          "  catalog-api: rollout (→ healthy, routed)",
	"critical_path_app":        "catalog-api deploy, start → end",
	"total":                    "create → every app healthy and routable",
}

// podApps are the apps of the example pod (storefront and its dependencies).
var podApps = []string{"pricing-api", "catalog-api", "storefront"}

// spinOnce creates the example pod, times it to healthy and routable, reads
// its phases and the specs its deploys ran, and destroys it.
func spinOnce(ctx context.Context, s *podstest.Stack) (map[string]time.Duration, map[string]appSpecs, error) {
	name := s.EnvName("bench")
	start := time.Now()
	_, _, err := s.Pods.Create(ctx, spacepods.CreatePodRequest{Name: name, Apps: []string{"storefront"}})
	benchstat.Check(err)
	// Polled often: the pod's status is in the local store, cheap to read.
	for {
		e, err := s.Store.GetEnvironment(ctx, name)
		benchstat.Check(err)
		if e.Status == spacepods.StatusReady {
			break
		}
		if e.Status == spacepods.StatusFailed {
			log.Fatalf("pod %s failed: %s", name, e.Reason)
		}
		if time.Since(start) > 5*time.Minute {
			log.Fatalf("pod %s still %s after 5 minutes", name, e.Status)
		}
		time.Sleep(2 * time.Millisecond)
	}
	total := time.Since(start)
	status, _, err := s.Get(ctx, name, "storefront", "/")
	benchstat.Check(err)
	if status != 200 {
		log.Fatalf("storefront answered %d after the pod was ready", status)
	}
	out := phases(ctx, s, name)
	out["total"] = total
	specs := map[string]appSpecs{}
	for _, app := range podApps {
		web, task, err := s.Engine().LiveSpecs(ctx, name, app, 1)
		benchstat.Check(err)
		specs[app] = appSpecs{web: web, migrate: task}
	}
	benchstat.Check(s.Pods.Destroy(ctx, name))
	benchstat.Check(s.WaitDestroyed(ctx, name))
	return out, specs, nil
}

type appSpecs struct {
	web     runtime.ServiceSpec
	migrate *runtime.TaskSpec
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
	benchstat.Check(err)
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
	benchstat.Check(err)
	for _, d := range ds {
		maxOf("queue_wait", d.StartedAt.Sub(d.CreatedAt))
		for _, st := range d.Steps {
			if st.StartedAt == nil || st.EndedAt == nil {
				continue
			}
			took := st.EndedAt.Sub(*st.StartedAt)
			if d.App == "catalog-api" {
				out["catalog_"+st.Name] = took
			}
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
		benchstat.Check(err)
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

// floorOnce times each piece of the pod's critical path alone, in an
// environment of its own, with the specs the pod ran: catalog-api's
// database, its migration task, then each app's service from CreateService
// to healthy, one after the other.
func floorOnce(ctx context.Context, s *podstest.Stack, specs map[string]appSpecs) map[string]time.Duration {
	out := map[string]time.Duration{}
	env := s.EnvName("floor")
	benchstat.Check(s.Driver.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}))
	defer func() { _ = s.Driver.DestroyEnvironment(ctx, env) }() // best-effort cleanup; nothing useful to do on failure
	defer func() { _ = s.Databases.DropEnvironment(ctx, env) }() // best-effort cleanup; nothing useful to do on failure

	app, err := s.Catalog.Get(ctx, "catalog-api")
	benchstat.Check(err)
	start := time.Now()
	dbURL, err := s.Engine().EnsureDatabase(ctx, env, app)
	benchstat.Check(err)
	out["database"] = time.Since(start)
	retarget := func(vars map[string]string) map[string]string {
		vars = maps.Clone(vars)
		if _, ok := vars["DATABASE_URL"]; ok {
			vars["DATABASE_URL"] = dbURL
		}
		return vars
	}

	task := *specs["catalog-api"].migrate
	task.Environment, task.Env = env, retarget(task.Env)
	start = time.Now()
	res, err := s.Driver.RunTask(ctx, task)
	benchstat.Check(err)
	if res.ExitCode != 0 {
		log.Fatalf("floor migration exited with %d: %s", res.ExitCode, res.LogTail)
	}
	out["migrate"] = time.Since(start)

	for _, app := range podApps {
		spec := specs[app].web
		spec.Environment, spec.Env = env, retarget(spec.Env)
		start := time.Now()
		benchstat.Check(s.Driver.CreateService(ctx, spec))
		for {
			st, err := s.Driver.ServiceStatus(ctx, env, spec.Name)
			benchstat.Check(err)
			if st.Healthy == 1 {
				break
			}
			if time.Since(start) > time.Minute {
				log.Fatalf("floor service %s not healthy within a minute: %+v", spec.Name, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(start)
		out["service_"+app] = took
		out["service"] = max(out["service"], took)
		benchstat.Check(s.Driver.DeleteService(ctx, env, spec.Name))
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
	benchstat.Check(err)
	_, err = s.Register(ctx, "storefront", strings.Replace(m, "replicas: {default: 1,", "replicas: {default: 4,", 1))
	benchstat.Check(err)
	benchstat.Check(s.AddBuild(ctx, "storefront", podstest.BuildNormal2, ""))
	env := s.EnvName("prod")
	_, err = s.Pods.CreateMaster(ctx, env, false)
	benchstat.Check(err)
	for _, app := range []string{"pricing-api", "catalog-api", "storefront"} {
		d, err := s.Engine().Submit(ctx, deploy.Request{Env: env, App: app, Build: podstest.BuildNormal})
		benchstat.Check(err)
		d, err = s.Engine().WaitDeploy(ctx, d.ID)
		benchstat.Check(err)
		if d.Status != spacepods.DeployCompleted {
			log.Fatalf("setup deploy of %s: %s: %s", app, d.Status, d.Error)
		}
	}
	app, err := s.Catalog.Get(ctx, "storefront")
	benchstat.Check(err)
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
		benchstat.Check(err)
		d, err = s.Engine().WaitDeploy(ctx, d.ID)
		benchstat.Check(err)
		during := l.Stop()
		if d.Status != spacepods.DeployCompleted {
			log.Fatalf("rollout of build %d: %s: %s", build, d.Status, d.Error)
		}
		r := rolloutResult{
			Build: build, Stages: fmt.Sprint(app.Stages()), TotalMS: benchstat.Ms(d.EndedAt.Sub(*d.StartedAt)),
			OK: during.OK, Failed: during.Failed, SuccessRate: during.SuccessRate(),
			P50MS: benchstat.Ms(during.Percentile(50)), P99MS: benchstat.Ms(during.Percentile(99)),
			SteadyP50MS: benchstat.Ms(base.Percentile(50)), SteadyP99MS: benchstat.Ms(base.Percentile(99)),
		}
		evs, err := s.Engine().Events(ctx, d.ID, 0)
		benchstat.Check(err)
		bakeMS := benchstat.Ms(s.Engine().Options.Bake)
		for _, e := range evs {
			if m := stageHealthyRE.FindStringSubmatch(e.Message); m != nil {
				h := benchstat.Ms(parse(m[3]))
				r.StageHealthyMS = append(r.StageHealthyMS, h)
				r.IntrinsicMS += h + bakeMS
			}
			if m := stageDoneRE.FindStringSubmatch(e.Message); m != nil {
				r.StageMS = append(r.StageMS, benchstat.Ms(parse(m[3])))
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
	benchstat.Check(err)
	return d
}
