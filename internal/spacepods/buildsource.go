package spacepods

import (
	"net/url"
	"path"
	"regexp"
	"strings"
)

// BuildSource says where the built-in builder finds an app's source: the
// manifest's build: {git: URL, dockerfile: PATH, context: DIR}.
type BuildSource struct {
	// Git is the repository's clone URL: https://, http://, ssh://,
	// git:// or file://, or scp-like git@host:owner/name.git.
	Git string `json:"git,omitempty" yaml:"git"`
	// Context is the build context, a directory of the repository ("" =
	// its root).
	Context string `json:"context,omitempty" yaml:"context"`
	// Dockerfile is the Dockerfile's path in the repository ("" =
	// Dockerfile in the context); it must be inside the context.
	Dockerfile string `json:"dockerfile,omitempty" yaml:"dockerfile"`
}

// DefaultDockerfile is the Dockerfile's name when the manifest names none.
const DefaultDockerfile = "Dockerfile"

// ContextDir is the build context as a clean relative path ("." = root).
func (b *BuildSource) ContextDir() string {
	if b == nil || b.Context == "" {
		return "."
	}
	return path.Clean(b.Context)
}

// DockerfilePath is the Dockerfile's path relative to the context, as the
// Docker Engine API takes it.
func (b *BuildSource) DockerfilePath() string {
	if b == nil || b.Dockerfile == "" {
		return DefaultDockerfile
	}
	ctx, df := b.ContextDir(), path.Clean(b.Dockerfile)
	if ctx == "." {
		return df
	}
	return strings.TrimPrefix(df, ctx+"/")
}

var scpGitRE = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+$`)

// ValidGitURL reports whether s is a clone URL the builder can fetch.
func ValidGitURL(s string) bool {
	if scpGitRE.MatchString(s) {
		return true
	}
	u, err := url.Parse(s)
	if err != nil || strings.ContainsAny(s, " \t\n") {
		return false
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git":
		return u.Host != "" && u.Path != "" && u.Path != "/"
	case "file":
		return u.Host == "" && strings.HasPrefix(u.Path, "/") && u.Path != "/"
	}
	return false
}

// repoPath reports whether p is a clean relative path inside a repository.
func repoPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsAny(p, "\x00\n") {
		return false
	}
	c := path.Clean(p)
	return c != ".." && !strings.HasPrefix(c, "../")
}

// validate checks the build source. An empty git is valid: the builder
// then asks the configured forge for the clone URL of the app's repo:.
func (b *BuildSource) validate(add func(field, format string, args ...any)) {
	if b == nil {
		return
	}
	switch {
	case b.Git == "":
	case !ValidGitURL(b.Git):
		add("build.git", "%q is not a clone URL: write an https://, ssh://, git:// or file:// URL, or git@host:owner/name.git", b.Git)
	}
	if b.Context != "" && !repoPath(b.Context) {
		add("build.context", "%q is not a directory of the repository: write a relative path such as . or services/api", b.Context)
	}
	if b.Dockerfile != "" {
		ctx := b.ContextDir()
		switch df := path.Clean(b.Dockerfile); {
		case !repoPath(b.Dockerfile) || df == ".":
			add("build.dockerfile", "%q is not a file of the repository: write a relative path such as Dockerfile or deploy/api.Dockerfile", b.Dockerfile)
		case ctx != "." && !strings.HasPrefix(df, ctx+"/"):
			add("build.dockerfile", "%q is outside the build context %s: the Dockerfile must be inside it, e.g. %s/Dockerfile", b.Dockerfile, ctx, ctx)
		}
	}
}
