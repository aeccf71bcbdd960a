// Package drivertest is the conformance suite every runtime driver passes
// (like nomad's plugins/drivers/testutils). It talks to drivers only through
// package runtime, so any driver can run it: see Run.
package drivertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Images names the test images the caller provides.
type Images struct {
	// TestApp is an image FROM scratch holding the testapp program
	// (internal/runtime/drivertest/testapp, built by TestAppBinary) as
	// /app, its ENTRYPOINT ["/app"], with no CMD: a web service on $PORT
	// (8080) by default, a task with the arguments "task ...". See its
	// package comment for what it serves.
	TestApp string
}

// Run runs the conformance suite against the driver that newDriver returns.
// newDriver is called once per test and may return a shared driver; drivers
// must be safe for concurrent use, and two drivers must see the same state
// (a driver holds nothing a restart would lose). They read secret values
// through Secrets. Subtests run in parallel,
// each in its own environment, destroyed when it ends.
func Run(t *testing.T, newDriver func(t *testing.T) runtime.Driver, images Images) {
	run(t, newDriver, images, Options{})
}

func run(t *testing.T, newDriver func(t *testing.T) runtime.Driver, images Images, opts Options) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
		// dataPlane: the case needs replicas and tasks that run (see
		// Options.NoDataPlane).
		dataPlane bool
	}{
		{"Environment/EnsureAndDestroyAreIdempotent", testEnvironmentIdempotent, false},
		{"Environment/DestroyLeavesNothingBehind", testDestroyLeavesNothing, false},
		{"Errors/UnknownThingsAreNotFound", testNotFound, false},
		{"Service/WebLifecycle", testWebLifecycle, true},
		{"Service/AliasesResolveWithinEnvironmentOnly", testAliases, true},
		{"Service/ScalesUpAndDown", testScale, true},
		{"Service/SuspendAndResume", testSuspend, true},
		{"Service/WorkerStateLivesInTheRuntime", testWorkerState, true},
		{"Service/CrashingServiceReportsExitAndLogs", testCrash, true},
		{"Service/CommandReplacesTheEntrypoint", testServiceCommand, true},
		{"Names/PartsThatReadAlikeDoNotCollide", testNamesReadAlike, true},
		{"Service/FailingHealthCheckReportsResponse", testUnhealthy, true},
		{"Service/WaitHealthyEndsOnHealthOrExit", testWaitHealthy, true},
		{"Service/PreparedServiceRunsOnlyOnceCreated", testPrepare, true},
		{"List/FindsServicesAndEnvironmentsByLabels", testList, false},
		{"Service/SecretsReachEveryReplicaAndTask", testSecrets, true},
		{"Task/ExitZeroWithOutputAndEnv", testTaskOK, true},
		{"Task/NonZeroExitIsAResultWithLogTail", testTaskFails, true},
		{"Task/TimeoutKillsTheTask", testTaskTimeout, true},
		{"Task/CommandReplacesTheEntrypoint", testTaskCommand, true},
		{"Task/OutputStreamsWhileItRuns", testTaskOutput, true},
		{"Logs/TailAndFollowAllReplicas", testLogs, true},
		{"Gateway/ContainersReachTheHost", testGateway, true},
		{"Installation/AnotherNeitherSeesNorTouchesIt", testInstallations, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.dataPlane && opts.NoDataPlane != "" {
				t.Skipf("needs a data plane (replicas and tasks that run): %s", opts.NoDataPlane)
			}
			tc.fn(t, &suite{d: newDriver(t), newDriver: newDriver, images: images, opts: opts})
		})
	}
}

func testEnvironmentIdempotent(t *testing.T, s *suite) {
	ctx := s.ctx(t)
	name := uniqueName("env")
	spec := runtime.EnvSpec{Name: name}
	for i := range 2 {
		if err := s.d.EnsureEnvironment(ctx, spec); err != nil {
			t.Fatalf("EnsureEnvironment #%d: %v", i+1, err)
		}
	}
	t.Cleanup(func() { _ = s.d.DestroyEnvironment(context.Background(), name) }) // best-effort cleanup; nothing useful to do on failure
	if envs := listEnvs(t, s); !slices.Contains(envs, name) {
		t.Fatalf("ListEnvironments = %v, missing %s", envs, name)
	}
	for i := range 2 {
		if err := s.d.DestroyEnvironment(ctx, name); err != nil {
			t.Fatalf("DestroyEnvironment #%d: %v", i+1, err)
		}
	}
	if envs := listEnvs(t, s); slices.Contains(envs, name) {
		t.Fatalf("ListEnvironments = %v after destroy, still has %s", envs, name)
	}
	if err := s.d.DestroyEnvironment(ctx, uniqueName("never")); err != nil {
		t.Fatalf("DestroyEnvironment of a never-made environment: %v", err)
	}
	err := s.d.EnsureEnvironment(ctx, runtime.EnvSpec{Name: "Not_A_DNS_Label"})
	wantCode(t, err, spacepods.EINVALID, "EnsureEnvironment(Not_A_DNS_Label)")
}

