// Package forgebuild plugs the built-in builder (internal/builds/builder)
// into the code forge, for apps whose manifest has build: and whose
// repositories have no CI:
//
//   - Sources gives the builder the forge's clone URL of the app's repo:
//     when the manifest's build.git is empty;
//   - Builder is the previews handler's Builder: a pull request's head that
//     has no build yet is queued as a build job, so a PR gets its pod
//     without CI;
//   - Builder is also a forge.Handler for pushes: a push to the
//     repository's default branch queues a build of its new head, so the
//     dependencies of every PR pod run the latest main build.
//
// Apps without build: are left to CI (`spacepods build record`).
package forgebuild

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Sources finds an app's clone URL: the manifest's build.git, else the
// forge's clone URL of its repo: (with the forge's credentials for a
// private repository). It implements builder.Sources.
type Sources struct {
	Forge forge.Forge
}

// CloneURL implements builder.Sources.
func (s Sources) CloneURL(ctx context.Context, app *spacepods.App) (string, error) {
	if app.Build != nil && app.Build.Git != "" {
		return app.Build.Git, nil
	}
	if app.Build == nil {
		return "", spacepods.Errorf(spacepods.EINVALID, "app %s has no build: in its spacepods.yaml, so the built-in builder does not build it: add build: {} (the clone URL then comes from the forge, repo %s) and register it again (see docs/builder.md)", app.Name, app.Repo)
	}
	if app.Repo == "" {
		return "", spacepods.Errorf(spacepods.EINVALID, "app %s has neither build.git nor repo: to build from", app.Name)
	}
	if s.Forge == nil {
		return "", spacepods.Errorf(spacepods.EINVALID, "app %s has no build.git and the server has no --forge to find %s on: add build: {git: CLONE_URL} to its spacepods.yaml", app.Name, app.Repo)
	}
	u, err := s.Forge.CloneURL(ctx, app.Repo)
	if err != nil {
		return "", fmt.Errorf("the clone URL of %s from the forge: %w", app.Repo, err)
	}
	return u, nil
}

// Runner is the part of the built-in builder this package drives
// (*builder.Builder implements it).
type Runner interface {
	Run(ctx context.Context, app string, req spacepods.RunBuildRequest) (spacepods.BuildJob, error)
	Jobs(ctx context.Context, app string, limit int) ([]spacepods.BuildJob, error)
}

// Catalog is what Builder reads about apps (*catalog.Service).
type Catalog interface {
	AppsOfRepo(ctx context.Context, repo string) ([]string, error)
	Get(ctx context.Context, name string) (spacepods.App, error)
}

// Builds finds the build recorded for a commit (*store.Store).
type Builds interface {
	BuildForSHA(ctx context.Context, app, sha string) (spacepods.Build, error)
}

// Builder queues build jobs for pull request heads and default-branch
// pushes of apps with build:.
type Builder struct {
	Forge   forge.Forge
	Runner  Runner
	Catalog Catalog
	Builds  Builds
	Logger  *slog.Logger
}

var _ forge.Handler = (*Builder)(nil)

// jobsLooked is how many of an app's latest jobs are searched for one of
// the same commit.
const jobsLooked = 50

// BuildCommit implements previews.Builder: it queues a build job of app at
// sha unless the app has no build: (CI records its builds), the head is in
// a fork (the builder fetches the app's own repository, where a fork's
// branch is not), a build of sha exists, or a job for sha is queued or
// running already (a second event for the same head).
func (b *Builder) BuildCommit(ctx context.Context, app spacepods.App, headRepo, _, sha string) error {
	if app.Build == nil {
		return nil
	}
	if headRepo != "" && !strings.EqualFold(headRepo, app.Repo) {
		b.Logger.Info("builder: a fork's pull request head is left to CI", "app", app.Name, "head_repo", headRepo, "sha", sha)
		return nil
	}
	_, err := b.queue(ctx, app.Name, sha)
	return err
}

