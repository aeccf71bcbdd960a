package ui

import (
	"context"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// cell is what runs of one app in one master environment.
type cell struct {
	Env, App string
	Build    int
	Release  int
	Status   string
	Since    time.Time         // when the running release went live (or the row changed)
	By       string            // who deployed it
	Deploy   *spacepods.Deploy // the deploy that made it live, when known
	Empty    bool
}

type matrixRow struct {
	App   string
	Cells []cell
}

// matrix is apps × master environments.
type matrix struct {
	Envs []spacepods.Environment
	Rows []matrixRow
}

type dashboardData struct {
	MyPods   []spacepods.Environment
	AllPods  int
	Deploys  []spacepods.Deploy
	Matrix   matrix
	AppCount int
}

func (u *UI) dashboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var d dashboardData
	apps, err := u.cfg.Catalog.List(ctx, store.ListOptions{Limit: 1000})
	if err != nil {
		return err
	}
	d.AppCount = len(apps)
	v := u.newView(r, "Dashboard", "dashboard", &d)
	if v.Runtime {
		all, err := u.cfg.Pods.List(ctx, spacepods.EnvPod)
		if err != nil {
			return err
		}
		d.AllPods = len(all)
		me := spacepods.ActorName(ctx)
		for _, p := range all {
			if p.Owner == me {
				d.MyPods = append(d.MyPods, p)
			}
		}
		if d.Deploys, err = u.cfg.Deploys.List(ctx, "", "", 10); err != nil {
			return err
		}
		if d.Matrix, err = u.matrix(ctx, apps); err != nil {
			return err
		}
	}
	return u.render(w, http.StatusOK, "dashboard", v)
}

// masters returns the master environments in pipeline order (oldest
// first: qa is made before staging, staging before production).
func (u *UI) masters(ctx context.Context) ([]spacepods.Environment, error) {
	envs, err := u.cfg.Pods.List(ctx, spacepods.EnvMaster)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(envs, func(i, j int) bool { return envs[i].CreatedAt.Before(envs[j].CreatedAt) })
	return envs, nil
}

// running returns what runs in env, app by app, with who deployed it.
func (u *UI) running(ctx context.Context, env string) (map[string]cell, error) {
	eas, err := u.cfg.Store.EnvApps(ctx, env)
	if err != nil {
		return nil, err
	}
	ds, err := u.cfg.Deploys.List(ctx, env, "", 500)
	if err != nil {
		return nil, err
	}
	out := map[string]cell{}
	for _, ea := range eas {
		c := cell{Env: env, App: ea.App, Build: ea.Build, Release: ea.Release, Status: ea.Status, Since: ea.UpdatedAt}
		for i := range ds {
			d := &ds[i]
			if d.App == ea.App && d.Status == spacepods.DeployCompleted && d.Release == ea.Release {
				c.Deploy, c.By = d, d.CreatedBy
				if d.EndedAt != nil {
					c.Since = *d.EndedAt
				}
				break
			}
		}
		out[ea.App] = c
	}
	return out, nil
}

func (u *UI) matrix(ctx context.Context, apps []spacepods.App) (matrix, error) {
	var m matrix
	envs, err := u.masters(ctx)
	if err != nil {
		return m, err
	}
	m.Envs = envs
	runs := make([]map[string]cell, len(envs))
	for i, e := range envs {
		if runs[i], err = u.running(ctx, e.Name); err != nil {
			return m, err
		}
	}
	for _, a := range apps {
		row := matrixRow{App: a.Name}
		for i, e := range envs {
			c, ok := runs[i][a.Name]
			if !ok {
				c = cell{Env: e.Name, App: a.Name, Empty: true}
			}
			row.Cells = append(row.Cells, c)
		}
		m.Rows = append(m.Rows, row)
	}
	return m, nil
}

type appSummary struct {
	spacepods.App
	Latest     *spacepods.Build
	Dependents []string
}

func (u *UI) appsPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	apps, err := u.cfg.Catalog.List(ctx, store.ListOptions{Limit: 1000})
	if err != nil {
		return err
	}
	g, err := u.cfg.Catalog.Graph(ctx)
	if err != nil {
		return err
	}
	out := make([]appSummary, 0, len(apps))
	for _, a := range apps {
		s := appSummary{App: a, Dependents: g.Dependents(a.Name)}
		if b, err := u.cfg.Catalog.LatestBuild(ctx, a.Name, spacepods.DefaultBranch); err == nil {
			s.Latest = &b
		}
		out = append(out, s)
	}
	return u.render(w, http.StatusOK, "apps", u.newView(r, "Apps", "apps", out))
}

