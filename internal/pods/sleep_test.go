package pods_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/pods/podstest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// waitSleep waits until the pod's sleep state is want.
func waitSleep(t *testing.T, s *podstest.Stack, env, want string, timeout time.Duration) spacepods.EnvironmentView {
	t.Helper()
	ctx := podstest.Context(t, timeout)
	for {
		v, err := s.Pods.Show(ctx, env)
		if err == nil && v.Sleep != nil && v.Sleep.State == want {
			return v
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s never got %q (now %+v, %v)\n%s", env, want, v.Sleep, err, events(t, s, env))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// countEvents counts the pod's events of app that contain text, waiting a
// little for the first: a wake records its events just after the held
// requests are released.
func countEvents(t *testing.T, s *podstest.Stack, env, app, text string) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n := countEventsNow(t, s, env, app, text); n > 0 {
			return n
		}
	}
	return countEventsNow(t, s, env, app, text)
}

func countEventsNow(t *testing.T, s *podstest.Stack, env, app, text string) int {
	t.Helper()
	evs, err := s.Pods.Events(context.Background(), env, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.App == app && strings.Contains(e.Message, text) {
			n++
		}
	}
	return n
}

// running returns how many replicas of app's services run on Docker, once
// the count stops falling (an app is recorded asleep before its containers
// stop) or 30 s pass.
func running(t *testing.T, s *podstest.Stack, env, app string) int {
	t.Helper()
	n := runningNow(t, s, env, app)
	for deadline := time.Now().Add(30 * time.Second); n > 0 && time.Now().Before(deadline); n = runningNow(t, s, env, app) {
		time.Sleep(100 * time.Millisecond)
	}
	return n
}

func runningNow(t *testing.T, s *podstest.Stack, env, app string) int {
	t.Helper()
	svcs, err := s.Driver.ListServices(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, svc := range svcs {
		if svc.App == app {
			n += svc.Running
		}
	}
	return n
}

func TestSleep_IdlePodSleepsAndTwentyRequestsShareOneWake(t *testing.T) {
	s := podstest.Start(t, podstest.Config{SleepEvery: 200 * time.Millisecond})
	name, awake := s.EnvName("sleepy"), s.EnvName("awake")
	var wg sync.WaitGroup
	wg.Go(func() {
		createPod(t, s, spacepods.CreatePodRequest{Name: name, Apps: []string{"storefront"}, IdleTimeout: "3s"})
	})
	wg.Go(func() {
		createPod(t, s, spacepods.CreatePodRequest{Name: awake, Apps: []string{"pricing-api"}, IdleTimeout: "1s", KeepAwake: true})
	})
	wg.Wait()

	v := waitSleep(t, s, name, spacepods.SleepAsleep, time.Minute)
	if got := strings.Join(v.Sleep.Asleep, ","); got != "catalog-api,pricing-api,storefront" {
		t.Fatalf("asleep: %s", got)
	}
	for _, app := range []string{"storefront", "catalog-api", "pricing-api"} {
		if n := running(t, s, name, app); n != 0 {
			t.Fatalf("%s asleep with %d replicas running", app, n)
		}
		if n := countEvents(t, s, name, app, "sleeping: idle 3s"); n != 1 {
			t.Fatalf("%s: %d sleeping events\n%s", app, n, events(t, s, name))
		}
	}
	// The keep-awake pod, idle as long, still runs.
	if w, err := s.Pods.Show(context.Background(), awake); err != nil || w.Sleep == nil || w.Sleep.State != spacepods.SleepAwake || w.Sleep.IdleTimeout != "off" {
		t.Fatalf("keep-awake pod: %+v %v", w.Sleep, err)
	}
	if n := runningNow(t, s, awake, "pricing-api"); n != 1 {
		t.Fatalf("keep-awake pod runs %d replicas", n)
	}

	// 20 first requests at once: every one is held, then answered by the
	// woken app (which calls its woken dependencies for the page).
	ctx := podstest.Context(t, 2*time.Minute)
	const n = 20
	codes := make([]int, n)
	bodies := make([]string, n)
	var reqs sync.WaitGroup
	start := time.Now()
	for i := range n {
		reqs.Go(func() {
			var err error
			codes[i], bodies[i], err = s.Get(ctx, name, "storefront", "/")
			if err != nil {
				bodies[i] = err.Error()
			}
		})
	}
	reqs.Wait()
	t.Logf("20 requests to an asleep pod answered in %s", time.Since(start))
	for i := range n {
		if codes[i] != http.StatusOK {
			t.Fatalf("request %d: %d %s\n%s", i, codes[i], bodies[i], events(t, s, name))
		}
	}
	for _, app := range []string{"storefront", "catalog-api", "pricing-api"} {
		if n := countEvents(t, s, name, app, "woken by a request to "+s.Host(name, "storefront")); n != 1 {
			t.Fatalf("%s: %d wake events, want exactly 1\n%s", app, n, events(t, s, name))
		}
	}
}

func TestSleep_AsleepDependencyWakesOnAnAppsCall(t *testing.T) {
	s := podstest.Start(t, podstest.Config{SleepEvery: 200 * time.Millisecond})
	name := s.EnvName("deps")
	createPod(t, s, spacepods.CreatePodRequest{Name: name, Apps: []string{"storefront"}})
	ctx := podstest.Context(t, 2*time.Minute)
	// Only the dependency sleeps; storefront stays awake (the pod has no
	// idle timeout: the stack's server default is off).
	for _, app := range []string{"catalog-api", "pricing-api"} {
		if _, err := s.Pods.Sleep(ctx, name, app); err != nil {
			t.Fatalf("sleep %s: %v", app, err)
		}
	}
	v := waitSleep(t, s, name, spacepods.SleepPartly, 10*time.Second)
	if strings.Join(v.Sleep.Asleep, ",") != "catalog-api,pricing-api" || v.Sleep.IdleTimeout != "off" {
		t.Fatalf("sleep: %+v", v.Sleep)
	}
	// storefront's call to catalog-api goes through the router's internal
	// listener, which holds it and wakes catalog-api and pricing-api. The
	// example apps give up on a call after 3 s (appkit.Client): on a loaded
	// machine the wake may take longer, and storefront answers that its
	// catalog is unavailable, not the router; the next request is served.
	code, body, err := s.Get(ctx, name, "storefront", "/")
	if err != nil || (code != http.StatusOK && !strings.Contains(body, "The catalog is unavailable right now")) {
		t.Fatalf("GET storefront: %d %v %s\n%s", code, err, body, events(t, s, name))
	}
	waitSleep(t, s, name, spacepods.SleepAwake, 30*time.Second)
	if code != http.StatusOK {
		t.Logf("the first call outlasted storefront's 3 s client timeout; retrying once awake")
		if code, body, err = s.Get(ctx, name, "storefront", "/"); err != nil || code != http.StatusOK {
			t.Fatalf("GET storefront once its dependencies are awake: %d %v %s\n%s", code, err, body, events(t, s, name))
		}
	}
	catalogHost := s.Host(name, "catalog-api")
	for _, app := range []string{"catalog-api", "pricing-api"} {
		if n := countEvents(t, s, name, app, "woken by a request to "+catalogHost); n != 1 {
			t.Fatalf("%s: %d wake events by the internal call, want 1\n%s", app, n, events(t, s, name))
		}
	}
	if n := countEventsNow(t, s, name, "storefront", "woken"); n != 0 {
		t.Fatalf("storefront was never asleep, yet has wake events\n%s", events(t, s, name))
	}
}

func TestSleep_FailedWakeAnswersWithAPageNamingTheAppAndWhy(t *testing.T) {
	s := podstest.Start(t, podstest.Config{SleepEvery: 200 * time.Millisecond})
	name := s.EnvName("broken")
	createPod(t, s, spacepods.CreatePodRequest{Name: name, Apps: []string{"pricing-api"}})
	ctx := podstest.Context(t, 2*time.Minute)
	if _, err := s.Pods.Sleep(ctx, name, ""); err != nil {
		t.Fatal(err)
	}
	// Its stopped containers go while it sleeps: nothing is left to wake.
	svcs, err := s.Driver.ListServices(ctx, name)
	if err != nil || len(svcs) == 0 {
		t.Fatalf("services: %v %v", svcs, err)
	}
	for _, svc := range svcs {
		if err := s.Driver.DeleteService(ctx, name, svc.Name); err != nil {
			t.Fatal(err)
		}
	}
	code, body, err := s.Get(ctx, name, "pricing-api", "/")
	if err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("GET: %d %v %s", code, err, body)
	}
	for _, want := range []string{"pricing-api", name, "could not be woken", "no services of its release 1 left", "spacepods pod update " + name} {
		if !strings.Contains(body, want) {
			t.Fatalf("page lacks %q: %s", want, body)
		}
	}
	if n := countEvents(t, s, name, "pricing-api", "wake failed"); n != 1 {
		t.Fatalf("%d wake-failed events\n%s", n, events(t, s, name))
	}
	st, err := s.RouterClient.Stats(ctx, name, "pricing-api")
	if err != nil || !st.Asleep {
		t.Fatalf("after a failed wake the app should stay asleep: %+v %v", st, err)
	}
}

func TestSleep_ControlPlaneRestartKeepsAPodAsleepAndWakeable(t *testing.T) {
	s := podstest.Start(t, podstest.Config{SleepEvery: 200 * time.Millisecond})
	name := s.EnvName("restart")
	createPod(t, s, spacepods.CreatePodRequest{Name: name, Apps: []string{"pricing-api"}})
	ctx := podstest.Context(t, 2*time.Minute)
	if _, err := s.Pods.Sleep(ctx, name, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RestartPods(); err != nil {
		t.Fatal(err)
	}
	v := waitSleep(t, s, name, spacepods.SleepAsleep, 10*time.Second)
	if v.AppStatus[0].AsleepSince == nil {
		t.Fatalf("pod show: %+v", v.AppStatus)
	}
	if n := running(t, s, name, "pricing-api"); n != 0 {
		t.Fatalf("%d replicas run after the restart", n)
	}
	code, body, err := s.Get(ctx, name, "pricing-api", "/healthz")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET after restart: %d %v %s\n%s", code, err, body, events(t, s, name))
	}
	waitSleep(t, s, name, spacepods.SleepAwake, 10*time.Second)
	if n := countEvents(t, s, name, "pricing-api", "woken by a request to "+s.Host(name, "pricing-api")); n != 1 {
		t.Fatalf("%d wake events\n%s", n, events(t, s, name))
	}
}

func TestSleep_TTLStillDestroysAnAsleepPod(t *testing.T) {
	s := podstest.Start(t, podstest.Config{SleepEvery: 200 * time.Millisecond})
	name := s.EnvName("expiring")
	createPod(t, s, spacepods.CreatePodRequest{Name: name, Apps: []string{"pricing-api"}})
	ctx := podstest.Context(t, 2*time.Minute)
	if _, err := s.Pods.Sleep(ctx, name, ""); err != nil {
		t.Fatal(err)
	}
	if n := running(t, s, name, "pricing-api"); n != 0 {
		t.Fatalf("%d replicas run while asleep", n)
	}
	if err := s.Store.ExtendEnvironment(ctx, name, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if reaped := s.Pods.Reap(ctx); len(reaped) != 1 || reaped[0] != name {
		t.Fatalf("reaped %v, want the asleep pod %s", reaped, name)
	}
	if err := s.WaitDestroyed(ctx, name); err != nil {
		t.Fatalf("%v\n%s", err, events(t, s, name))
	}
	requireNoLeaks(t, s) // its stopped containers went with it
}
