package router

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// Reasons put in the X-Spacepods-Error header of the router's own answers, so
// that scripts and tests can tell them from an app's own 404 or 502.
const (
	ReasonUnknownHost    = "unknown-host"
	ReasonNoEnvironment  = "no-environment"
	ReasonNoApp          = "no-app"
	ReasonNoHealthy      = "no-healthy-target"
	ReasonTargetsFailing = "targets-failing"
	ReasonDrained        = "drain-timeout"
)

// ErrorHeader is the response header that carries one of the Reason values.
const ErrorHeader = "X-Spacepods-Error"

// page is an answer the router gives itself: what went wrong and what to do.
type page struct {
	Status  int
	Reason  string
	Env     string
	App     string
	Problem string // what is wrong, naming the environment and app
	Advice  string // what to do, before Command
	Command string // a command to run; may be empty
}

// Text is the page as one line of plain text.
func (p page) Text() string {
	s := p.Problem
	if p.Advice != "" {
		s += ": " + p.Advice
		if p.Command != "" {
			s += " `" + p.Command + "`"
		}
	}
	return s
}

func pageUnknownHost(host, domain string) page {
	return page{Status: http.StatusNotFound, Reason: ReasonUnknownHost,
		Problem: fmt.Sprintf("host %s is not an app address", host),
		Advice:  fmt.Sprintf("use <app>.<environment>.%s, e.g. web.alice.%s; list environments with", domain, domain),
		Command: "spacepods pod list"}
}

func pageNoEnvironment(env, app string) page {
	return page{Status: http.StatusNotFound, Reason: ReasonNoEnvironment, Env: env, App: app,
		Problem: "no environment named " + env,
		Advice:  "list them with", Command: "spacepods pod list"}
}

func pageNoApp(env, app string, apps []string) page {
	has := "it has no apps yet"
	if len(apps) > 0 {
		has = "it has: " + strings.Join(apps, ", ")
	}
	return page{Status: http.StatusNotFound, Reason: ReasonNoApp, Env: env, App: app,
		Problem: fmt.Sprintf("environment %s has no app named %s; %s", env, app, has),
		Advice:  "see what is deployed with", Command: "spacepods pod show " + env}
}

func pageNoHealthy(env, app string, targets int) page {
	problem := fmt.Sprintf("app %s in environment %s has no healthy target yet", app, env)
	if targets == 0 {
		problem = fmt.Sprintf("app %s in environment %s has no targets (it is scaled to zero or not deployed)", app, env)
	}
	return page{Status: http.StatusServiceUnavailable, Reason: ReasonNoHealthy, Env: env, App: app,
		Problem: problem, Advice: "check", Command: "spacepods pod show " + env}
}

func pageFailing(env, app string, targets int, cause string) page {
	return page{Status: http.StatusBadGateway, Reason: ReasonTargetsFailing, Env: env, App: app,
		Problem: fmt.Sprintf("app %s in environment %s is failing: none of its %d targets answers (%s)", app, env, targets, cause),
		Advice:  "check its logs and health with", Command: "spacepods pod show " + env}
}

func pageDrained(env, app string, timeout time.Duration) page {
	return page{Status: http.StatusBadGateway, Reason: ReasonDrained, Env: env, App: app,
		Problem: fmt.Sprintf("app %s in environment %s: the target serving this request was removed and did not answer within the drain timeout (%s)", app, env, timeout),
		Advice:  "retry the request"}
}

var pageHTML = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Status}} · Spacepods router</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}code{background:#f2f2f2;padding:.1rem .3rem;border-radius:3px}.meta{color:#777;font-size:.9rem}</style>
</head><body>
<h1>{{.Status}} {{.StatusText}}</h1>
<p>{{.Problem}}.</p>
{{if .Advice}}<p>{{.Advice}}{{if .Command}} <code>{{.Command}}</code>{{end}}.</p>{{end}}
<p class="meta">{{if .Env}}environment: <b>{{.Env}}</b> · app: <b>{{.App}}</b> · {{end}}answered by the Spacepods edge router</p>
</body></html>
`))

// writePage answers with p: HTML for browsers, plain text for everything else.
func writePage(w http.ResponseWriter, req *http.Request, p page) {
	h := w.Header()
	h.Set(ErrorHeader, p.Reason)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.Contains(req.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(p.Status)
		_ = pageHTML.Execute(w, struct {
			page
			StatusText string
		}{p, http.StatusText(p.Status)})
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(p.Status)
	fmt.Fprintf(w, "%d %s: %s\n", p.Status, http.StatusText(p.Status), p.Text()) //nolint:gosec // served as text/plain, so nothing is interpreted as HTML
}
