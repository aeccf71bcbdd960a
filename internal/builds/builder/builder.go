// Package builder is the built-in builder, for apps whose repositories have
// no CI: it fetches an app's git repository (go-git, into a cache in the
// data dir), builds the image at the asked commit with the Docker Engine
// API, pushes it to the registry and records the build with the commit's
// SHA, branch, author and message. Jobs wait in a durable queue in the
// store and run a few at a time; their logs stream live and are kept. A
// job that fails records no build.
package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/gitcache"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Store is what the builder keeps in the store (*store.Store implements it).
type Store interface {
	GetApp(ctx context.Context, name string) (spacepods.App, error)
	AddBuildJob(ctx context.Context, app, ref string) (spacepods.BuildJob, error)
	GetBuildJob(ctx context.Context, id int64, withLog bool) (spacepods.BuildJob, error)
	BuildJobLog(ctx context.Context, id int64) (string, error)
	ListBuildJobs(ctx context.Context, app string, limit int) ([]spacepods.BuildJob, error)
	QueuedBuildJobs(ctx context.Context) ([]spacepods.BuildJob, error)
	StartBuildJob(ctx context.Context, id int64) (spacepods.BuildJob, error)
	SaveBuildJob(ctx context.Context, j spacepods.BuildJob) error
	FinishBuildJob(ctx context.Context, j spacepods.BuildJob) error
	CancelQueuedBuildJob(ctx context.Context, id int64, reason string) error
	FailInterruptedBuildJobs(ctx context.Context, reason string) ([]spacepods.BuildJob, error)
	ReserveBuildNumber(ctx context.Context, id int64) (int, error)
	RecordJobBuild(ctx context.Context, j spacepods.BuildJob, b spacepods.Build) (spacepods.Build, error)
}

// Config configures a Builder.
type Config struct {
	Store  Store
	Docker Docker
	// Registry is where images are pushed: <Host>/<repository>:<build number>.
	Registry builds.Registry
	// DataDir holds the git cache, <DataDir>/builder/git/<app>.
	DataDir string
	// Concurrency is how many jobs run at once (0 = 1: builds are heavy
	// and small machines have few cores).
	Concurrency int
	// Sources finds an app's clone URL (nil = the manifest's build.git).
	Sources Sources
	// Repository names an app's image repository (nil = the app's name).
	Repository func(app *spacepods.App) string
	Logger     *slog.Logger
	// SaveEvery is how often a running job's log is saved (0 = 2 s); its
	// whole log is saved when it ends.
	SaveEvery time.Duration
}

// Builder runs build jobs. Create it with New, then call Start.
type Builder struct {
	cfg  Config
	wake chan struct{}
	wg   sync.WaitGroup

	claimMu sync.Mutex

	mu       sync.Mutex
	live     map[int64]*liveLog
	cancels  map[int64]context.CancelFunc
	canceled map[int64]string // job → who canceled it while it ran
	repos    map[string]*sync.Mutex
}

// InterruptedReason is the error of a job that was running when the
// server stopped: a half-done build is never resumed (its push may be
// partial), so the job fails and can be run again.
const InterruptedReason = "the server stopped while this job ran, so it was marked failed at the next start: run it again with `spacepods build run APP --ref REF`"

