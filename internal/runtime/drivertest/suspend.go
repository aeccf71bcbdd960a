package drivertest

import (
	"net/http"
	"testing"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// testSuspend puts a service to sleep and wakes it (runtime.Suspender, for
// drivers that have it): no replica runs while suspended, the service is
// still there, and resuming brings back as many healthy replicas as before.
// Both are idempotent.
func testSuspend(t *testing.T, s *suite) {
	sus, ok := s.d.(runtime.Suspender)
	if !ok {
		t.Skipf("the %s driver cannot suspend services (no runtime.Suspender)", s.d.Name())
	}
	ctx := s.ctx(t)
	env := s.env(t, "sleep")
	spec := s.web(env, "web", nil)
	spec.Replicas = 2
	s.create(t, spec)
	s.healthy(t, env, "web", 2)
	for range 2 {
		if err := sus.SuspendService(ctx, env, "web"); err != nil {
			t.Fatalf("SuspendService: %v", err)
		}
	}
	s.waitFor(t, env, "web", "no replica running", func(st runtime.ServiceStatus) bool { return st.Running == 0 })
	for range 2 {
		if err := sus.ResumeService(ctx, env, "web"); err != nil {
			t.Fatalf("ResumeService: %v", err)
		}
	}
	st := s.healthy(t, env, "web", 2)
	if !s.simulated() {
		for _, r := range st.Replicas {
			if code, _ := get(t, "http://"+r.Addr+"/healthz"); code != http.StatusOK {
				t.Fatalf("resumed replica %s at %s answered %d", r.ID, r.Addr, code)
			}
		}
	}
	wantCode(t, sus.SuspendService(ctx, env, "nope"), spacepods.ENOTFOUND, "SuspendService(nope)")
	wantCode(t, sus.ResumeService(ctx, env, "nope"), spacepods.ENOTFOUND, "ResumeService(nope)")
}
