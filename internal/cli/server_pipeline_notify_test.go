package cli

import (
	"context"
	"sync"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

type noticeRecorder struct {
	mu sync.Mutex
	ns []spacepods.Notice
}

func (r *noticeRecorder) Notify(_ context.Context, n spacepods.Notice) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ns = append(r.ns, n)
}

func TestPipelineBridge_EventsBecomeNoticesAndApprovalsWaitForThePipeline(t *testing.T) {
	rec := &noticeRecorder{}
	b := &pipelineBridge{notifier: rec, publicURL: "http://spacepods.test"}
	run := spacepods.PipelineRun{ID: 7, App: "catalog-api", Build: 12, CreatedBy: "ci",
		Stages: []spacepods.RunStage{{PipelineStage: spacepods.PipelineStage{Env: "qa"}}, {PipelineStage: spacepods.PipelineStage{Env: "production"}}}}
	ctx := context.Background()

	b.ApprovalNeeded(ctx, run, 1)
	run.Error = "tests failed: catalog-api (exit 1)"
	b.StageFailed(ctx, run, 0)
	run.Status, run.Stage = spacepods.RunSuperseded, 1
	b.RunEnded(ctx, run)
	run.Status = spacepods.RunCompleted
	b.RunEnded(ctx, run) // says nothing: the deploys did

	want := []struct{ kind, env, reason string }{
		{spacepods.NoticePipelineWaiting, "production", ""},
		{spacepods.NoticePipelineStopped, "qa", "tests failed: catalog-api (exit 1)"},
		{spacepods.NoticePipelineStopped, "production", "superseded by a newer build"},
	}
	if len(rec.ns) != len(want) {
		t.Fatalf("got %d notices, want %d: %+v", len(rec.ns), len(want), rec.ns)
	}
	for i, w := range want {
		n := rec.ns[i]
		if n.Kind != w.kind || n.Env != w.env || n.Fields["reason"] != w.reason || n.URL != "http://spacepods.test/pipeline/runs/7" || n.Owner != "ci" {
			t.Errorf("notice %d: %+v, want kind %s env %s reason %q", i, n, w.kind, w.env, w.reason)
		}
	}

	// Before the pipeline starts (or with --runtime none), Slack's approve
	// says so instead of failing obscurely.
	if err := b.Approve(ctx, 7, "alice"); spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
		t.Fatalf("approve without a pipeline: %v, want EUNAVAILABLE", err)
	}
	if _, err := b.RunEnvironment(ctx, 7); spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
		t.Fatalf("run environment without a pipeline: %v, want EUNAVAILABLE", err)
	}
}
