package ui

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// ttlChoices are the TTLs offered by the new pod and extend forms.
var ttlChoices = []string{"1h", "4h", "8h", "24h", "72h", "168h"}

func (u *UI) podsPage(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	all, err := u.cfg.Pods.List(r.Context(), spacepods.EnvPod)
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, "pods", u.newView(r, "Pods", "pods", all))
}

// idleChoices are the idle timeouts offered by the new pod form ("" is the
// server's --idle-timeout).
var idleChoices = []string{"", "15m", "30m", "1h", "4h", "12h"}

// podForm is the new pod form.
type podForm struct {
	Name      string
	Apps      []string
	Builds    map[string]int // pinned builds (app → number)
	TTL       string
	Idle      string // idle timeout ("" = the server's)
	KeepAwake bool
}

func (f podForm) request() spacepods.CreatePodRequest {
	return spacepods.CreatePodRequest{Name: f.Name, Apps: f.Apps, Builds: f.Builds, TTL: f.TTL, IdleTimeout: f.Idle, KeepAwake: f.KeepAwake}
}

// Pinned returns the pinned build of app (0 = latest of main).
func (f podForm) Pinned(app string) int { return f.Builds[app] }

// parsePodForm reads name, app (repeated), ttl, idle, keep_awake and
// build.<app> fields.
func parsePodForm(vals url.Values) (podForm, error) {
	f := podForm{Name: strings.TrimSpace(vals.Get("name")), TTL: vals.Get("ttl"), Builds: map[string]int{},
		Idle: strings.TrimSpace(vals.Get("idle")), KeepAwake: vals.Get("keep_awake") != ""}
	seen := map[string]bool{}
	for _, a := range vals["app"] {
		if a != "" && !seen[a] {
			seen[a] = true
			f.Apps = append(f.Apps, a)
		}
	}
	for k, vs := range vals {
		app, ok := strings.CutPrefix(k, "build.")
		if !ok || len(vs) == 0 || vs[0] == "" {
			continue
		}
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 {
			return f, spacepods.Errorf(spacepods.EINVALID, "build %q of %s is not a build number: pick one from the list", vs[0], app)
		}
		f.Builds[app] = n
	}
	return f, nil
}

// podApp is one app offered by the new pod form.
type podApp struct {
	App    spacepods.App
	Builds []spacepods.Build
}

type newPodData struct {
	Form    podForm
	Apps    []podApp
	Plan    *spacepods.PodPlan
	PlanErr string
	Graph   template.HTML
	TTLs    []string
	Idles   []string
}

func (u *UI) newPodPage(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	f, err := parsePodForm(r.URL.Query())
	if err != nil {
		return u.renderNewPod(w, r, http.StatusBadRequest, f, err)
	}
	return u.renderNewPod(w, r, http.StatusOK, f, nil)
}

// renderNewPod shows the form and, once apps are picked, the resolved
// dependency tree and the plan (what create would make), or why there is
// none. formErr is the error of a create that failed.
func (u *UI) renderNewPod(w http.ResponseWriter, r *http.Request, status int, f podForm, formErr error) error {
	ctx := r.Context()
	if f.Name == "" {
		f.Name = suggestPodName(spacepods.ActorName(ctx))
	}
	if f.TTL == "" {
		f.TTL = "24h"
	}
	d := newPodData{Form: f, TTLs: ttlChoices, Idles: idleChoices}
	apps, err := u.cfg.Catalog.List(ctx, store.ListOptions{Limit: 1000})
	if err != nil {
		return err
	}
	for _, a := range apps {
		bs, err := u.cfg.Catalog.Builds(ctx, spacepods.BuildFilter{App: a.Name, Limit: 15})
		if err != nil {
			return err
		}
		d.Apps = append(d.Apps, podApp{App: a, Builds: bs})
	}
	if len(f.Apps) > 0 {
		if p, err := u.cfg.Pods.Plan(ctx, f.request()); err != nil {
			d.PlanErr = spacepods.ErrorMessage(err)
		} else {
			d.Plan = &p
		}
		if dg, err := u.graph(ctx, f.Apps); err == nil {
			d.Graph = dg.SVG("Dependency tree of the pod")
		}
	}
	v := u.newView(r, "New pod", "newpod", &d)
	if formErr != nil {
		v.Error = spacepods.ErrorMessage(formErr)
		if status == http.StatusOK {
			status = httpjson.StatusOf(spacepods.ErrorCode(formErr))
		}
	}
	return u.render(w, status, "newpod", v)
}

