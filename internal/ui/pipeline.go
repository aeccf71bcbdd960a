package ui

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Pipelines (internal/pipeline): one page per app, builds × stages, live.

type pipelineData struct {
	View spacepods.PipelineView
}

func (u *UI) needPipeline() error {
	if u.cfg.Pipeline == nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "this server runs no pipelines (--runtime none)")
	}
	return nil
}

// pipelineState is what the live stream compares: every run's status and
// stages.
func pipelineState(v spacepods.PipelineView) liveState {
	var parts []any
	for _, r := range v.Runs {
		parts = append(parts, r.ID, r.Status, r.Stage, r.Error)
		for _, st := range r.Stages {
			parts = append(parts, st.Status, st.DeployID, len(st.TestRuns), st.DecidedBy)
		}
	}
	return liveState{Hash: hashOf(parts...), Status: "live"}
}

func (u *UI) pipelinePage(w http.ResponseWriter, r *http.Request) error {
	if err := u.needPipeline(); err != nil {
		return err
	}
	name := r.PathValue("name")
	pv, err := u.cfg.Pipeline.Show(r.Context(), name, 20)
	if err != nil {
		return err
	}
	v := u.newView(r, "Pipeline of "+name, "apps", &pipelineData{View: pv})
	v.Live, v.State = "/ui/events/pipeline/"+url.PathEscape(name), pipelineState(pv).Hash
	return u.render(w, http.StatusOK, "pipeline", v)
}

// runPage is the target of a stage's commit status: the app's pipeline
// page at the run.
func (u *UI) runPage(w http.ResponseWriter, r *http.Request) error {
	if err := u.needPipeline(); err != nil {
		return err
	}
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	run, err := u.cfg.Pipeline.Run(r.Context(), id)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/apps/"+url.PathEscape(run.App)+"/pipeline#run-"+strconv.FormatInt(id, 10), http.StatusSeeOther)
	return nil
}

// decideRun approves or rejects the gate a run waits at.
func (u *UI) decideRun(approve bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := u.needPipeline(); err != nil {
			return err
		}
		id, err := parseID(r.PathValue("id"))
		if err != nil {
			return err
		}
		run, err := u.cfg.Pipeline.Decide(r.Context(), id, approve, r.FormValue("comment"))
		if err != nil {
			return err
		}
		done := "rejected"
		if approve {
			done = "approved"
		}
		http.Redirect(w, r, "/apps/"+url.PathEscape(run.App)+"/pipeline?done="+done+"#run-"+strconv.FormatInt(id, 10), http.StatusSeeOther)
		return nil
	}
}

// pipelineEvents streams the state of an app's runs (no progress lines:
// the stages link to their deploys and tests, which have theirs).
func (u *UI) pipelineEvents(w http.ResponseWriter, r *http.Request) error {
	if err := u.needPipeline(); err != nil {
		return err
	}
	ctx, done, err := u.openStream(r)
	if err != nil {
		return err
	}
	defer done()
	name := r.PathValue("name")
	state := func() (liveState, error) {
		pv, err := u.cfg.Pipeline.Show(ctx, name, 20)
		return pipelineState(pv), err
	}
	first, err := state()
	if err != nil {
		return err
	}
	s := startSSE(w)
	// Runs are written with a store-wide change signal (""): that topic
	// wakes this stream.
	return u.stream(ctx, s, "", first, func() error { return nil }, state)
}