func testDestroyLeavesNothing(t *testing.T, s *suite) {
	ctx := s.ctx(t)
	env := s.env(t, "destroy")
	s.create(t, s.web(env, "web", nil))
	idle := s.web(env, "idle", nil)
	idle.Replicas = 0
	s.create(t, idle)
	if _, err := s.d.RunTask(ctx, s.task(env, "migrate", "-say=migrated")); err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	if got := listServices(t, s, env); len(got) != 2 {
		t.Fatalf("ListServices before destroy = %s, want web and idle", toJSON(got))
	}

	if err := s.d.DestroyEnvironment(ctx, env); err != nil {
		t.Fatalf("DestroyEnvironment: %v", err)
	}
	if got := listServices(t, s, env); len(got) != 0 {
		t.Fatalf("ListServices after destroy = %s, want none", toJSON(got))
	}
	for _, st := range listServices(t, s, "") {
		if st.Environment == env {
			t.Fatalf("ListServices(\"\") after destroy still has %s/%s", env, st.Name)
		}
	}
	if envs := listEnvs(t, s); slices.Contains(envs, env) {
		t.Fatalf("ListEnvironments after destroy = %v, still has %s", envs, env)
	}
	_, err := s.d.ServiceStatus(ctx, env, "web")
	wantCode(t, err, spacepods.ENOTFOUND, "ServiceStatus after destroy")

	// Made again, it starts empty.
	if err := s.d.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}); err != nil {
		t.Fatalf("EnsureEnvironment again: %v", err)
	}
	if got := listServices(t, s, env); len(got) != 0 {
		t.Fatalf("ListServices of the re-made environment = %s, want none", toJSON(got))
	}
}

func testNotFound(t *testing.T, s *suite) {
	ctx := s.ctx(t)
	missing := uniqueName("missing")
	err := s.d.CreateService(ctx, s.web(missing, "web", nil))
	wantCode(t, err, spacepods.ENOTFOUND, "CreateService in a missing environment")
	_, err = s.d.RunTask(ctx, s.task(missing, "migrate"))
	wantCode(t, err, spacepods.ENOTFOUND, "RunTask in a missing environment")

	env := s.env(t, "notfound")
	_, err = s.d.ServiceStatus(ctx, env, "nope")
	wantCode(t, err, spacepods.ENOTFOUND, "ServiceStatus of an unknown service")
	err = s.d.ScaleService(ctx, env, "nope", 2)
	wantCode(t, err, spacepods.ENOTFOUND, "ScaleService of an unknown service")
	_, err = s.d.Logs(ctx, env, "nope", runtime.LogOptions{})
	wantCode(t, err, spacepods.ENOTFOUND, "Logs of an unknown service")
	if err := s.d.DeleteService(ctx, env, "nope"); err != nil {
		t.Fatalf("DeleteService of an unknown service: %v", err)
	}
	if g, ok := s.d.(runtime.Gatewayer); ok {
		_, err := g.HostAddress(ctx, missing)
		wantCode(t, err, spacepods.ENOTFOUND, "HostAddress of a missing environment")
	}
}

