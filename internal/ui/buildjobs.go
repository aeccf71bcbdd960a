package ui

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// The built-in builder's pages: the app page lists its build jobs (and,
// for developers, a form to run one); a job page shows the job and its log,
// followed live while it runs.

func (u *UI) needBuilder() error {
	if u.cfg.Builder == nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "the built-in builder is off on this server: start it with --registry HOST[:PORT] (see docs/builder.md)")
	}
	return nil
}

// appJobs fills the app page's build jobs (none when the builder is off).
func (u *UI) appJobs(ctx context.Context, d *appData) error {
	if u.cfg.Builder == nil {
		return nil
	}
	d.Builder = true
	jobs, err := u.cfg.Builder.Jobs(ctx, d.App.Name, 15)
	d.Jobs = jobs
	return err
}

// runBuild queues a build of the app from the app page's form.
func (u *UI) runBuild(w http.ResponseWriter, r *http.Request) error {
	if err := u.needBuilder(); err != nil {
		return err
	}
	j, err := u.cfg.Builder.Run(r.Context(), r.PathValue("name"), spacepods.RunBuildRequest{Ref: strings.TrimSpace(r.FormValue("ref"))})
	if err != nil {
		return err
	}
	return redirect(w, r, "/builds/jobs/"+strconv.FormatInt(j.ID, 10), "build")
}

type buildJobData struct {
	Job     spacepods.BuildJob
	ShowLog bool   // the caller may read build output
	Stream  string // the live log's SSE URL while the job runs
}

// buildJobPage shows a build job and its log.
func (u *UI) buildJobPage(w http.ResponseWriter, r *http.Request) error {
	if err := u.needBuilder(); err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return spacepods.Errorf(spacepods.ENOTFOUND, "build job %q does not exist: job ids are positive numbers (see the app's page)", r.PathValue("id"))
	}
	d := buildJobData{ShowLog: spacepods.MayReadOutput(r.Context())}
	if d.Job, err = u.cfg.Builder.Job(r.Context(), id, d.ShowLog); err != nil {
		return err
	}
	if d.ShowLog && !d.Job.Done() {
		d.Stream = "/ui/events/build-jobs/" + strconv.FormatInt(id, 10)
	}
	v := u.newView(r, "Build job "+strconv.FormatInt(id, 10)+" · "+d.Job.App, "apps", &d)
	if !d.Job.Done() {
		v.Refresh = 5 // without JavaScript, the page reloads until the job ends
	}
	return u.render(w, http.StatusOK, "buildjob", v)
}

// buildJobEvents follows a job's log as Server-Sent Events: one "log"
// event a line (from the start), then "end" with how the job ended.
func (u *UI) buildJobEvents(w http.ResponseWriter, r *http.Request) error {
	if err := u.needBuilder(); err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return spacepods.Errorf(spacepods.ENOTFOUND, "build job %q does not exist", r.PathValue("id"))
	}
	ctx, done, err := u.openStream(r)
	if err != nil {
		return err
	}
	defer done()
	if _, err := u.cfg.Builder.Job(ctx, id, false); err != nil {
		return err
	}
	s := startSSE(w)
	lw := &sseLines{s: s}
	if err := u.cfg.Builder.FollowLog(ctx, id, 0, lw); err != nil {
		return nil //nolint:nilerr // the reader went away
	}
	lw.flush()
	j, err := u.cfg.Builder.Job(ctx, id, false)
	if err != nil {
		return nil //nolint:nilerr // the reader is told nothing more; the page shows the job on reload
	}
	end := "build " + j.Status
	if j.BuildNumber > 0 {
		end += ": recorded build #" + strconv.Itoa(j.BuildNumber)
	} else if j.Error != "" {
		end += ": " + j.Error
	}
	_ = s.send("end", 0, end+" (reload for the summary)") // the reader went away; nothing left to report to
	return nil
}

// sseLines sends what is written to it as one "log" event per line.
type sseLines struct {
	s       *sseWriter
	partial []byte
}

func (l *sseLines) Write(p []byte) (int, error) {
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		if err := l.s.send("log", 0, string(l.partial[:i])); err != nil {
			return 0, err
		}
		l.partial = l.partial[i+1:]
	}
}

func (l *sseLines) flush() {
	if len(l.partial) > 0 {
		_ = l.s.send("log", 0, string(l.partial)) // the reader went away; nothing left to report to
		l.partial = nil
	}
}
