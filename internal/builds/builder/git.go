package builder

import (
	"context"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/spacepods/spacepods/internal/gitcache"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Sources finds the clone URL of an app's repository. ManifestSources reads
// the manifest's build.git; a forge can resolve repo: (owner/name) on the
// forge instead, and plug in here.
type Sources interface {
	// CloneURL returns the URL to fetch the app's source from: EINVALID
	// when the app names none.
	CloneURL(ctx context.Context, app *spacepods.App) (string, error)
}

// ManifestSources takes the clone URL from the manifest's build.git.
type ManifestSources struct{}

var _ Sources = ManifestSources{}

// CloneURL returns build.git of the manifest.
func (ManifestSources) CloneURL(_ context.Context, app *spacepods.App) (string, error) {
	if app.Build != nil && app.Build.Git == "" {
		return "", spacepods.Errorf(spacepods.EINVALID, "app %s has no build source: its build: has no git, and the server has no --forge to ask for the clone URL of %s: add build: {git: CLONE_URL} to its spacepods.yaml, or run the server with --forge (see docs/builder.md)", app.Name, app.Repo)
	}
	if app.Build == nil {
		return "", spacepods.Errorf(spacepods.EINVALID, "app %s has no build source: add build: {git: CLONE_URL} to its spacepods.yaml and register it again (see docs/builder.md)", app.Name)
	}
	return app.Build.Git, nil
}

// commit is what a ref resolved to in the fetched repository.
type commit struct {
	sha, branch, author, message string
	obj                          *object.Commit
}

// gitCache is the builder's clone of one app's repository (see
// internal/gitcache, which release notes read too).
type gitCache struct {
	dir string
	url string
}

const remoteName = gitcache.Remote

func (g *gitCache) fetch(ctx context.Context, logf func(format string, args ...any)) (*git.Repository, string, error) {
	return (&gitcache.Cache{Dir: g.dir, URL: g.url}).Fetch(ctx, logf)
}

var hexRE = regexp.MustCompile(`^[0-9a-f]{4,40}$`)

// resolve turns a ref (branch, tag or commit; "" = the default branch)
// into a commit and the branch it is recorded under.
func resolve(repo *git.Repository, ref, defBranch, url string) (commit, error) {
	branches, err := remoteBranches(repo)
	if err != nil {
		return commit{}, err
	}
	if ref == "" {
		if defBranch == "" {
			return commit{}, spacepods.Errorf(spacepods.EINVALID, "%s has no default branch (is it empty?): push a branch, or pass --ref", redact(url))
		}
		ref = defBranch
	}
	var c commit
	if h, ok := branches[ref]; ok {
		c.branch = ref
		if c.obj, err = repo.CommitObject(h); err != nil {
			return c, err
		}
	} else {
		h, err := resolveTagOrHash(repo, ref)
		if err != nil {
			names := make([]string, 0, len(branches))
			for b := range branches {
				names = append(names, b)
			}
			sort.Strings(names)
			return c, spacepods.Errorf(spacepods.EINVALID, "ref %q is not a branch, tag or commit of %s: its branches are %s", ref, redact(url), strings.Join(names, ", "))
		}
		if c.obj, err = repo.CommitObject(h); err != nil {
			return c, spacepods.Errorf(spacepods.EINVALID, "ref %q of %s is not a commit: %v", ref, redact(url), err)
		}
		if c.branch, err = branchOf(repo, c.obj, branches, defBranch); err != nil {
			return c, err
		}
		if c.branch == "" {
			return c, spacepods.Errorf(spacepods.EINVALID, "commit %s (%s) is on no branch of %s: builds are recorded per branch; push a branch that contains it", c.obj.Hash.String()[:12], ref, redact(url))
		}
	}
	c.sha = c.obj.Hash.String()
	c.author = c.obj.Author.Name
	if c.obj.Author.Email != "" {
		c.author += " <" + c.obj.Author.Email + ">"
	}
	c.message = strings.TrimSpace(c.obj.Message)
	if len(c.author) > spacepods.MaxAuthorLen {
		c.author = c.author[:spacepods.MaxAuthorLen]
	}
	if len(c.message) > spacepods.MaxMessageLen {
		c.message = c.message[:spacepods.MaxMessageLen]
	}
	return c, nil
}

func remoteBranches(repo *git.Repository) (map[string]plumbing.Hash, error) {
	refs, err := repo.References()
	if err != nil {
		return nil, err
	}
	out := map[string]plumbing.Hash{}
	prefix := "refs/remotes/" + remoteName + "/"
	err = refs.ForEach(func(r *plumbing.Reference) error {
		if name := r.Name().String(); strings.HasPrefix(name, prefix) && r.Type() == plumbing.HashReference {
			out[strings.TrimPrefix(name, prefix)] = r.Hash()
		}
		return nil
	})
	return out, err
}

func resolveTagOrHash(repo *git.Repository, ref string) (plumbing.Hash, error) {
	if t, err := repo.Reference(plumbing.NewTagReferenceName(ref), true); err == nil {
		if tag, err := repo.TagObject(t.Hash()); err == nil { // annotated
			c, err := tag.Commit()
			if err != nil {
				return plumbing.ZeroHash, err
			}
			return c.Hash, nil
		}
		return t.Hash(), nil
	}
	if !hexRE.MatchString(ref) {
		return plumbing.ZeroHash, plumbing.ErrReferenceNotFound
	}
	h, err := repo.ResolveRevision(plumbing.Revision(ref))
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return *h, nil
}

// branchOf names the branch a commit given by SHA or tag is recorded
// under: a branch whose tip it is (the default branch first), else the
// default branch if it contains it, else another branch that does.
func branchOf(repo *git.Repository, c *object.Commit, branches map[string]plumbing.Hash, defBranch string) (string, error) {
	names := make([]string, 0, len(branches))
	for b := range branches {
		if b != defBranch {
			names = append(names, b)
		}
	}
	sort.Strings(names)
	if _, ok := branches[defBranch]; ok {
		names = slices.Insert(names, 0, defBranch)
	}
	for _, b := range names {
		if branches[b] == c.Hash {
			return b, nil
		}
	}
	for _, b := range names {
		tip, err := repo.CommitObject(branches[b])
		if err != nil {
			return "", err
		}
		if ok, err := c.IsAncestor(tip); err != nil {
			return "", err
		} else if ok {
			return b, nil
		}
	}
	return "", nil
}

// redact hides the password of a clone URL that carries one.
func redact(raw string) string { return gitcache.Redact(raw) }