// suggestPodName proposes <owner>-<4 hex>, cut to a valid environment name.
func suggestPodName(owner string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(owner) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	base := strings.Trim(b.String(), "-")
	if base == "" || base[0] < 'a' || base[0] > 'z' {
		base = "pod" + base
	}
	if len(base) > 30 {
		base = strings.TrimRight(base[:30], "-")
	}
	rb := make([]byte, 2)
	rand.Read(rb)
	return base + "-" + hex.EncodeToString(rb)
}

func (u *UI) createPod(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	f, err := parsePodForm(r.PostForm)
	if err != nil {
		return u.renderNewPod(w, r, http.StatusBadRequest, f, err)
	}
	if _, _, err := u.cfg.Pods.Create(r.Context(), f.request()); err != nil {
		return u.renderNewPod(w, r, http.StatusOK, f, err)
	}
	return redirect(w, r, "/pods/"+url.PathEscape(f.Name), "")
}

// envRow is one app of a pod or environment page.
type envRow struct {
	spacepods.EnvApp
	Builds      []spacepods.Build // for the update form
	Running     cell              // who deployed what runs
	CanRollback bool              // an earlier release exists
}

type envData struct {
	Env       spacepods.EnvironmentView
	IsPod     bool
	Rows      []envRow
	Deploys   []spacepods.Deploy
	Events    []spacepods.Event
	LastEvent int64
	TTLs      []string
	Next      *spacepods.Environment // next master environment (promote target)
	Tests     []spacepods.TestRun    // the latest Gatekeeper test runs
}

// envPage is the page of a pod (/pods/NAME) or of a master environment
// (/environments/NAME): apps with links, builds and status, deploys,
// progress, and the actions the role allows.
func (u *UI) envPage(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	ctx := r.Context()
	name := r.PathValue("name")
	view, err := u.cfg.Pods.Show(ctx, name)
	if err != nil {
		return err
	}
	isPod := view.Kind == spacepods.EnvPod
	if want := envPath(view.Environment); !strings.HasPrefix(r.URL.Path, want) {
		return redirect(w, r, want, "")
	}
	d := envData{Env: view, IsPod: isPod, TTLs: ttlChoices}
	running, err := u.running(ctx, name)
	if err != nil {
		return err
	}
	for _, ea := range view.AppStatus {
		row := envRow{EnvApp: ea, Running: running[ea.App]}
		if isPod {
			if row.Builds, err = u.cfg.Catalog.Builds(ctx, spacepods.BuildFilter{App: ea.App, Limit: 15}); err != nil {
				return err
			}
		}
		row.CanRollback = u.canRollback(ctx, name, ea)
		d.Rows = append(d.Rows, row)
	}
	if d.Deploys, err = u.cfg.Deploys.List(ctx, name, "", 20); err != nil {
		return err
	}
	if u.cfg.Tests != nil {
		if d.Tests, err = u.cfg.Tests.List(ctx, name, "", 10); err != nil {
			return err
		}
	}
	if isPod {
		if d.Events, err = u.cfg.Pods.Events(ctx, name, 0); err != nil {
			return err
		}
		if n := len(d.Events); n > 0 {
			d.LastEvent = d.Events[n-1].ID
		}
	} else {
		masters, err := u.masters(ctx)
		if err != nil {
			return err
		}
		for i, m := range masters {
			if m.Name == name && i+1 < len(masters) {
				d.Next = &masters[i+1]
			}
		}
	}
	st, err := u.envState(ctx, name)
	if err != nil {
		return err
	}
	title, nav := view.Name, "pods"
	if !isPod {
		nav = "environments"
	}
	v := u.newView(r, title, nav, &d)
	v.Live = "/ui/events/env/" + url.PathEscape(name) + "?after=" + strconv.FormatInt(d.LastEvent, 10)
	v.State = st.Hash
	if transitional(view.Status) {
		v.Refresh = 5
	}
	return u.render(w, http.StatusOK, "env", v)
}

