package cli

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/spacepods/spacepods/internal/releasenotes"
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

// fakeNotes gives fixed notes per deploy, as releasenotes.Service would
// from the git history.
type fakeNotes map[int64]releasenotes.Notes

func (f fakeNotes) ForDeploy(_ context.Context, id int64) (releasenotes.Notes, error) {
	n, ok := f[id]
	if !ok {
		return releasenotes.Notes{}, spacepods.Errorf(spacepods.ENOTFOUND, "deploy %d not found", id)
	}
	return n, nil
}

func TestPipelineBridge_APassedStageSendsItsDeploysReleaseNotes(t *testing.T) {
	rec := &noticeRecorder{}
	prodNotes := releasenotes.Notes{App: "catalog-api", Env: "production", Build: 12, FromSHA: "1a2b3c4d5e6f", ToSHA: "9f8e7d6c5b4a",
		Commits: []releasenotes.Commit{{Short: "9f8e7d6", Subject: "feat: coupons SHOP-7", Author: "Alice Smith"}}}
	b := &pipelineBridge{notifier: rec, publicURL: "http://spacepods.test", notes: fakeNotes{32: prodNotes}}
	run := spacepods.PipelineRun{ID: 7, App: "catalog-api", Build: 12, CreatedBy: "ci", Stages: []spacepods.RunStage{
		{PipelineStage: spacepods.PipelineStage{Env: "qa"}, DeployID: 31},
		{PipelineStage: spacepods.PipelineStage{Env: "production"}, DeployID: 32},
	}}
	ctx := context.Background()

	b.StagePassed(ctx, run, 1)
	b.StagePassed(ctx, run, 0) // deploy 31's notes cannot be had: said so

	if len(rec.ns) != 2 {
		t.Fatalf("got %d notices, want 2: %+v", len(rec.ns), rec.ns)
	}
	prod, qa := rec.ns[0], rec.ns[1]
	want := releasenotes.Markdown(prodNotes)
	if prod.Kind != spacepods.NoticeReleaseNotes || prod.Env != "production" || prod.App != "catalog-api" || prod.Subject != "deploy:32" ||
		prod.Fields["notes"] != want || prod.Fields["build"] != "12" || prod.URL != "http://spacepods.test/deploys/32" {
		t.Fatalf("production's release notes notice: %+v, want the notes %q", prod, want)
	}
	if !strings.Contains(prod.Text, "9f8e7d6 feat: coupons SHOP-7 (Alice Smith)") {
		t.Fatalf("notice text lacks the commit: %q", prod.Text)
	}
	if qa.Kind != spacepods.NoticeReleaseNotes || qa.Env != "qa" || !strings.Contains(qa.Fields["notes"], "deploy 31 not found") ||
		!strings.Contains(qa.Fields["notes"], "spacepods deploy notes 31") {
		t.Fatalf("qa's notice: %+v", qa)
	}

	// Without a runtime there are no notes and no deploys: nothing is sent.
	rec.ns = nil
	(&pipelineBridge{notifier: rec}).StagePassed(ctx, run, 1)
	if len(rec.ns) != 0 {
		t.Fatalf("sent %+v without release notes", rec.ns)
	}
}