func testWebLifecycle(t *testing.T, s *suite) {
	env := s.env(t, "web")
	spec := s.web(env, "catalog-api-r1", map[string]string{ //nolint:gosec // a fake credential in a test fixture
		"GREETING":     "hello world",
		"DATABASE_URL": "postgres://app:s3cr=t@db:5432/app?sslmode=disable",
	})
	spec.App = "catalog-api"
	spec.Release = 7
	spec.Labels = map[string]string{"spacepods.team": "payments"}
	s.create(t, spec)

	var st runtime.ServiceStatus
	t.Run("BecomesRunningAndHealthy", func(t *testing.T) {
		st = s.healthy(t, env, spec.Name, 1)
		if st.Name != spec.Name || st.Environment != env || st.App != "catalog-api" || st.Release != 7 || st.Role != runtime.RoleWeb {
			t.Errorf("status identity = %s, want the spec's name, environment, app, release and role", toJSON(st))
		}
		if st.Labels["spacepods.team"] != "payments" {
			t.Errorf("status labels = %v, want the extra label spacepods.team=payments", st.Labels)
		}
		host, port, err := net.SplitHostPort(st.Replicas[0].Addr)
		if s.simulated() {
			if err != nil || host == "" || port != "8080" {
				t.Fatalf("replica address %q is not <host>:8080", st.Replicas[0].Addr)
			}
			return // nothing answers at a simulated replica
		}
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("replica address %q is not 127.0.0.1:<port>", st.Replicas[0].Addr)
		}
		if code, body := get(t, "http://"+st.Replicas[0].Addr+"/healthz"); code != http.StatusOK {
			t.Fatalf("GET /healthz on the replica address = %d %s", code, body)
		}
	})
	if t.Failed() {
		return
	}
	t.Run("EnvVarsReachTheContainer", func(t *testing.T) {
		var got map[string]string
		if s.simulated() {
			var err error
			if got, err = s.opts.Simulated.Env(s.ctx(t), env, spec.Name); err != nil {
				t.Fatalf("Simulation.Env: %v", err)
			}
		} else {
			_, body := get(t, "http://"+st.Replicas[0].Addr+"/env")
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("GET /env: %v in %q", err, body)
			}
		}
		for k, v := range spec.Env {
			if got[k] != v {
				t.Errorf("container env %s = %q, want %q", k, got[k], v)
			}
		}
	})
	t.Run("CreateAgainIsANoOp", func(t *testing.T) {
		if err := s.d.CreateService(s.ctx(t), spec); err != nil {
			t.Fatalf("CreateService with the same spec again: %v", err)
		}
		if got := s.healthy(t, env, spec.Name, 1); got.Replicas[0].ID != st.Replicas[0].ID {
			t.Fatalf("replica %s replaced by %s on a repeated CreateService", st.Replicas[0].ID, got.Replicas[0].ID)
		}
	})
	t.Run("CreateWithAnotherReleaseConflicts", func(t *testing.T) {
		other := spec
		other.Release = 8
		err := s.d.CreateService(s.ctx(t), other)
		wantCode(t, err, spacepods.ECONFLICT, "CreateService with the same name and another release")
	})
	t.Run("DeleteIsIdempotent", func(t *testing.T) {
		ctx := s.ctx(t)
		for i := range 2 {
			if err := s.d.DeleteService(ctx, env, spec.Name); err != nil {
				t.Fatalf("DeleteService #%d: %v", i+1, err)
			}
		}
		_, err := s.d.ServiceStatus(ctx, env, spec.Name)
		wantCode(t, err, spacepods.ENOTFOUND, "ServiceStatus after DeleteService")
		if got := listServices(t, s, env); len(got) != 0 {
			t.Fatalf("ListServices after DeleteService = %s", toJSON(got))
		}
	})
}

func testAliases(t *testing.T, s *suite) {
	envA, envB := s.env(t, "alias-a"), s.env(t, "alias-b")
	backend := s.web(envA, "catalog-api-r3", map[string]string{"MARK": "backend-in-a"})
	backend.Aliases = []string{"catalog-api"}
	s.create(t, backend)
	s.create(t, s.web(envA, "frontend", nil))
	s.create(t, s.web(envB, "frontend", nil))
	front := s.healthy(t, envA, "frontend", 1)
	frontB := s.healthy(t, envB, "frontend", 1)
	back := s.healthy(t, envA, backend.Name, 1)

	if s.simulated() {
		want := []string{back.Replicas[0].Addr}
		if got := s.resolveEventually(t, envA, "catalog-api", func(a []string) bool { return containsAll(a, want) }); !containsAll(got, want) {
			t.Fatalf("catalog-api in %s resolves to %v, want the backend replica %v", envA, got, want)
		}
		if got := s.resolveEventually(t, envA, "frontend", func(a []string) bool { return len(a) > 0 }); !slices.Contains(got, front.Replicas[0].Addr) {
			t.Fatalf("frontend in %s resolves to %v, want its replica %s", envA, got, front.Replicas[0].Addr)
		}
		if got, err := s.opts.Simulated.Resolve(s.ctx(t), envB, "catalog-api"); err != nil || len(got) > 0 {
			t.Fatalf("catalog-api in %s (it lives in %s) resolves to %v (err %v), want nothing", envB, envA, got, err)
		}
		return
	}
	target := url.QueryEscape("http://catalog-api:8080/env")
	code, body := get(t, "http://"+front.Replicas[0].Addr+"/call?url="+target)
	if code != http.StatusOK || !strings.Contains(body, "backend-in-a") {
		t.Fatalf("frontend in %s calling http://catalog-api:8080/env = %d %s, want 200 with the backend's env", envA, code, body)
	}
	code, body = get(t, "http://"+frontB.Replicas[0].Addr+"/call?url="+target)
	if code == http.StatusOK {
		t.Fatalf("frontend in %s reached catalog-api of %s: %s", envB, envA, body)
	}
}

