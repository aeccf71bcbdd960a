package drivertest

import (
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// testWaitHealthy: a driver's HealthWaiter (optional) says true only once
// the replicas are healthy (ServiceStatus agrees at once), ends early and
// false for a replica that crashes, waits out within for one that stays
// unhealthy, and finds no unknown service.
func testWaitHealthy(t *testing.T, s *suite) {
	hw, ok := s.d.(runtime.HealthWaiter)
	if !ok {
		t.Skip("the driver has no HealthWaiter (optional)")
	}
	env := s.env(t, "wait")
	ctx := s.ctx(t)
	s.create(t, s.web(env, "prompt", nil))
	if ok, err := hw.WaitHealthy(ctx, env, "prompt", 1, 45*time.Second); err != nil || !ok {
		t.Fatalf("WaitHealthy on a healthy service = %v, %v, want true", ok, err)
	}
	if st, err := s.d.ServiceStatus(ctx, env, "prompt"); err != nil || st.Healthy != 1 {
		t.Fatalf("ServiceStatus right after WaitHealthy said true = %s, %v, want 1 healthy replica", toJSON(st), err)
	}

	s.create(t, s.web(env, "crasher", map[string]string{"TESTAPP_MODE": "crash"}))
	start := time.Now()
	if ok, err := hw.WaitHealthy(ctx, env, "crasher", 1, 40*time.Second); err != nil || ok {
		t.Fatalf("WaitHealthy on a crashing service = %v, %v, want false", ok, err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("WaitHealthy on a crashing service took %s: it waited out within instead of ending on the exit", took)
	}

	s.create(t, s.web(env, "sick", map[string]string{"TESTAPP_HEALTH_STATUS": "503"}))
	s.waitFor(t, env, "sick", "running", func(st runtime.ServiceStatus) bool { return st.Running == 1 })
	start = time.Now()
	if ok, err := hw.WaitHealthy(ctx, env, "sick", 1, time.Second); err != nil || ok {
		t.Fatalf("WaitHealthy on an unhealthy service = %v, %v, want false", ok, err)
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Fatalf("WaitHealthy on a running, unhealthy service gave up after %s, before its within of 1s", took)
	}

	_, err := hw.WaitHealthy(ctx, env, "nosuch", 1, time.Second)
	wantCode(t, err, spacepods.ENOTFOUND, "WaitHealthy on an unknown service")
}

// testPrepare: a driver's Preparer (optional) makes a service that runs
// nothing (found by ServiceStatus, none running) until CreateService with
// the same spec starts it; it conflicts like CreateService, and a prepared
// service is deleted like any other.
func testPrepare(t *testing.T, s *suite) {
	p, ok := s.d.(runtime.Preparer)
	if !ok {
		t.Skip("the driver has no Preparer (optional)")
	}
	ctx := s.ctx(t)
	env := s.env(t, "prepare")
	spec := s.web(env, "web", map[string]string{"GREETING": "prepared"})
	if err := p.PrepareService(ctx, spec); err != nil {
		t.Fatalf("PrepareService: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // a started replica would be running by now
	st, err := s.d.ServiceStatus(ctx, env, "web")
	if err != nil || st.Desired != 1 || st.Running != 0 || st.Release != spec.Release {
		t.Fatalf("ServiceStatus of a prepared service = %s, %v, want release %d, 1 desired, none running", toJSON(st), err, spec.Release)
	}
	if err := p.PrepareService(ctx, spec); err != nil {
		t.Fatalf("PrepareService again with the same spec: %v", err)
	}
	other := spec
	other.Release++
	wantCode(t, p.PrepareService(ctx, other), spacepods.ECONFLICT, "PrepareService with another release")
	s.create(t, spec)
	ready := s.healthy(t, env, "web", 1)
	if !s.simulated() {
		if _, body := get(t, "http://"+ready.Replicas[0].Addr+"/env"); !strings.Contains(body, "prepared") {
			t.Fatalf("the prepared replica's env lacks GREETING: %s", body)
		}
	}

	gone := s.web(env, "gone", nil)
	if err := p.PrepareService(ctx, gone); err != nil {
		t.Fatalf("PrepareService: %v", err)
	}
	if err := s.d.DeleteService(ctx, env, "gone"); err != nil {
		t.Fatalf("DeleteService of a prepared service: %v", err)
	}
	_, err = s.d.ServiceStatus(ctx, env, "gone")
	wantCode(t, err, spacepods.ENOTFOUND, "ServiceStatus after deleting a prepared service")
}
