package cli

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/spacepods/spacepods/internal/notify"
	"github.com/spacepods/spacepods/internal/pipeline"
	"github.com/spacepods/spacepods/internal/releasenotes"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// pipelineBridge joins the CD pipeline and the notifier, both ways: the
// pipeline's events become notices (Slack, webhooks), and approvals from
// Slack reach the pipeline's gate. The notifier starts before the pipeline,
// so the pipeline is set once it runs; until then approvals say so.
type pipelineBridge struct {
	notifier  spacepods.Notifier
	publicURL string
	p         atomic.Pointer[pipeline.Service]
	// notes gives the release notes of the deploys of passed stages
	// (*releasenotes.Service); set before the pipeline starts.
	notes deployNotes
}

// deployNotes gives a deploy's release notes, as `spacepods deploy notes`.
type deployNotes interface {
	ForDeploy(ctx context.Context, id int64) (releasenotes.Notes, error)
}

// notesTimeout bounds the git fetch behind a stage's release notes: the
// pipeline's next stage waits for it.
const notesTimeout = 30 * time.Second

var (
	_ pipeline.Notifier = (*pipelineBridge)(nil)
	_ notify.Approver   = (*pipelineBridge)(nil)
)

func (b *pipelineBridge) event(run spacepods.PipelineRun, stage int, actor, reason string) notify.PipelineEvent {
	e := notify.PipelineEvent{Run: run.ID, App: run.App, Build: run.Build, Actor: actor, Reason: reason,
		URL: fmt.Sprintf("%s/pipeline/runs/%d", b.publicURL, run.ID), Owner: run.CreatedBy}
	if stage >= 0 && stage < len(run.Stages) {
		e.Env, e.Stage = run.Stages[stage].Env, run.Stages[stage].Env
	}
	return e
}

// ApprovalNeeded implements pipeline.Notifier.
func (b *pipelineBridge) ApprovalNeeded(ctx context.Context, run spacepods.PipelineRun, stage int) {
	spacepods.Notify(ctx, b.notifier, notify.PipelineNotice(spacepods.NoticePipelineWaiting, b.event(run, stage, "", "")))
}

// StageFailed implements pipeline.Notifier.
func (b *pipelineBridge) StageFailed(ctx context.Context, run spacepods.PipelineRun, stage int) {
	spacepods.Notify(ctx, b.notifier, notify.PipelineNotice(spacepods.NoticePipelineStopped, b.event(run, stage, "", run.Error)))
}

// StagePassed implements pipeline.Notifier: the release notes of the
// stage's deploy go to the deploy's thread (notice kind release.notes).
// Notes that cannot be computed are sent saying why, so that a release is
// never announced silently without them.
func (b *pipelineBridge) StagePassed(ctx context.Context, run spacepods.PipelineRun, stage int) {
	if b.notes == nil || stage < 0 || stage >= len(run.Stages) || run.Stages[stage].DeployID == 0 {
		return
	}
	st := run.Stages[stage]
	nctx, cancel := context.WithTimeout(ctx, notesTimeout)
	defer cancel()
	text := ""
	if n, err := b.notes.ForDeploy(nctx, st.DeployID); err != nil {
		text = fmt.Sprintf("The release notes could not be computed: %s (try `spacepods deploy notes %d`).", spacepods.ErrorMessage(err), st.DeployID)
	} else {
		text = releasenotes.Markdown(n)
	}
	url := fmt.Sprintf("%s/deploys/%d", b.publicURL, st.DeployID)
	spacepods.Notify(ctx, b.notifier, notify.ReleaseNotes(st.DeployID, run.App, st.Env, run.Build, text, url))
}

// RunEnded implements pipeline.Notifier. A completed run says nothing more
// than its deploys did; a rejected or superseded one is told.
func (b *pipelineBridge) RunEnded(ctx context.Context, run spacepods.PipelineRun) {
	switch run.Status {
	case spacepods.RunRejected:
		st := run.Stages[min(run.Stage, len(run.Stages)-1)]
		spacepods.Notify(ctx, b.notifier, notify.PipelineNotice(spacepods.NoticePipelineRejected, b.event(run, run.Stage, st.DecidedBy, run.Error)))
	case spacepods.RunSuperseded:
		spacepods.Notify(ctx, b.notifier, notify.PipelineNotice(spacepods.NoticePipelineStopped, b.event(run, run.Stage, "", "superseded by a newer build")))
	}
}

func (b *pipelineBridge) decide(ctx context.Context, run int64, approve bool, actor string) error {
	p := b.p.Load()
	if p == nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "the CD pipeline is not running on this server (it needs a runtime): approve with `spacepods pipeline approve %d` once it is", run)
	}
	verb := "rejected"
	if approve {
		verb = "approved"
	}
	r, err := p.Decide(ctx, run, approve, verb+" from Slack by "+actor)
	if err != nil {
		return err
	}
	if approve {
		spacepods.Notify(ctx, b.notifier, notify.PipelineNotice(spacepods.NoticePipelineApproved, b.event(r, r.Stage, actor, "")))
	}
	return nil
}

// Approve implements notify.Approver.
func (b *pipelineBridge) Approve(ctx context.Context, run int64, actor string) error {
	return b.decide(ctx, run, true, actor)
}

// Reject implements notify.Approver.
func (b *pipelineBridge) Reject(ctx context.Context, run int64, actor string) error {
	return b.decide(ctx, run, false, actor)
}

// RunEnvironment is the environment a waiting run's gate guards, so that
// Slack keeps approvals of protected environments to admins.
func (b *pipelineBridge) RunEnvironment(ctx context.Context, run int64) (string, error) {
	p := b.p.Load()
	if p == nil {
		return "", spacepods.Errorf(spacepods.EUNAVAILABLE, "the CD pipeline is not running on this server")
	}
	r, err := p.Store.GetPipelineRun(ctx, run)
	if err != nil {
		return "", err
	}
	if r.Stage < 0 || r.Stage >= len(r.Stages) {
		return "", spacepods.Errorf(spacepods.ECONFLICT, "pipeline run %d waits at no gate", run)
	}
	return r.Stages[r.Stage].Env, nil
}