type appData struct {
	App         spacepods.App
	Builds      []spacepods.Build
	Versions    int
	Graph       template.HTML
	Order       []string
	DepsProblem string // why the closure cannot be formed (missing app, cycle)
	Dependents  []string
	Manifest    string
	Runs        []cell                  // where it runs (master environments)
	Masters     []spacepods.Environment // deploy targets
	EnvVars     []envVar                // the defaults, before any per-scope config
	Config      configData
	Builder     bool                 // the server has the built-in builder
	Jobs        []spacepods.BuildJob // its jobs of this app, newest first
}

// envVar is one line of the default environment every container of an app
// gets (shown under the env vars editor).
type envVar struct {
	Name, Value, Source string
}

func (u *UI) appPage(w http.ResponseWriter, r *http.Request) error {
	return u.renderApp(w, r, http.StatusOK, r.PathValue("name"), appState{})
}

// renderApp renders the page of app name with what a config form adds to
// it (a failed change and its form, a revealed secret).
func (u *UI) renderApp(w http.ResponseWriter, r *http.Request, status int, name string, st appState) error {
	ctx := r.Context()
	app, err := u.cfg.Catalog.Get(ctx, name)
	if err != nil {
		return err
	}
	d := appData{App: app}
	if d.Builds, err = u.cfg.Catalog.Builds(ctx, spacepods.BuildFilter{App: name, Limit: 25}); err != nil {
		return err
	}
	if vs, err := u.cfg.Catalog.Versions(ctx, name); err == nil {
		d.Versions = len(vs)
	}
	dg, err := u.graph(ctx, []string{name})
	if err != nil {
		return err
	}
	d.Graph = dg.SVG("Dependencies of " + name)
	if _, d.Order, d.DepsProblem, err = u.cfg.Catalog.Deps(ctx, name); err != nil {
		return err
	}
	g, err := u.cfg.Catalog.Graph(ctx)
	if err != nil {
		return err
	}
	d.Dependents = g.Dependents(name)
	d.Manifest = manifestYAML(app)
	d.EnvVars = defaultEnv(app)
	v := u.newView(r, app.Name, "apps", &d)
	var masters []spacepods.Environment
	if v.Runtime {
		if masters, err = u.masters(ctx); err != nil {
			return err
		}
		for _, e := range masters {
			runs, err := u.running(ctx, e.Name)
			if err != nil {
				return err
			}
			c, ok := runs[name]
			if !ok {
				c = cell{Env: e.Name, App: name, Empty: true}
			}
			d.Runs = append(d.Runs, c)
			if v.CanDeploy(e.Protected) {
				d.Masters = append(d.Masters, e)
			}
		}
	}
	if d.Config, err = u.configData(ctx, name, masters, v.Runtime, st); err != nil {
		return err
	}
	if err := u.appJobs(ctx, &d); err != nil {
		return err
	}
	return u.render(w, status, "app", v)
}

// appGraph serves an app's dependency picture on its own (for linking or
// embedding elsewhere).
func (u *UI) appGraph(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := u.cfg.Catalog.Get(r.Context(), name); err != nil {
		return err
	}
	dg, err := u.graph(r.Context(), []string{name})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	// A write error means the reader went away; the SVG escapes every name and label.
	_, _ = w.Write([]byte(dg.SVG("Dependencies of " + name))) //nolint:gosec // G705: escaped SVG, see above
	return nil
}

// graph lays out roots and their dependencies, with each app's kind.
func (u *UI) graph(ctx context.Context, roots []string) (*depGraph, error) {
	g, err := u.cfg.Catalog.Graph(ctx)
	if err != nil {
		return nil, err
	}
	apps, err := u.cfg.Catalog.List(ctx, store.ListOptions{Limit: 1000})
	if err != nil {
		return nil, err
	}
	kinds := map[string]string{}
	for _, a := range apps {
		kinds[a.Name] = a.Kind
	}
	return layoutGraph(g, roots, kinds), nil
}