// BuildFailed reports the last job for sha of app when it failed or was
// canceled and no other job for sha is still queued or running: the
// previews handler then fails the pod at once, naming the job, instead of
// waiting for a build that will not come.
func (b *Builder) BuildFailed(ctx context.Context, app, sha string) (string, bool) {
	jobs, err := b.Runner.Jobs(ctx, app, jobsLooked)
	if err != nil {
		return "", false
	}
	for _, j := range jobs { // newest first
		if !sameCommit(j, sha) {
			continue
		}
		if j.Status == spacepods.JobFailed || j.Status == spacepods.JobCanceled {
			return fmt.Sprintf("build job %d of %s at %s %s: %s (its log: `spacepods build log %d`)", j.ID, app, short(sha), j.Status, j.Error, j.ID), true
		}
		return "", false
	}
	return "", false
}

// queue runs a build job of app at sha unless one exists or a build of
// sha is recorded; it returns the job queued (ID 0 when none was).
func (b *Builder) queue(ctx context.Context, app, sha string) (spacepods.BuildJob, error) {
	if _, err := b.Builds.BuildForSHA(ctx, app, sha); err == nil {
		return spacepods.BuildJob{}, nil
	} else if spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return spacepods.BuildJob{}, err
	}
	jobs, err := b.Runner.Jobs(ctx, app, jobsLooked)
	if err != nil {
		return spacepods.BuildJob{}, err
	}
	for _, j := range jobs {
		if sameCommit(j, sha) && !j.Done() {
			return spacepods.BuildJob{}, nil
		}
	}
	j, err := b.Runner.Run(ctx, app, spacepods.RunBuildRequest{Ref: sha})
	if err != nil {
		return j, fmt.Errorf("queue a build of %s at %s: %w", app, short(sha), err)
	}
	b.Logger.Info("builder: build queued", "app", app, "sha", sha, "job", j.ID)
	return j, nil
}

func sameCommit(j spacepods.BuildJob, sha string) bool {
	return strings.EqualFold(j.Ref, sha) || strings.EqualFold(j.SHA, sha)
}

// HandleEvent implements forge.Handler for pushes: a push to the
// repository's default branch queues a build of its new head for each app
// of the repository with build:.
func (b *Builder) HandleEvent(ctx context.Context, ev forge.Event) (string, error) {
	if ev.Kind != forge.EventPush {
		return "", nil
	}
	branch, ok := strings.CutPrefix(ev.Ref, "refs/heads/")
	if !ok || ev.After == "" || strings.Trim(ev.After, "0") == "" {
		return "", nil // a tag, or a deleted branch
	}
	names, err := b.Catalog.AppsOfRepo(ctx, ev.Repo)
	if err != nil {
		return "", err
	}
	var apps []spacepods.App
	for _, n := range names {
		a, err := b.Catalog.Get(ctx, n)
		if err != nil {
			return "", err
		}
		if a.Build != nil {
			apps = append(apps, a)
		}
	}
	if len(apps) == 0 {
		return "", nil // CI builds them
	}
	repo, err := b.Forge.Repo(ctx, ev.Repo)
	if err != nil {
		return "", fmt.Errorf("the default branch of %s: %w", ev.Repo, err)
	}
	def := repo.DefaultBranch
	if def == "" {
		def = spacepods.DefaultBranch
	}
	if branch != def {
		return fmt.Sprintf("builder: %s is not the default branch %s (pull requests build their heads)", branch, def), nil
	}
	var lines []string
	for _, a := range apps {
		j, err := b.queue(ctx, a.Name, ev.After)
		switch {
		case err != nil:
			return strings.Join(lines, "; "), err
		case j.ID == 0:
			lines = append(lines, fmt.Sprintf("builder: %s at %s is built or being built", a.Name, short(ev.After)))
		default:
			lines = append(lines, fmt.Sprintf("builder: queued build job %d of %s at %s", j.ID, a.Name, short(ev.After)))
		}
	}
	return strings.Join(lines, "; "), nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