// envPath is the UI page of an environment.
func envPath(e spacepods.Environment) string {
	if e.Kind == spacepods.EnvMaster {
		return "/environments/" + url.PathEscape(e.Name)
	}
	return "/pods/" + url.PathEscape(e.Name)
}

// canRollback reports whether app has a release in env, other than the
// live one, that a rollback would redeploy.
func (u *UI) canRollback(ctx context.Context, env string, ea spacepods.EnvApp) bool {
	if ea.Release == 0 {
		return false
	}
	ds, err := u.cfg.Deploys.List(ctx, env, ea.App, 200)
	if err != nil {
		return false
	}
	for _, d := range ds {
		if d.Status == spacepods.DeployCompleted && d.Release > 0 && d.Release != ea.Release {
			return true
		}
	}
	return false
}

func (u *UI) extendPod(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	name := r.PathValue("name")
	if _, err := u.cfg.Pods.Extend(r.Context(), name, r.PostForm.Get("ttl")); err != nil {
		return err
	}
	return redirect(w, r, "/pods/"+url.PathEscape(name), "extended")
}

func (u *UI) updatePod(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	name := r.PathValue("name")
	f, err := parsePodForm(r.PostForm)
	if err != nil {
		return err
	}
	if _, err := u.cfg.Pods.Update(r.Context(), name, f.Builds); err != nil {
		return err
	}
	return redirect(w, r, "/pods/"+url.PathEscape(name), "updating")
}

func (u *UI) destroyPod(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	name := r.PathValue("name")
	env, err := u.cfg.Pods.Show(r.Context(), name)
	if err != nil {
		return err
	}
	if env.Kind != spacepods.EnvPod {
		return spacepods.Errorf(spacepods.EINVALID, "%s is a master environment, not a pod: the UI destroys only pods", name)
	}
	if err := u.cfg.Pods.Destroy(r.Context(), name); err != nil {
		return err
	}
	return redirect(w, r, "/pods/"+url.PathEscape(name), "destroy")
}

// maxLogBytes bounds the log tail a page shows without JavaScript.
const maxLogBytes = 1 << 20

type logsData struct {
	Env    spacepods.Environment
	App    string
	Apps   []string
	Lines  string
	Err    string
	Stream string
}

// logsPage shows the last lines of an app's logs; the script then follows
// them live.
func (u *UI) logsPage(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	ctx := r.Context()
	envName, app := r.PathValue("env"), r.PathValue("app")
	view, err := u.cfg.Pods.Show(ctx, envName)
	if err != nil {
		return err
	}
	d := logsData{Env: view.Environment, App: app}
	for _, ea := range view.AppStatus {
		d.Apps = append(d.Apps, ea.App)
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rc, err := u.cfg.Pods.Logs(lctx, envName, app, runtime.LogOptions{Tail: 200})
	if err != nil {
		d.Err = spacepods.ErrorMessage(err)
	} else {
		b, _ := io.ReadAll(io.LimitReader(rc, maxLogBytes))
		rc.Close()
		d.Lines = string(b)
		d.Stream = "/ui/events/logs/" + url.PathEscape(envName) + "/" + url.PathEscape(app)
	}
	nav := "pods"
	if view.Kind == spacepods.EnvMaster {
		nav = "environments"
	}
	return u.render(w, http.StatusOK, "logs", u.newView(r, app+" logs · "+envName, nav, &d))
}

// logEvents follows an app's logs as Server-Sent Events: one "log" event a
// line (the last 200 first), "end" when the stream ends.
func (u *UI) logEvents(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	ctx, done, err := u.openStream(r)
	if err != nil {
		return err
	}
	defer done()
	rc, err := u.cfg.Pods.Logs(ctx, r.PathValue("env"), r.PathValue("app"), runtime.LogOptions{Follow: true, Tail: 200})
	if err != nil {
		return err
	}
	defer rc.Close()
	s := startSSE(w)
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if err := s.send("log", 0, sc.Text()); err != nil {
			return nil
		}
	}
	_ = s.send("end", 0, "the log stream ended (the service stopped or was replaced): reload to follow the new one") // the reader went away; nothing left to report to
	return nil
}