func testScale(t *testing.T, s *suite) {
	ctx := s.ctx(t)
	env := s.env(t, "scale")
	s.create(t, s.web(env, "web", nil))
	first := s.healthy(t, env, "web", 1).Replicas[0]

	if err := s.d.ScaleService(ctx, env, "web", 3); err != nil {
		t.Fatalf("ScaleService(3): %v", err)
	}
	st := s.healthy(t, env, "web", 3)
	addrs := map[string]bool{}
	for _, r := range st.Replicas {
		addrs[r.Addr] = true
		if s.simulated() {
			continue
		}
		if code, _ := get(t, "http://"+r.Addr+"/healthz"); code != http.StatusOK {
			t.Fatalf("replica %s at %s answered %d", r.ID, r.Addr, code)
		}
	}
	if len(addrs) != 3 {
		t.Fatalf("3 replicas with addresses %v, want 3 distinct ones", addrs)
	}

	if err := s.d.ScaleService(ctx, env, "web", 1); err != nil {
		t.Fatalf("ScaleService(1): %v", err)
	}
	if st := s.healthy(t, env, "web", 1); st.Replicas[0].ID != first.ID {
		t.Fatalf("after scaling 3 → 1 the replica left is %s, want the oldest, %s", st.Replicas[0].ID, first.ID)
	}
	err := s.d.ScaleService(ctx, env, "web", -1)
	wantCode(t, err, spacepods.EINVALID, "ScaleService(-1)")
}

// testWorkerState scales a worker to zero and back with another driver
// instance: the spec and desired count must live in the runtime.
func testWorkerState(t *testing.T, s *suite) {
	ctx := s.ctx(t)
	env := s.env(t, "worker")
	spec := s.web(env, "mailer-worker", map[string]string{"MARK": "worker"})
	spec.Role, spec.Port, spec.Health = runtime.RoleWorker, 0, runtime.HealthCheck{}
	spec.Replicas = 2
	s.create(t, spec)
	s.healthy(t, env, spec.Name, 2) // a running worker is healthy

	other := s.newDriver(t)
	if err := other.ScaleService(ctx, env, spec.Name, 0); err != nil {
		t.Fatalf("ScaleService(0) with a second driver: %v", err)
	}
	st, err := s.d.ServiceStatus(ctx, env, spec.Name)
	if err != nil {
		t.Fatalf("ServiceStatus of a service scaled to zero: %v", err)
	}
	if st.Desired != 0 || len(st.Replicas) != 0 || st.Role != runtime.RoleWorker {
		t.Fatalf("status after scaling to zero = %s, want a worker with desired 0 and no replicas", toJSON(st))
	}
	if err := other.ScaleService(ctx, env, spec.Name, 2); err != nil {
		t.Fatalf("ScaleService(2) from zero: %v", err)
	}
	st = s.healthy(t, env, spec.Name, 2)
	for _, r := range st.Replicas {
		if r.Addr != "" {
			t.Errorf("worker replica %s has address %q, want none", r.ID, r.Addr)
		}
	}
}

func testCrash(t *testing.T, s *suite) {
	env := s.env(t, "crash")
	s.create(t, s.web(env, "crasher", map[string]string{"TESTAPP_MODE": "crash", "TESTAPP_EXIT_CODE": "3"}))
	s.waitFor(t, env, "crasher", "an error with exit code 3 and the crash log line, a restart and 2 crashes", func(st runtime.ServiceStatus) bool {
		return st.Desired == 1 && st.Healthy == 0 && len(st.Replicas) == 1 && st.Replicas[0].Restarts > 0 &&
			st.Replicas[0].Crashes >= 2 &&
			strings.Contains(st.Replicas[0].Error, "code 3") &&
			strings.Contains(st.Replicas[0].Error, "crashing on purpose")
	})
}

func testUnhealthy(t *testing.T, s *suite) {
	env := s.env(t, "unhealthy")
	s.create(t, s.web(env, "sick", map[string]string{"TESTAPP_HEALTH_STATUS": "503"}))
	s.waitFor(t, env, "sick", "running, unhealthy, with the 503 in the error", func(st runtime.ServiceStatus) bool {
		return st.Running == 1 && st.Healthy == 0 && strings.Contains(st.Replicas[0].Error, "503")
	})
}

