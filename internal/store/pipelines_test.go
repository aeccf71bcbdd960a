package store_test

import (
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestStore_PipelineRuns: a build starts one run by itself (a manual run of
// it may follow), runs round-trip with their stages, and a gate is decided
// once, audited.
func TestStore_PipelineRuns(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("ci")
		if _, _, err := s.PutApp(ctx, testApp("web")); err != nil {
			t.Fatal(err)
		}
		run := spacepods.PipelineRun{App: "web", Build: 7, GitSHA: "abc1234", Status: spacepods.RunQueued, Cause: "build",
			Stages: []spacepods.RunStage{{PipelineStage: spacepods.PipelineStage{Env: "qa"}, Status: spacepods.StagePending}, {PipelineStage: spacepods.PipelineStage{Env: "prod", Approval: true}, Status: spacepods.StagePending}}}
		r1, err := s.CreatePipelineRun(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreatePipelineRun(ctx, run); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
			t.Fatalf("second run of build 7 by itself: %v", err)
		}
		run.Cause = "manual"
		r2, err := s.CreatePipelineRun(ctx, run)
		if err != nil {
			t.Fatalf("manual run of build 7: %v", err)
		}
		if n, err := s.LatestRunBuild(ctx, "web"); err != nil || n != 7 {
			t.Fatalf("latest run build: %d %v", n, err)
		}
		r1.Status, r1.Stage, r1.Stages[0].Status, r1.Stages[0].DeployID = spacepods.RunWaiting, 1, spacepods.StagePassed, 42
		if err := s.SavePipelineRun(ctx, r1); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetPipelineRun(ctx, r1.ID)
		if err != nil || got.Status != spacepods.RunWaiting || got.Stage != 1 || got.Stages[0].DeployID != 42 || !got.Stages[1].Approval || got.CreatedBy != "ci" {
			t.Fatalf("round trip: %+v %v", got, err)
		}
		un, err := s.UnfinishedPipelineRuns(ctx, "web")
		if err != nil || len(un) != 2 || un[0].ID != r1.ID || un[1].ID != r2.ID {
			t.Fatalf("unfinished: %+v %v", un, err)
		}
		if _, ok, err := s.PipelineGateDecision(ctx, r1.ID, 1); ok || err != nil {
			t.Fatalf("decision before any: %v %v", ok, err)
		}
		if _, err := s.DecidePipelineGate(ctxAs("carol"), store.PipelineDecision{Run: r1.ID, Stage: 1, Approved: true, Comment: "go"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DecidePipelineGate(ctxAs("dave"), store.PipelineDecision{Run: r1.ID, Stage: 1}); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
			t.Fatalf("second decision: %v", err)
		}
		d, ok, err := s.PipelineGateDecision(ctx, r1.ID, 1)
		if !ok || err != nil || !d.Approved || d.DecidedBy != "carol" || d.Comment != "go" {
			t.Fatalf("decision: %+v %v %v", d, ok, err)
		}
		audit, err := s.ListAudit(ctx, 0, 1)
		if err != nil || len(audit) != 1 || audit[0].Action != "pipeline.approve" || audit[0].Actor != "carol" {
			t.Fatalf("audit: %+v %v", audit, err)
		}
	})
}