// manifestYAML renders an app as a manifest in the style of the examples:
// fields in reference order, empty ones left out, short lists and maps in
// flow style.
func manifestYAML(a spacepods.App) string {
	var b strings.Builder
	line := func(indent int, key, value string) {
		b.WriteString(strings.Repeat("  ", indent) + key + ":")
		if value != "" {
			b.WriteString(" " + value)
		}
		b.WriteByte('\n')
	}
	line(0, "name", scalar(a.Name))
	line(0, "repo", scalar(a.Repo))
	line(0, "kind", scalar(a.Kind))
	if a.Port != 0 {
		line(0, "port", strconv.Itoa(a.Port))
	}
	if a.Health != "" {
		line(0, "health", scalar(a.Health))
	}
	if len(a.Command) > 0 {
		line(0, "command", flowList(a.Command))
	}
	if len(a.Args) > 0 {
		line(0, "args", flowList(a.Args))
	}
	if len(a.Dependencies) > 0 {
		line(0, "dependencies", flowList(a.Dependencies))
	}
	if db := a.Database; db != nil {
		line(0, "database", "")
		line(1, "engine", scalar(db.Engine))
		if db.Seed != "" {
			line(1, "seed", scalar(db.Seed))
		}
		if db.Snapshot != "" {
			line(1, "snapshot", scalar(db.Snapshot))
		}
	}
	if len(a.Migrate) > 0 {
		line(0, "migrate", flowList(a.Migrate))
	}
	if a.MigrateTimeout != "" {
		line(0, "migrate_timeout", scalar(a.MigrateTimeout))
	}
	if len(a.Env) > 0 {
		line(0, "env", "")
		for _, k := range sortedKeys(a.Env) {
			line(1, k, scalar(a.Env[k]))
		}
	}
	var rollout []string
	if len(a.Rollout.Stages) > 0 {
		stages := make([]string, len(a.Rollout.Stages))
		for i, n := range a.Rollout.Stages {
			stages[i] = strconv.Itoa(n)
		}
		rollout = append(rollout, "stages: ["+strings.Join(stages, ", ")+"]")
	}
	if len(a.Rollout.Replicas) > 0 {
		keys := make([]string, 0, len(a.Rollout.Replicas))
		for k := range a.Rollout.Replicas {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		reps := make([]string, len(keys))
		for i, k := range keys {
			reps[i] = scalar(k) + ": " + strconv.Itoa(a.Rollout.Replicas[k])
		}
		rollout = append(rollout, "replicas: {"+strings.Join(reps, ", ")+"}")
	}
	if len(rollout) > 0 {
		line(0, "rollout", "{"+strings.Join(rollout, ", ")+"}")
	}
	if len(a.Workers) > 0 {
		line(0, "workers", "")
		for _, w := range a.Workers {
			v := "  - {name: " + scalar(w.Name)
			if len(w.Command) > 0 {
				v += ", command: " + flowList(w.Command)
			}
			if len(w.Args) > 0 {
				v += ", args: " + flowList(w.Args)
			}
			b.WriteString(v + "}\n")
		}
	}
	if t := a.Tests; t != nil {
		v := "{image: " + scalar(t.Image)
		if len(t.Command) > 0 {
			v += ", command: " + flowList(t.Command)
		}
		if len(t.Args) > 0 {
			v += ", args: " + flowList(t.Args)
		}
		if t.Timeout != "" {
			v += ", timeout: " + scalar(t.Timeout)
		}
		line(0, "tests", v+"}")
	}
	return strings.TrimRight(b.String(), "\n")
}

// scalar is a YAML scalar, quoted only when it must be.
func scalar(v string) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		return strconv.Quote(v)
	}
	s := strings.TrimSpace(string(out))
	if strings.ContainsAny(s, ",[]{}") && !strings.HasPrefix(s, `"`) && !strings.HasPrefix(s, "'") {
		s = strconv.Quote(v) // plain commas and brackets would break flow style
	}
	return s
}

func flowList(xs []string) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = scalar(x)
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// defaultEnv lists what every container of app gets before any per-scope
// config: the standard variables, dependency URLs and the manifest's env.
func defaultEnv(a spacepods.App) []envVar {
	out := []envVar{
		{"SPACEPODS_ENV", "(the environment's name)", "standard"},
		{"SPACEPODS_APP", a.Name, "standard"},
		{"SPACEPODS_BUILD", "(the build number)", "standard"},
		{"SPACEPODS_GIT_SHA", "(the build's commit)", "standard"},
	}
	if a.Kind == spacepods.KindWeb {
		out = append(out, envVar{"PORT", strconv.Itoa(a.Port), "standard"})
	}
	if a.Database != nil {
		out = append(out, envVar{"DATABASE_URL", "(this environment's " + a.Database.Engine + " database)", "standard"})
	}
	for _, d := range a.Dependencies {
		out = append(out, envVar{spacepods.EnvVarName(d) + "_URL", "(URL of " + d + " in the same environment)", "dependency"})
	}
	for _, k := range sortedKeys(a.Env) {
		out = append(out, envVar{k, a.Env[k], "manifest"})
	}
	return out
}