func testList(t *testing.T, s *suite) {
	envA, envB := s.env(t, "list-a"), s.env(t, "list-b")
	a := s.web(envA, "search-r2", nil)
	a.App, a.Release, a.Replicas = "search", 2, 0
	a.Labels = map[string]string{"spacepods.team": "search"}
	s.create(t, a)
	b := s.web(envB, "billing-r5", nil)
	b.App, b.Release, b.Role, b.Replicas = "billing", 5, runtime.RoleWorker, 0
	s.create(t, b)

	got := listServices(t, s, envA)
	if len(got) != 1 {
		t.Fatalf("ListServices(%s) = %s, want only search-r2", envA, toJSON(got))
	}
	if g := got[0]; g.Name != "search-r2" || g.Environment != envA || g.App != "search" || g.Release != 2 ||
		g.Role != runtime.RoleWeb || g.Labels["spacepods.team"] != "search" {
		t.Fatalf("ListServices(%s)[0] = %s, want search-r2 with its app, release, role and labels", envA, toJSON(g))
	}
	all := map[string]runtime.ServiceStatus{}
	for _, st := range listServices(t, s, "") {
		all[st.Environment+"/"+st.Name] = st
	}
	if _, ok := all[envA+"/search-r2"]; !ok {
		t.Errorf("ListServices(\"\") misses %s/search-r2", envA)
	}
	if st, ok := all[envB+"/billing-r5"]; !ok || st.App != "billing" || st.Release != 5 || st.Role != runtime.RoleWorker {
		t.Errorf("ListServices(\"\") has %s/billing-r5 = %s, want app billing, release 5, role worker", envB, toJSON(st))
	}
	envs := listEnvs(t, s)
	if !slices.Contains(envs, envA) || !slices.Contains(envs, envB) {
		t.Errorf("ListEnvironments = %v, want %s and %s", envs, envA, envB)
	}
}

// task is a testapp task run through the image's ENTRYPOINT: Args are
// "task" and args.
func (s *suite) task(env, name string, args ...string) runtime.TaskSpec {
	return runtime.TaskSpec{
		Name:        name,
		Environment: env,
		App:         "catalog-api",
		Release:     3,
		Image:       s.images.TestApp,
		Args:        append([]string{"task"}, args...),
		Timeout:     time.Minute,
	}
}

func testTaskOK(t *testing.T, s *suite) {
	env := s.env(t, "task-ok")
	task := s.task(env, "migrate", "-say=hello from task", "-env=GREETING")
	task.Env = map[string]string{"GREETING": "hi there"}
	res, err := s.d.RunTask(s.ctx(t), task)
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	if res.ExitCode != 0 {
		t.Errorf("exit code %d, want 0", res.ExitCode)
	}
	if s.simulated() {
		return // no program printed anything
	}
	for _, want := range []string{"hello from task", "GREETING=hi there", "task: exiting with code 0"} {
		if !strings.Contains(res.LogTail, want) {
			t.Errorf("log tail %q misses %q", res.LogTail, want)
		}
	}
	if got := listServices(t, s, env); len(got) != 0 {
		t.Errorf("ListServices after a task = %s, want none (tasks are not services)", toJSON(got))
	}
}

func testTaskFails(t *testing.T, s *suite) {
	env := s.env(t, "task-fail")
	res, err := s.d.RunTask(s.ctx(t), s.task(env, "migrate", "-lines=20000", "-sleep=300ms", "-exit=7"))
	if err != nil {
		t.Fatalf("RunTask of a failing task returned an error (want it in the result): %v", err)
	}
	if res.ExitCode != 7 {
		t.Errorf("exit code %d, want 7", res.ExitCode)
	}
	if len(res.LogTail) > 64<<10 {
		t.Errorf("log tail is %d bytes, want at most 64 KiB", len(res.LogTail))
	}
	if s.simulated() {
		return // no program printed the lines
	}
	if !strings.HasPrefix(res.LogTail, "line ") {
		t.Errorf("log tail starts with %q, want a whole line", res.LogTail[:min(20, len(res.LogTail))])
	}
	for _, want := range []string{"line 020000\n", "task: exiting with code 7"} {
		if !strings.Contains(res.LogTail, want) {
			t.Errorf("log tail misses %q (it ends with %q)", want, res.LogTail[max(0, len(res.LogTail)-100):])
		}
	}
	if strings.Contains(res.LogTail, "line 000001\n") {
		t.Errorf("log tail has the first line of 20000: it was not cut to the tail")
	}
}

