package releasenotes

import (
	"context"
	"strconv"
	"strings"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/gitcache"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// Service computes the notes of deploys from the git cache of each app's
// repository in the data dir (internal/gitcache), fetched on demand.
type Service struct {
	Store   *store.Store
	Catalog *catalog.Service
	DataDir string
	// Forge, when set, gives clone URLs of apps without build.git, the
	// compare link and pull request titles.
	Forge forge.Forge
	// BaseURL is the server's public URL (links to the deploy and tests).
	BaseURL string
	Options Options
}

// ForDeploy returns the notes of deploy id: the commits between the SHA of
// the release it replaced and the SHA of its build (a rollback: the
// commits that left). When the history cannot be read the notes say why
// (Note) and list no commits.
func (s *Service) ForDeploy(ctx context.Context, id int64) (Notes, error) {
	d, err := s.Store.GetDeploy(ctx, id)
	if err != nil {
		return Notes{}, err
	}
	app, err := s.Catalog.Get(ctx, d.App)
	if err != nil {
		return Notes{}, err
	}
	to, err := s.Catalog.Build(ctx, d.App, d.Build)
	if err != nil {
		return Notes{}, err
	}
	from := ""
	if d.FromRelease > 0 {
		rel, err := s.Store.GetRelease(ctx, d.Env, d.App, d.FromRelease)
		if err != nil {
			return Notes{}, err
		}
		prev, err := s.Catalog.Build(ctx, d.App, rel.Build)
		if err != nil {
			return Notes{}, err
		}
		from = prev.GitSHA
	}
	o := s.Options
	o.Texts = append(append([]string{}, o.Texts...), to.Branch)
	if to.PR > 0 && s.Forge != nil {
		if pr, err := s.Forge.PullRequest(ctx, app.Repo, to.PR); err == nil {
			o.Texts = append(o.Texts, pr.Title, pr.HeadRef)
		}
	}
	n := Notes{Commits: []Commit{}, Contributors: []Contributor{}, Jira: []JiraKey{}}
	if from != "" && from == to.GitSHA {
		n.Note = "The same commit as the release it replaced: no commit changed."
	} else if url, err := s.cloneURL(ctx, app); err != nil {
		n.Note = "No history: " + spacepods.ErrorMessage(err)
	} else if repo, _, err := (&gitcache.Cache{Dir: gitcache.Path(s.DataDir, app.Name), URL: url}).Fetch(ctx, nil); err != nil {
		n.Note = "No history: " + err.Error()
	} else if n, err = Compute(repo, from, to.GitSHA, d.Rollback, o); err != nil {
		n.Note = "No history: " + err.Error()
	}
	n.App, n.Env, n.Deploy, n.Build, n.FromSHA, n.ToSHA, n.Rollback = d.App, d.Env, d.ID, d.Build, from, to.GitSHA, d.Rollback
	if s.Forge != nil && from != "" {
		n.CompareURL = s.Forge.CompareURL(app.Repo, from, to.GitSHA)
	}
	base := strings.TrimRight(s.BaseURL, "/")
	if base != "" {
		n.LogsURL = base + "/deploys/" + strconv.FormatInt(d.ID, 10)
		if tr := s.testRun(ctx, d); tr != 0 {
			n.TestsURL = base + "/tests/" + strconv.FormatInt(tr, 10)
		}
	}
	return n, nil
}

// cloneURL is where the app's history comes from: build.git, else the
// forge's clone URL of repo.
func (s *Service) cloneURL(ctx context.Context, app spacepods.App) (string, error) {
	if app.Build != nil && app.Build.Git != "" {
		return app.Build.Git, nil
	}
	if s.Forge != nil {
		return s.Forge.CloneURL(ctx, app.Repo)
	}
	return "", spacepods.Errorf(spacepods.EINVALID, "%s names no build.git and no forge is configured: add build: {git: CLONE_URL} to its manifest, or start the server with --forge", app.Name)
}

// testRun is the first test run of the pipeline stage that made deploy d.
func (s *Service) testRun(ctx context.Context, d spacepods.Deploy) int64 {
	runs, err := s.Store.ListPipelineRuns(ctx, d.App, 100)
	if err != nil {
		return 0
	}
	for _, r := range runs {
		for _, st := range r.Stages {
			if st.DeployID == d.ID && len(st.TestRuns) > 0 {
				return st.TestRuns[0]
			}
		}
	}
	return 0
}
