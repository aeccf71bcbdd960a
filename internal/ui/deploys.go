package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/spacepods"
)

type deploysData struct {
	Deploys []spacepods.Deploy
	Env     string
	App     string
}

func (u *UI) deploysPage(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	q := r.URL.Query()
	d := deploysData{Env: q.Get("env"), App: q.Get("app")}
	var err error
	if d.Deploys, err = u.cfg.Deploys.List(r.Context(), d.Env, d.App, 100); err != nil {
		return err
	}
	return u.render(w, http.StatusOK, "deploys", u.newView(r, "Deploys", "deploys", &d))
}

type deployData struct {
	Deploy      spacepods.Deploy
	Env         *spacepods.Environment // nil once the environment is gone
	Events      []spacepods.Event
	LastEvent   int64
	CanRollback bool
	// Notes are the release notes of a finished deploy to a master
	// environment (nil: none to show).
	Notes *spacepods.ReleaseNotes
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, spacepods.Errorf(spacepods.ENOTFOUND, "deploy %q does not exist: deploy ids are positive numbers (see the deploys page)", s)
	}
	return id, nil
}

// deployPage shows one deploy: the five steps as a timeline, its progress
// lines (live while it runs), failure output, and a rollback button.
func (u *UI) deployPage(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	ctx := r.Context()
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	dep, err := u.cfg.Deploys.Get(ctx, id)
	if err != nil {
		return err
	}
	st := deployState(dep) // what the live stream compares with: before hiding
	spacepods.HideOutput(ctx, &dep)
	d := deployData{Deploy: dep}
	if env, err := u.cfg.Pods.Show(ctx, dep.Env); err == nil {
		d.Env = &env.Environment
		if ea, err := u.cfg.Store.GetEnvApp(ctx, dep.Env, dep.App); err == nil && dep.Done() {
			d.CanRollback = u.canRollback(ctx, dep.Env, ea)
		}
	}
	if u.cfg.Notes != nil && dep.Done() && d.Env != nil && d.Env.Kind == spacepods.EnvMaster {
		// Only once it ended: its page then stops updating itself, so the
		// history is read once per visit.
		if n, err := u.cfg.Notes.ForDeploy(ctx, id); err == nil {
			d.Notes = &n
		} else {
			u.log.Warn("release notes of a deploy", "deploy", id, "err", err)
		}
	}
	if d.Events, err = u.cfg.Deploys.Events(ctx, id, 0); err != nil {
		return err
	}
	if n := len(d.Events); n > 0 {
		d.LastEvent = d.Events[n-1].ID
	}
	v := u.newView(r, "Deploy "+strconv.FormatInt(id, 10), "deploys", &d)
	v.Live = "/ui/events/deploys/" + strconv.FormatInt(id, 10) + "?after=" + strconv.FormatInt(d.LastEvent, 10)
	v.State = st.Hash
	if !dep.Done() {
		v.Refresh = 3
	}
	return u.render(w, http.StatusOK, "deploy", v)
}

// createDeploy deploys a build to a master environment (pods change their
// builds with update).
func (u *UI) createDeploy(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	ctx := r.Context()
	f := r.PostForm
	build, err := strconv.Atoi(f.Get("build"))
	if err != nil || build < 1 {
		return spacepods.Errorf(spacepods.EINVALID, "pick a build to deploy from the list")
	}
	req := deploy.Request{Env: f.Get("env"), App: f.Get("app"), Build: build}
	if f.Get("confirm") != "" {
		// The manifest version the confirm page showed.
		if req.ConfirmVersion, err = strconv.Atoi(f.Get("manifest_version")); err != nil || req.ConfirmVersion < 1 {
			return spacepods.Errorf(spacepods.EINVALID, "the confirmation names no manifest version: deploy again from the app's page")
		}
	}
	d, err := u.cfg.Deploys.Deploy(ctx, req)
	if err != nil {
		return u.confirmOr(w, r, err)
	}
	return redirect(w, r, "/deploys/"+strconv.FormatInt(d.ID, 10), "deploying")
}

// confirmOr renders err, unless it is a protected environment's refusal of
// a deploy that changes what runs: then the deploy's plan, with a form to
// confirm it (admins), whose manifest version is the one shown.
func (u *UI) confirmOr(w http.ResponseWriter, r *http.Request, err error) error {
	var ce *deploy.ConfirmationError
	if !errors.As(err, &ce) {
		return err
	}
	return u.render(w, http.StatusConflict, "deployplan", u.newView(r, "Confirm manifest changes", "deploys", ce.Plan))
}

func (u *UI) rollback(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	d, err := u.cfg.Deploys.Rollback(r.Context(), r.PostForm.Get("env"), r.PostForm.Get("app"))
	if err != nil {
		return err
	}
	return redirect(w, r, "/deploys/"+strconv.FormatInt(d.ID, 10), "deploying")
}

func (u *UI) promote(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	f := r.PostForm
	d, err := u.cfg.Deploys.Promote(r.Context(), f.Get("app"), f.Get("from"), f.Get("to"), 0)
	if err != nil {
		// The confirm form deploys the same build to the same place.
		return u.confirmOr(w, r, err)
	}
	return redirect(w, r, "/deploys/"+strconv.FormatInt(d.ID, 10), "deploying")
}

// envSection is one master environment on the environments page.
type envSection struct {
	Env  spacepods.Environment
	Rows []envRow
	Next *spacepods.Environment
}

func (u *UI) environmentsPage(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	ctx := r.Context()
	masters, err := u.masters(ctx)
	if err != nil {
		return err
	}
	var out []envSection
	for i, m := range masters {
		s := envSection{Env: m}
		if i+1 < len(masters) {
			s.Next = &masters[i+1]
		}
		running, err := u.running(ctx, m.Name)
		if err != nil {
			return err
		}
		eas, err := u.cfg.Store.EnvApps(ctx, m.Name)
		if err != nil {
			return err
		}
		for _, ea := range eas {
			s.Rows = append(s.Rows, envRow{EnvApp: ea, Running: running[ea.App], CanRollback: u.canRollback(ctx, m.Name, ea)})
		}
		out = append(out, s)
	}
	return u.render(w, http.StatusOK, "environments", u.newView(r, "Environments", "environments", out))
}

func (u *UI) createEnvironment(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	f := r.PostForm
	env, err := u.cfg.Pods.CreateMaster(r.Context(), f.Get("name"), f.Get("protected") != "")
	if err != nil {
		return err
	}
	return redirect(w, r, "/environments/"+url.PathEscape(env.Name), "created")
}
