package deploy

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// deployNotices maps a deploy's status to what the notifier is told.
var deployNotices = map[string]string{
	spacepods.DeployRunning:    spacepods.NoticeDeployStarted,
	spacepods.DeployCompleted:  spacepods.NoticeDeployCompleted,
	spacepods.DeployFailed:     spacepods.NoticeDeployFailed,
	spacepods.DeployRolledBack: spacepods.NoticeDeployRolledBack,
}

// notify tells the notifier that a deploy started or ended. The output
// link is the deploy's path in the UI ("/deploys/ID"): the notifier makes
// it absolute with the server's public URL.
func (e *Engine) notify(ctx context.Context, d *spacepods.Deploy) {
	kind, ok := deployNotices[d.Status]
	if e.Notifier == nil || !ok {
		return
	}
	id := strconv.FormatInt(d.ID, 10)
	n := spacepods.Notice{
		Kind: kind, Key: "deploy:" + id + ":" + d.Status, Subject: "deploy:" + id, App: d.App, Env: d.Env, Owner: d.CreatedBy,
		URL:    "/deploys/" + id,
		Fields: map[string]string{"deploy": id, "build": strconv.Itoa(d.Build), "status": d.Status},
	}
	if d.Release > 0 {
		n.Fields["release"] = strconv.Itoa(d.Release)
	}
	if d.Rollback {
		n.Fields["rollback"] = "true"
	}
	switch kind {
	case spacepods.NoticeDeployStarted:
		n.Text = fmt.Sprintf("Deploying %s build %d to %s (deploy %d, by %s)", d.App, d.Build, d.Env, d.ID, d.CreatedBy)
	case spacepods.NoticeDeployCompleted:
		n.Text = fmt.Sprintf("Deployed %s build %d to %s (release %d)", d.App, d.Build, d.Env, d.Release)
	default:
		n.Fields["reason"] = d.Error
		n.Text = fmt.Sprintf("Deploy %d of %s build %d to %s %s: %s", d.ID, d.App, d.Build, d.Env, map[bool]string{true: "rolled back", false: "failed"}[kind == spacepods.NoticeDeployRolledBack], d.Error)
	}
	spacepods.Notify(ctx, e.Notifier, n)
}
