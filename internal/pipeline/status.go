package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Commit statuses: each stage of a run is a status on the build's commit
// (spacepods/qa, spacepods/staging, …) that follows the run, with the run's
// page as its target. The forge being unreachable never holds a run up:
// a failed write is logged, and the next transition writes every stage
// again.

// StatusContext is the commit status context of a stage: spacepods/<env>.
func StatusContext(env string) string { return "spacepods/" + env }

// RunURL is the page of run id under base (the server's public URL).
func RunURL(base string, id int64) string {
	return strings.TrimRight(base, "/") + "/pipeline/runs/" + strconv.FormatInt(id, 10)
}

// StageStatus is the commit status of stage i of r.
func StageStatus(r spacepods.PipelineRun, i int) (forge.StatusState, string) {
	st := r.Stages[i]
	switch st.Status {
	case spacepods.StagePending:
		if i == 0 || r.Status == spacepods.RunQueued {
			return forge.StatusPending, fmt.Sprintf("build %d is queued", r.Build)
		}
		return forge.StatusPending, fmt.Sprintf("build %d waits for %s", r.Build, r.Stages[i-1].Env)
	case spacepods.StageWaiting:
		return forge.StatusPending, fmt.Sprintf("build %d waits for approval to enter %s", r.Build, st.Env)
	case spacepods.StageDeploying:
		return forge.StatusPending, fmt.Sprintf("deploying build %d to %s", r.Build, st.Env)
	case spacepods.StageTesting:
		return forge.StatusPending, fmt.Sprintf("testing build %d in %s", r.Build, st.Env)
	case spacepods.StagePassed:
		return forge.StatusSuccess, fmt.Sprintf("build %d passed %s", r.Build, st.Env)
	case spacepods.StageFailed:
		return forge.StatusFailure, cut(st.Error)
	case spacepods.StageRejected:
		return forge.StatusFailure, cut(st.Error)
	}
	// Skipped: the run ended before this stage.
	if r.Status == spacepods.RunSuperseded {
		return forge.StatusError, cut("not deployed: " + r.Error)
	}
	return forge.StatusError, cut(fmt.Sprintf("not deployed: the run stopped at %s", r.Stages[r.Stage].Env))
}

// cut keeps a description under GitHub's 140 characters.
func cut(s string) string {
	if len(s) <= 140 {
		return s
	}
	return s[:137] + "..."
}

// statuses writes the commit status of each stage of r that changed since
// this process last wrote it.
func (s *Service) statuses(ctx context.Context, r spacepods.PipelineRun) {
	if s.Forge == nil || r.GitSHA == "" {
		return
	}
	a, err := s.Catalog.Get(ctx, r.App)
	if err != nil {
		s.Logger.Warn("commit statuses: read the app", "run", r.ID, "app", r.App, "err", err)
		return
	}
	for i, st := range r.Stages {
		state, desc := StageStatus(r, i)
		key := fmt.Sprintf("%d/%d", r.ID, i)
		val := string(state) + " " + desc
		s.mu.Lock()
		same := s.written[key] == val
		s.mu.Unlock()
		if same {
			continue
		}
		err := s.Forge.SetStatus(ctx, a.Repo, r.GitSHA, forge.Status{Context: StatusContext(st.Env), State: state, Description: desc, TargetURL: RunURL(s.BaseURL, r.ID)})
		if err != nil {
			s.Logger.Warn("set a commit status", "run", r.ID, "repo", a.Repo, "sha", r.GitSHA, "context", StatusContext(st.Env), "err", err)
			continue
		}
		s.mu.Lock()
		if s.written == nil {
			s.written = map[string]string{}
		}
		if r.Done() {
			delete(s.written, key) // nothing changes after the end
		} else {
			s.written[key] = val
		}
		s.mu.Unlock()
	}
}
