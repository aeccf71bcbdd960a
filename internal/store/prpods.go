package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// The CI pods of pull requests (migration 012) and the build lookup by
// commit that finds a pull request head's build.

const prPodCols = `repo, number, app, env, head_sha, build, fork, on_demand, web_url, comment_id, state, detail, updated_at`

func scanPRPod(row scanner) (spacepods.PRPod, error) {
	var p spacepods.PRPod
	var fork, onDemand int
	var at int64
	err := row.Scan(&p.Repo, &p.Number, &p.App, &p.Env, &p.HeadSHA, &p.Build, &fork, &onDemand, &p.WebURL, &p.CommentID, &p.State, &p.Detail, &at)
	p.Fork, p.OnDemand, p.UpdatedAt = fork != 0, onDemand != 0, fromMicros(at)
	return p, err
}

// PutPRPod inserts or replaces what is known of a pull request's pod.
func (s *Store) PutPRPod(ctx context.Context, p spacepods.PRPod) error {
	defer s.changes.Signal(p.Env)
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO pr_pods (`+prPodCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (repo, number, app) DO UPDATE SET env = $4, head_sha = $5, build = $6, fork = $7, on_demand = $8, web_url = $9, comment_id = $10, state = $11, detail = $12, updated_at = $13`),
		p.Repo, p.Number, p.App, p.Env, p.HeadSHA, p.Build, boolInt(p.Fork), boolInt(p.OnDemand), p.WebURL, p.CommentID, p.State, p.Detail, micros(s.Now()))
	return s.wrap(err)
}

// GetPRPod returns the pod record of (repo, number, app). ENOTFOUND if none.
func (s *Store) GetPRPod(ctx context.Context, repo string, number int, app string) (spacepods.PRPod, error) {
	p, err := scanPRPod(s.db.QueryRowContext(ctx, s.q(`SELECT `+prPodCols+` FROM pr_pods WHERE repo = $1 AND number = $2 AND app = $3`), repo, number, app))
	if errors.Is(err, sql.ErrNoRows) {
		return p, spacepods.Errorf(spacepods.ENOTFOUND, "pull request %s#%d has no pod of %s", repo, number, app)
	}
	return p, s.wrap(err)
}

// PRPods lists the pod records of a pull request (number 0: of every pull
// request of repo; repo "": all).
func (s *Store) PRPods(ctx context.Context, repo string, number int) ([]spacepods.PRPod, error) {
	return queryAll(ctx, s, scanPRPod, `SELECT `+prPodCols+` FROM pr_pods WHERE ($1 = '' OR repo = $1) AND ($2 = 0 OR number = $2) ORDER BY repo, number, app`, repo, number)
}

// PRPodOfEnv returns the pull request pod record of an environment.
// ENOTFOUND when env is no pull request's pod.
func (s *Store) PRPodOfEnv(ctx context.Context, env string) (spacepods.PRPod, error) {
	p, err := scanPRPod(s.db.QueryRowContext(ctx, s.q(`SELECT `+prPodCols+` FROM pr_pods WHERE env = $1`), env))
	if errors.Is(err, sql.ErrNoRows) {
		return p, spacepods.Errorf(spacepods.ENOTFOUND, "%s is no pull request's pod", env)
	}
	return p, s.wrap(err)
}

// BuildForSHA returns the newest build of app made from the commit sha
// (a full SHA matches a build recorded with its short form too).
// ENOTFOUND if CI has recorded none yet.
func (s *Store) BuildForSHA(ctx context.Context, app, sha string) (spacepods.Build, error) {
	b, err := scanBuild(s.db.QueryRowContext(ctx, s.q(`SELECT `+buildCols+` FROM builds WHERE app = $1 AND (git_sha = $2 OR (length(git_sha) < length($2) AND substr($2, 1, length(git_sha)) = git_sha)) ORDER BY number DESC LIMIT 1`), app, sha))
	if errors.Is(err, sql.ErrNoRows) {
		return b, spacepods.Errorf(spacepods.ENOTFOUND, "app %s has no build of commit %s yet: CI records one with `spacepods build record %s --number N --image REF --sha %s`", app, sha, app, sha)
	}
	return b, s.wrap(err)
}