func testTaskTimeout(t *testing.T, s *suite) {
	env := s.env(t, "task-timeout")
	task := s.task(env, "slow", "-say=started", "-sleep=5m")
	task.Timeout = 2 * time.Second
	start := time.Now()
	res, err := s.d.RunTask(s.ctx(t), task)
	if err == nil {
		t.Fatalf("RunTask of a task past its timeout returned no error (result %s)", toJSON(res))
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("RunTask took %s with a 2s timeout", took)
	}
	if !s.simulated() && !strings.Contains(res.LogTail, "started") {
		t.Errorf("log tail %q of the killed task misses its output", res.LogTail)
	}
}

// hasMarkers reports whether lines hold "] marker-<i>" for each of n replicas.
func hasMarkers(lines []string, n int) bool {
	for i := range n {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, fmt.Sprintf("] marker-%d", i)) }) {
			return false
		}
	}
	return true
}

// replicaLine is how every log line starts: "[<replica>] ".
var replicaLine = regexp.MustCompile(`^\[[^\]]+\] `)

func testLogs(t *testing.T, s *suite) {
	env := s.env(t, "logs")
	spec := s.web(env, "web", nil)
	spec.Replicas = 2
	s.create(t, spec)
	st := s.healthy(t, env, "web", 2)
	for i, r := range st.Replicas {
		if !s.simulated() {
			get(t, fmt.Sprintf("http://%s/log?msg=marker-%d", r.Addr, i))
		}
	}

	t.Run("All", func(t *testing.T) {
		lines := readLogs(t, s, env, runtime.LogOptions{})
		// A line a replica has written reaches the runtime's log store a
		// moment later (Docker's log driver writes it asynchronously): on a
		// loaded machine, read again until the markers are there.
		for deadline := time.Now().Add(15 * time.Second); !s.simulated() && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if hasMarkers(lines, len(st.Replicas)) {
				break
			}
			lines = readLogs(t, s, env, runtime.LogOptions{})
		}
		for i, r := range st.Replicas {
			if s.simulated() { // the runtime's own log lines, from every replica
				if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "["+r.ID+"] ") }) {
					t.Errorf("logs %q have no line of replica %s", lines, r.ID)
				}
				continue
			}
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, fmt.Sprintf("] marker-%d", i)) }) {
				t.Errorf("logs %q miss marker-%d", lines, i)
			}
		}
	})
	t.Run("Tail", func(t *testing.T) {
		lines := readLogs(t, s, env, runtime.LogOptions{Tail: 1})
		if len(lines) != 2 {
			t.Fatalf("logs with tail 1 of 2 replicas = %q, want 2 lines", lines)
		}
	})
	t.Run("Follow", func(t *testing.T) {
		ctx := s.ctx(t)
		rc, err := s.d.Logs(ctx, env, "web", runtime.LogOptions{Follow: true, Tail: 1})
		if err != nil {
			t.Fatalf("Logs(follow): %v", err)
		}
		lines := make(chan string, 100)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(rc)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		marker := "] followed"
		if s.simulated() {
			marker = "" // any line of the runtime's own
		} else {
			get(t, "http://"+st.Replicas[1].Addr+"/log?msg=followed")
		}
		timeout := time.After(20 * time.Second)
	wait:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("log stream ended before the followed line came")
				}
				if !replicaLine.MatchString(l) {
					t.Errorf("log line %q has no replica prefix", l)
				}
				if strings.HasSuffix(l, marker) {
					break wait
				}
			case <-timeout:
				t.Fatal("the followed line did not come within 20s")
			}
		}
		rc.Close()
		select {
		case <-drain(lines):
		case <-time.After(10 * time.Second):
			t.Fatal("log stream did not end within 10s of Close")
		}
	})
}