// New checks cfg and returns a Builder.
func New(cfg Config) (*Builder, error) {
	switch {
	case cfg.Store == nil || cfg.Docker == nil:
		return nil, errors.New("builder: Store and Docker are required")
	case cfg.Registry.Host == "":
		return nil, spacepods.Errorf(spacepods.EINVALID, "the builder pushes images to a registry: give the server one with --registry HOST[:PORT]")
	case cfg.DataDir == "":
		return nil, errors.New("builder: DataDir is required")
	case cfg.Concurrency < 0:
		return nil, spacepods.Errorf(spacepods.EINVALID, "--build-concurrency must be at least 1, got %d", cfg.Concurrency)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	if cfg.Sources == nil {
		cfg.Sources = ManifestSources{}
	}
	if cfg.Repository == nil {
		cfg.Repository = func(app *spacepods.App) string { return app.Name }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SaveEvery <= 0 {
		cfg.SaveEvery = 2 * time.Second
	}
	return &Builder{
		cfg: cfg, wake: make(chan struct{}, 1),
		live: map[int64]*liveLog{}, cancels: map[int64]context.CancelFunc{}, canceled: map[int64]string{}, repos: map[string]*sync.Mutex{},
	}, nil
}

// Start fails the jobs a stopped server left running and starts the
// workers, which run queued jobs (those left queued too, in order) until
// ctx ends. Wait waits for them.
func (b *Builder) Start(ctx context.Context) error {
	failed, err := b.cfg.Store.FailInterruptedBuildJobs(ctx, InterruptedReason)
	if err != nil {
		return fmt.Errorf("builder: fail interrupted jobs: %w", err)
	}
	for _, j := range failed {
		b.cfg.Logger.Warn("build job interrupted by a server stop: marked failed", "job", j.ID, "app", j.App)
	}
	for range b.cfg.Concurrency {
		b.wg.Add(1)
		go b.worker(ctx)
	}
	b.kick()
	return nil
}

// Wait waits until the workers have stopped (after Start's ctx ended).
func (b *Builder) Wait() { b.wg.Wait() }

// Concurrency is how many jobs run at once.
func (b *Builder) Concurrency() int { return b.cfg.Concurrency }

func (b *Builder) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Run queues a build of app at ref (a branch, tag or commit; "" = the
// default branch). EINVALID when the app has no build source; ENOTFOUND
// when it is not registered.
func (b *Builder) Run(ctx context.Context, app string, req spacepods.RunBuildRequest) (spacepods.BuildJob, error) {
	if err := req.Validate(); err != nil {
		return spacepods.BuildJob{}, err
	}
	a, err := b.cfg.Store.GetApp(ctx, app)
	if err != nil {
		return spacepods.BuildJob{}, err
	}
	if _, err := b.cfg.Sources.CloneURL(ctx, &a); err != nil {
		return spacepods.BuildJob{}, err
	}
	j, err := b.cfg.Store.AddBuildJob(ctx, app, req.Ref)
	if err != nil {
		return j, err
	}
	b.kick()
	return j, nil
}

// Job returns a job, with its log so far when withLog.
func (b *Builder) Job(ctx context.Context, id int64, withLog bool) (spacepods.BuildJob, error) {
	j, err := b.cfg.Store.GetBuildJob(ctx, id, withLog)
	if err != nil {
		return j, err
	}
	if l := b.liveLog(id); l != nil && withLog {
		j.Log = l.String() // fresher than the last save
	}
	return j, nil
}

// Jobs lists an app's jobs, newest first.
func (b *Builder) Jobs(ctx context.Context, app string, limit int) ([]spacepods.BuildJob, error) {
	if _, err := b.cfg.Store.GetApp(ctx, app); err != nil {
		return nil, err
	}
	return b.cfg.Store.ListBuildJobs(ctx, app, limit)
}

// Cancel cancels a queued or running job. ECONFLICT when it has ended.
func (b *Builder) Cancel(ctx context.Context, id int64) (spacepods.BuildJob, error) {
	who := spacepods.ActorName(ctx)
	b.mu.Lock()
	cancel := b.cancels[id]
	if cancel != nil {
		b.canceled[id] = who
	}
	b.mu.Unlock()
	if cancel != nil {
		cancel()
		// The job ends canceled as soon as Docker or git notices; wait for that.
		if l := b.liveLog(id); l != nil {
			select {
			case <-ctx.Done():
			case <-l.ended:
			}
		}
		return b.Job(ctx, id, false)
	}
	if err := b.cfg.Store.CancelQueuedBuildJob(ctx, id, "canceled by "+who+" before it started"); err != nil {
		if spacepods.ErrorCode(err) == spacepods.ECONFLICT {
			j, gerr := b.cfg.Store.GetBuildJob(ctx, id, false)
			if gerr != nil {
				return j, gerr
			}
			return j, spacepods.Errorf(spacepods.ECONFLICT, "build job %d has already ended (%s): nothing to cancel", id, j.Status)
		}
		return spacepods.BuildJob{}, err
	}
	return b.cfg.Store.GetBuildJob(ctx, id, false)
}

// FollowLog writes a job's log to w from byte offset, following it until
// the job ends (a queued job is waited for) or ctx does.
func (b *Builder) FollowLog(ctx context.Context, id int64, offset int, w io.Writer) error {
	for {
		if l := b.liveLog(id); l != nil {
			var err error
			if offset, err = l.follow(ctx, offset, w); err != nil {
				return err
			}
			// The job has ended and its whole log is saved; anything
			// appended after the last read comes from the store below.
		}
		j, err := b.cfg.Store.GetBuildJob(ctx, id, true)
		if err != nil {
			return err
		}
		if j.Done() {
			if offset < len(j.Log) {
				_, err = io.WriteString(w, j.Log[offset:])
			}
			return err
		}
		if l := b.liveLog(id); l != nil {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (b *Builder) liveLog(id int64) *liveLog {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.live[id]
}

func (b *Builder) worker(ctx context.Context) {
	defer b.wg.Done()
	for {
		if ctx.Err() != nil {
			return
		}
		j, l, ok := b.claim(ctx)
		if ok {
			b.kick() // another idle worker may take the next job
			b.run(ctx, j, l)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		}
	}
}

// claim starts the oldest queued job, registering its live log first so
// that a follower never finds it running without one.
func (b *Builder) claim(ctx context.Context) (spacepods.BuildJob, *liveLog, bool) {
	b.claimMu.Lock()
	defer b.claimMu.Unlock()
	queued, err := b.cfg.Store.QueuedBuildJobs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			b.cfg.Logger.Error("builder: list queued jobs", "err", err)
		}
		return spacepods.BuildJob{}, nil, false
	}
	for _, q := range queued {
		l := newLiveLog("")
		b.mu.Lock()
		b.live[q.ID] = l
		b.mu.Unlock()
		j, err := b.cfg.Store.StartBuildJob(ctx, q.ID)
		if err == nil {
			return j, l, true
		}
		b.mu.Lock()
		delete(b.live, q.ID)
		b.mu.Unlock()
		if spacepods.ErrorCode(err) != spacepods.ECONFLICT {
			b.cfg.Logger.Error("builder: start job", "job", q.ID, "err", err)
			return spacepods.BuildJob{}, nil, false
		}
	}
	return spacepods.BuildJob{}, nil, false
}

// run runs one job to its end and saves how it ended.
func (b *Builder) run(ctx context.Context, j spacepods.BuildJob, l *liveLog) {
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.mu.Lock()
	b.cancels[j.ID] = cancel
	b.mu.Unlock()
	logger := b.cfg.Logger.With("job", j.ID, "app", j.App)
	logger.Info("build job started", "ref", j.Ref)
	logf := func(format string, args ...any) { l.append(fmt.Sprintf(format, args...)) }
	// Save the log now and then, so that a crash keeps most of it.
	saved := make(chan struct{})
	stopSaving := make(chan struct{})
	go func() {
		defer close(saved)
		t := time.NewTicker(b.cfg.SaveEvery)
		defer t.Stop()
		for {
			select {
			case <-stopSaving:
				return
			case <-t.C:
				b.saveLog(jctx, j.ID, l)
			}
		}
	}()
	started := time.Now()
	err := b.execute(jctx, &j, logf, l)
	close(stopSaving)
	<-saved

	store := context.WithoutCancel(ctx)
	if err != nil {
		b.mu.Lock()
		who, canceled := b.canceled[j.ID]
		b.mu.Unlock()
		switch {
		case canceled:
			j.Status, j.Error = spacepods.JobCanceled, "canceled by "+who+" while it ran"
		case ctx.Err() != nil:
			j.Status, j.Error = spacepods.JobFailed, "the server shut down while this job ran: run it again"
		default:
			j.Status, j.Error = spacepods.JobFailed, jobError(err)
		}
		logf("\nbuild %s: %s\n", j.Status, j.Error)
		j.Log = l.String()
		if ferr := b.cfg.Store.FinishBuildJob(store, j); ferr != nil {
			logger.Error("save the end of a build job", "err", ferr)
		}
		logger.Info("build job ended", "status", j.Status, "err", j.Error, "took", time.Since(started).Round(time.Millisecond))
	} else {
		logger.Info("build job succeeded", "build", j.BuildNumber, "image", j.Image, "took", time.Since(started).Round(time.Millisecond))
	}
	l.finish()
	b.mu.Lock()
	delete(b.live, j.ID)
	delete(b.cancels, j.ID)
	delete(b.canceled, j.ID)
	b.mu.Unlock()
}

func (b *Builder) saveLog(ctx context.Context, id int64, l *liveLog) {
	j, err := b.cfg.Store.GetBuildJob(ctx, id, false)
	if err != nil {
		return
	}
	j.Log = l.String()
	_ = b.cfg.Store.SaveBuildJob(ctx, j) // best effort: the whole log is saved at the end
}

// repoLock serializes the use of one app's git cache.
func (b *Builder) repoLock(app string) *sync.Mutex {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.repos[app]
	if m == nil {
		m = &sync.Mutex{}
		b.repos[app] = m
	}
	return m
}

// execute fetches, builds, pushes and records; j gains what its ref
// resolved to and what it made. On success the job is saved as succeeded
// with its build.
func (b *Builder) execute(ctx context.Context, j *spacepods.BuildJob, logf func(string, ...any), l *liveLog) error {
	app, err := b.cfg.Store.GetApp(ctx, j.App)
	if err != nil {
		return err
	}
	url, err := b.cfg.Sources.CloneURL(ctx, &app)
	if err != nil {
		return err
	}
	contextDir, dockerfile := app.Build.ContextDir(), app.Build.DockerfilePath()

	t0 := time.Now()
	lock := b.repoLock(app.Name)
	lock.Lock()
	locked := true
	defer func() {
		if locked {
			lock.Unlock()
		}
	}()
	cache := &gitCache{dir: gitcache.Path(b.cfg.DataDir, app.Name), url: url}
	repo, defBranch, err := cache.fetch(ctx, logf)
	if err != nil {
		return err
	}
	c, err := resolve(repo, j.Ref, defBranch, url)
	if err != nil {
		return err
	}
	j.SHA, j.Branch, j.Author, j.Message = c.sha, c.branch, c.author, c.message
	logf("commit %s on %s by %s: %s\n", c.sha[:12], c.branch, c.author, firstLine(c.message))
	tree, err := contextTree(c.obj, contextDir, dockerfile)
	if err != nil {
		return err
	}
	logf("fetched in %s\n", time.Since(t0).Round(time.Millisecond))

	n, err := b.cfg.Store.ReserveBuildNumber(ctx, j.ID)
	if err != nil {
		return err
	}
	j.Image = b.cfg.Registry.Ref(b.cfg.Repository(&app), strconv.Itoa(n))
	j.Log = l.String()
	if err := b.cfg.Store.SaveBuildJob(ctx, *j); err != nil {
		return err
	}

	t1 := time.Now()
	logf("building %s from %s (context %s)\n", j.Image, dockerfile, contextDir)
	labels := map[string]string{
		"org.opencontainers.image.revision": c.sha,
		"org.opencontainers.image.source":   redact(url),
		LabelApp:                            app.Name,
		LabelBranch:                         c.branch,
		LabelBuild:                          strconv.Itoa(n),
		LabelJob:                            strconv.FormatInt(j.ID, 10),
	}
	pr, pw := io.Pipe()
	go func() {
		files, size, err := writeContext(pw, tree, dockerfile, labels, logf)
		if err == nil {
			logf("sent the build context: %d files, %d bytes\n", files, size)
		}
		_ = pw.CloseWithError(err) // the build reads the error
	}()
	_, err = buildImage(ctx, b.cfg.Docker, pr, filepath.ToSlash(dockerfile), j.Image, logf)
	_ = pr.CloseWithError(errors.New("the build ended")) // unblocks the tar writer if the build did not read it all
	lock.Unlock()
	locked = false
	if err != nil {
		return err
	}
	logf("built in %s\n", time.Since(t1).Round(time.Millisecond))

	t2 := time.Now()
	logf("pushing %s\n", j.Image)
	if j.Digest, err = pushImage(ctx, b.cfg.Docker, b.cfg.Registry, j.Image, logf); err != nil {
		return err
	}
	logf("pushed in %s\n", time.Since(t2).Round(time.Millisecond))
	logf("recorded build %d of %s (%s@%s)\n", n, app.Name, c.branch, c.sha[:12])
	j.Log, j.BuildNumber = l.String(), n
	_, err = b.cfg.Store.RecordJobBuild(ctx, *j, spacepods.Build{
		App: app.Name, Number: n, GitSHA: c.sha, Branch: c.branch, Image: j.Image, Author: c.author, Message: c.message,
	})
	if err != nil {
		j.BuildNumber = 0
		return fmt.Errorf("record the build: %w", err)
	}
	j.Status = spacepods.JobSucceeded
	return nil
}

// Labels the builder puts on every image, besides the OCI revision and
// source: the registry's push notifications read them to map a push to
// its app and build.
const (
	LabelApp    = "io.spacepods.app"
	LabelBranch = "io.spacepods.branch"
	LabelBuild  = "io.spacepods.build"
	LabelJob    = "io.spacepods.build-job"
)

// jobError is why a job failed, for its author: the message of a coded
// error, else the error itself (git's, Docker's: about the user's repository
// and Dockerfile, not the server's internals).
func jobError(err error) string {
	var e *spacepods.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
