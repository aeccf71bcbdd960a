package notify

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Approver decides pipeline runs that wait at an approval gate. The CD
// pipeline implements it; Slack's buttons and `/spacepods approve RUN`
// call it with ctx carrying the acting user (spacepods.WithActor), after
// the Slack handler has checked the user's role. Errors are coded:
// ENOTFOUND (no such run), ECONFLICT (not waiting), EFORBIDDEN.
type Approver interface {
	Approve(ctx context.Context, run int64, actor string) error
	Reject(ctx context.Context, run int64, actor string) error
}

// PipelineEvent describes a pipeline run at one of its notable moments;
// PipelineNotice turns it into a notice.
type PipelineEvent struct {
	Run   int64
	App   string
	Env   string // the environment the gate guards
	Build int
	Stage string // the stage that waits or stopped
	Actor string // who approved, rejected or stopped it
	// Reason is why it stopped (or a rejection's comment).
	Reason string
	URL    string // the run's page (path or absolute)
	Owner  string // who started the run
}

// PipelineNotice is the notice of a pipeline run's event; kind is one of
// spacepods.NoticePipelineWaiting, …Approved, …Rejected, …Stopped. All of
// a run's notices share its subject ("pipeline:RUN"): one Slack thread,
// whose first message (with the Approve/Reject buttons) is updated in
// place once the run is decided.
func PipelineNotice(kind string, e PipelineEvent) spacepods.Notice {
	run := strconv.FormatInt(e.Run, 10)
	n := spacepods.Notice{
		Kind: kind, Key: "pipeline:" + run + ":" + kind + ":" + e.Stage, Subject: "pipeline:" + run,
		App: e.App, Env: e.Env, Owner: e.Owner, URL: e.URL,
		Fields: map[string]string{"run": run, "build": strconv.Itoa(e.Build), "stage": e.Stage, "actor": e.Actor, "reason": e.Reason},
	}
	switch kind {
	case spacepods.NoticePipelineWaiting:
		n.Text = fmt.Sprintf("Pipeline run %d: %s build %d waits for approval to go to %s", e.Run, e.App, e.Build, e.Env)
	case spacepods.NoticePipelineApproved:
		n.Text = fmt.Sprintf("Pipeline run %d: %s build %d approved for %s by %s", e.Run, e.App, e.Build, e.Env, e.Actor)
	case spacepods.NoticePipelineRejected:
		n.Text = fmt.Sprintf("Pipeline run %d: %s build %d rejected for %s by %s", e.Run, e.App, e.Build, e.Env, e.Actor)
	default:
		n.Text = fmt.Sprintf("Pipeline run %d of %s stopped at %s: %s", e.Run, e.App, e.Stage, e.Reason)
	}
	return n
}

// ReleaseNotes is the notice of the notes of a production deploy (the
// commits or pull requests it ships, as text). It goes to the deploy's
// thread.
func ReleaseNotes(deploy int64, app, env string, build int, notes, url string) spacepods.Notice {
	id := strconv.FormatInt(deploy, 10)
	return spacepods.Notice{
		Kind: spacepods.NoticeReleaseNotes, Key: "deploy:" + id + ":release-notes", Subject: "deploy:" + id,
		App: app, Env: env, URL: url, Text: fmt.Sprintf("Release notes: %s build %d in %s\n%s", app, build, env, notes),
		Fields: map[string]string{"deploy": id, "build": strconv.Itoa(build), "notes": notes},
	}
}