// readLogs reads a service's logs to the end and checks every line's prefix.
func readLogs(t *testing.T, s *suite, env string, opts runtime.LogOptions) []string {
	t.Helper()
	rc, err := s.d.Logs(s.ctx(t), env, "web", opts)
	if err != nil {
		t.Fatalf("Logs(%+v): %v", opts, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read logs: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for _, l := range lines {
		if !replicaLine.MatchString(l) {
			t.Errorf("log line %q has no replica prefix", l)
		}
	}
	return lines
}

func drain(lines <-chan string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range lines {
		}
		close(done)
	}()
	return done
}

// testGateway checks that a container reaches a server on the host at the
// environment's host address (where PostgreSQL listens in real use).
func testGateway(t *testing.T, s *suite) {
	g, ok := s.d.(runtime.Gatewayer)
	if !ok {
		t.Skip("driver has no runtime.Gatewayer")
	}
	if s.simulated() {
		t.Skip("a simulated runtime runs no container that could call the host")
	}
	env := s.env(t, "gateway")
	addr, err := g.HostAddress(s.ctx(t), env)
	if err != nil {
		t.Fatalf("HostAddress: %v", err)
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		t.Fatalf("HostAddress = %q, not an IP address", addr)
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Fatalf("listen on the host address %s: %v", ip, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { //nolint:gosec // a test server on loopback for the length of one test
		fmt.Fprint(w, "hello from the host")
	})}
	go func() { _ = srv.Serve(ln) }()     // returns when the listener is closed at shutdown
	t.Cleanup(func() { _ = srv.Close() }) // best-effort cleanup; nothing useful to do on failure

	// Hosts put a name in the replicas' /etc/hosts: here the host's.
	web := s.web(env, "web", nil)
	web.Hosts = map[string]string{"host.spacepods.test": ip.String()}
	s.create(t, web)
	st := s.healthy(t, env, "web", 1)
	target := url.QueryEscape("http://" + ln.Addr().String() + "/")
	if code, body := get(t, "http://"+st.Replicas[0].Addr+"/call?url="+target); code != http.StatusOK || body != "hello from the host" {
		t.Fatalf("container calling the host at %s = %d %q", ln.Addr(), code, body)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	target = url.QueryEscape("http://host.spacepods.test:" + port + "/")
	if code, body := get(t, "http://"+st.Replicas[0].Addr+"/call?url="+target); code != http.StatusOK || body != "hello from the host" {
		t.Fatalf("container calling the host by the name in its Hosts = %d %q", code, body)
	}
	// A replica added later (from the stored spec) has the entry too.
	if err := s.d.ScaleService(s.ctx(t), env, "web", 2); err != nil {
		t.Fatal(err)
	}
	st = s.healthy(t, env, "web", 2)
	if code, body := get(t, "http://"+st.Replicas[1].Addr+"/call?url="+target); code != http.StatusOK || body != "hello from the host" {
		t.Fatalf("the scaled-up replica calling the host by name = %d %q", code, body)
	}
}

func listServices(t *testing.T, s *suite, env string) []runtime.ServiceStatus {
	t.Helper()
	got, err := s.d.ListServices(s.ctx(t), env)
	if err != nil {
		t.Fatalf("ListServices(%q): %v", env, err)
	}
	return got
}

func listEnvs(t *testing.T, s *suite) []string {
	t.Helper()
	got, err := s.d.ListEnvironments(s.ctx(t))
	if err != nil {
		t.Fatalf("ListEnvironments: %v", err)
	}
	return got
}

// testServiceCommand: a service's Command is its whole process (it replaces
// the image's ENTRYPOINT, /app, and CMD) and its Args follow; Args alone
// follow the image's ENTRYPOINT. A replica added later runs the same.
func testServiceCommand(t *testing.T, s *suite) {
	env := s.env(t, "command")
	whole := s.web(env, "whole", nil)
	whole.Command, whole.Args = []string{"/app", "-first"}, []string{"-second"}
	s.create(t, whole)
	kept := s.web(env, "kept", nil)
	kept.Args = []string{"-only"}
	s.create(t, kept)
	for _, c := range []struct {
		spec runtime.ServiceSpec
		argv []string // the process's command line
	}{
		{whole, []string{"/app", "-first", "-second"}},
		{kept, []string{"/app", "-only"}},
	} {
		st := s.healthy(t, env, c.spec.Name, 1)
		if s.simulated() {
			command, args, err := s.opts.Simulated.Process(s.ctx(t), env, c.spec.Name)
			if err != nil {
				t.Fatalf("Simulation.Process(%s): %v", c.spec.Name, err)
			}
			if !slices.Equal(command, c.spec.Command) || !slices.Equal(args, c.spec.Args) {
				t.Errorf("service %s runs command %q args %q, want command %q args %q", c.spec.Name, command, args, c.spec.Command, c.spec.Args)
			}
			continue
		}
		if got := argv(t, st.Replicas[0]); !slices.Equal(got, c.argv) {
			t.Errorf("service %s (Command %q, Args %q) runs %q, want %q", c.spec.Name, c.spec.Command, c.spec.Args, got, c.argv)
		}
	}
	if s.simulated() {
		return
	}
	if err := s.d.ScaleService(s.ctx(t), env, whole.Name, 2); err != nil {
		t.Fatal(err)
	}
	st := s.healthy(t, env, whole.Name, 2)
	if got, want := argv(t, st.Replicas[1]), []string{"/app", "-first", "-second"}; !slices.Equal(got, want) {
		t.Errorf("the scaled-up replica runs %q, want %q", got, want)
	}
}

// argv asks a testapp replica for its command line.
func argv(t *testing.T, r runtime.Replica) []string {
	t.Helper()
	code, body := get(t, "http://"+r.Addr+"/args")
	var out []string
	if err := json.Unmarshal([]byte(body), &out); code != http.StatusOK || err != nil {
		t.Fatalf("GET /args on replica %s = %d %q (%v)", r.ID, code, body, err)
	}
	return out
}

// testTaskCommand: a task's Command is its whole process. Run after the
// image's ENTRYPOINT (/app /app task ...), this one would start a web
// server and never end.
func testTaskCommand(t *testing.T, s *suite) {
	env := s.env(t, "task-command")
	task := s.task(env, "migrate")
	task.Args = nil
	task.Command = []string{"/app", "task", "-say=ran as given", "-exit=4"}
	task.Timeout = 30 * time.Second
	res, err := s.d.RunTask(s.ctx(t), task)
	if err != nil {
		t.Fatalf("RunTask with Command %q: %v (log tail %q)", task.Command, err, res.LogTail)
	}
	if res.ExitCode != 4 {
		t.Errorf("exit code %d, want 4 (log tail %q)", res.ExitCode, res.LogTail)
	}
	if !s.simulated() && !strings.Contains(res.LogTail, "ran as given") {
		t.Errorf("log tail %q misses the task's output", res.LogTail)
	}
}

// testTaskOutput: TaskSpec.Output gets the task's output while it runs.
func testTaskOutput(t *testing.T, s *suite) {
	env := s.env(t, "task-output")
	out := &syncBuffer{}
	task := s.task(env, "slow", "-say=first line", "-sleep=4s")
	task.Output = out
	want := "first line"
	if s.simulated() {
		want = "" // any line of the runtime's own
	}
	done := make(chan struct{})
	var res runtime.TaskResult
	var err error
	go func() {
		defer close(done)
		res, err = s.d.RunTask(s.ctx(t), task)
	}()
	seen := false
	for !seen {
		select {
		case <-done:
			t.Fatalf("the task ended (%v, log tail %q) before its output %q reached Output; Output has %q", err, res.LogTail, want, out.String())
		case <-time.After(50 * time.Millisecond):
			got := out.String()
			seen = got != "" && strings.Contains(got, want)
		}
	}
	<-done
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("RunTask: exit %d, %v", res.ExitCode, err)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testNamesReadAlike: environment X-b with service c-r1 and environment X
// with service b-c-r1 read alike joined by dashes (X-b-c-r1); both run, and
// each is itself.
func testNamesReadAlike(t *testing.T, s *suite) {
	base := uniqueName("nm")
	envAB, envA := s.envNamed(t, base+"-b"), s.envNamed(t, base)
	one := s.web(envAB, "c-r1", map[string]string{"MARK": "in " + envAB})
	two := s.web(envA, "b-c-r1", map[string]string{"MARK": "in " + envA})
	s.create(t, one)
	s.create(t, two)
	for _, spec := range []runtime.ServiceSpec{one, two} {
		st := s.healthy(t, spec.Environment, spec.Name, 1)
		if st.Environment != spec.Environment || st.Name != spec.Name {
			t.Errorf("status of %s/%s = %s", spec.Environment, spec.Name, toJSON(st))
		}
		if got := listServices(t, s, spec.Environment); len(got) != 1 || got[0].Name != spec.Name {
			t.Errorf("ListServices(%s) = %s, want only %s", spec.Environment, toJSON(got), spec.Name)
		}
		if s.simulated() {
			continue
		}
		var env map[string]string
		if _, body := get(t, "http://"+st.Replicas[0].Addr+"/env"); json.Unmarshal([]byte(body), &env) != nil || env["MARK"] != spec.Env["MARK"] {
			t.Errorf("the replica of %s/%s answers with env %q, want MARK=%q", spec.Environment, spec.Name, body, spec.Env["MARK"])
		}
	}
	if err := s.d.DeleteService(s.ctx(t), envA, two.Name); err != nil {
		t.Fatal(err)
	}
	s.healthy(t, envAB, one.Name, 1)
}
