// Package gitcache keeps a bare clone of each app's repository in the data
// dir (<data-dir>/builder/git/<app>), fetched on demand with go-git. The
// built-in builder builds from it; release notes read history from it.
package gitcache

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Remote is the name of the cache's remote; branches are refs/remotes/origin/*.
const Remote = "origin"

var fetchSpecs = []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"}

// Path is the cache directory of app under dataDir.
func Path(dataDir, app string) string { return filepath.Join(dataDir, "builder", "git", app) }

// Cache is the clone of one repository: a bare repository in Dir, fetched
// from URL.
type Cache struct {
	Dir string
	URL string
}

// locks serializes fetches of one directory within this process (the
// builder and release notes share the caches).
var locks sync.Map // dir → *sync.Mutex

// Fetch brings the cache up to date with the remote (cloning it the first
// time) and returns the repository and the remote's default branch. logf
// reports progress (nil: none).
func (g *Cache) Fetch(ctx context.Context, logf func(format string, args ...any)) (*git.Repository, string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	mu, _ := locks.LoadOrStore(g.Dir, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	repo, err := git.PlainOpen(g.Dir)
	switch {
	case errors.Is(err, git.ErrRepositoryNotExists):
		logf("cloning %s (first build of this app: the clone is cached for the next ones)\n", Redact(g.URL))
		if err := os.MkdirAll(filepath.Dir(g.Dir), 0o700); err != nil {
			return nil, "", err
		}
		if repo, err = git.PlainInit(g.Dir, true); err != nil {
			return nil, "", fmt.Errorf("create the git cache %s: %w", g.Dir, err)
		}
		if _, err := repo.CreateRemote(&config.RemoteConfig{Name: Remote, URLs: []string{g.URL}, Fetch: fetchSpecs}); err != nil {
			return nil, "", err
		}
	case err != nil:
		return nil, "", fmt.Errorf("open the git cache %s: %w (remove the directory to clone again)", g.Dir, err)
	default:
		logf("fetching %s into the cached clone\n", Redact(g.URL))
		if err := g.pointAt(repo); err != nil {
			return nil, "", err
		}
	}
	remote, err := repo.Remote(Remote)
	if err != nil {
		return nil, "", err
	}
	refs, err := remote.ListContext(ctx, &git.ListOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("cannot read %s: %w", Redact(g.URL), err)
	}
	err = remote.FetchContext(ctx, &git.FetchOptions{RefSpecs: fetchSpecs, Prune: true, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, "", fmt.Errorf("cannot fetch %s: %w", Redact(g.URL), err)
	}
	return repo, defaultBranch(refs), nil
}

// pointAt makes the cache's remote the app's current URL (the manifest may
// have moved the repository).
func (g *Cache) pointAt(repo *git.Repository) error {
	cfg, err := repo.Config()
	if err != nil {
		return err
	}
	rc := cfg.Remotes[Remote]
	if rc != nil && len(rc.URLs) == 1 && rc.URLs[0] == g.URL {
		return nil
	}
	cfg.Remotes[Remote] = &config.RemoteConfig{Name: Remote, URLs: []string{g.URL}, Fetch: fetchSpecs}
	return repo.SetConfig(cfg)
}

// defaultBranch is the branch the remote's HEAD points at, else main or
// master when the remote has it.
func defaultBranch(refs []*plumbing.Reference) string {
	has := map[string]bool{}
	for _, r := range refs {
		if r.Name() == plumbing.HEAD && r.Type() == plumbing.SymbolicReference && r.Target().IsBranch() {
			return r.Target().Short()
		}
		if r.Name().IsBranch() {
			has[r.Name().Short()] = true
		}
	}
	for _, b := range []string{spacepods.DefaultBranch, "master"} {
		if has[b] {
			return b
		}
	}
	return ""
}

// Redact hides the password of a clone URL that carries one.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
