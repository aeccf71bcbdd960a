package pipeline_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/pipeline"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestGate_TimeoutRejects: a run still waiting at a gate after its
// approval_timeout is rejected by "timeout" (audited like a person's
// decision), and is notified as ended. The clock is injected: no sleep
// stands for the timeout.
func TestGate_TimeoutRejects(t *testing.T) {
	st := storetest.MustOpenSQLite(t)
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "ci", Role: spacepods.RoleAdmin})
	cat := catalog.NewService(st)
	if _, _, err := cat.Register(ctx, []byte("name: web\nrepo: acme/web\nkind: worker\n"), ""); err != nil {
		t.Fatal(err)
	}
	var now atomic.Pointer[time.Time]
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	now.Store(&t0)
	waiting := t0.Add(-30 * time.Minute)
	run, err := st.CreatePipelineRun(ctx, spacepods.PipelineRun{App: "web", Build: 3, Status: spacepods.RunWaiting, Cause: "manual", Stages: []spacepods.RunStage{
		{PipelineStage: spacepods.PipelineStage{Env: "production", Approval: true, ApprovalTimeout: "1h"}, Status: spacepods.StageWaiting, WaitingSince: &waiting},
	}})
	if err != nil {
		t.Fatal(err)
	}
	n := &notes{}
	p := &pipeline.Service{Store: st, Catalog: cat, Notifier: n, Poll: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return *now.Load() }}
	base, cancel := context.WithCancel(context.Background())
	if err := p.Start(base); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); p.Wait() })

	time.Sleep(300 * time.Millisecond) // several looks at the gate, before the timeout
	if r, _ := p.Run(ctx, run.ID); r.Status != spacepods.RunWaiting {
		t.Fatalf("rejected before its timeout: %+v", r)
	}
	later := t0.Add(31 * time.Minute)
	now.Store(&later)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := p.Run(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == spacepods.RunRejected {
			if r.Stages[0].DecidedBy != "timeout" || r.Stages[0].Status != spacepods.StageRejected || r.Error != "timeout rejected entering production: nobody decided within 1h0m0s" {
				t.Fatalf("rejected run: %+v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not rejected after its timeout: %+v", r)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := n.all(); len(got) != 1 || got[0] != "rejected run=1 build=3" {
		t.Fatalf("notified %q", got)
	}
	audit, err := st.ListAudit(ctx, 0, 1)
	if err != nil || len(audit) != 1 || audit[0].Action != "pipeline.reject" || audit[0].Actor != "pipeline" {
		t.Fatalf("audit: %+v %v", audit, err)
	}
}
