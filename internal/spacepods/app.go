package spacepods

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// App kinds.
const (
	KindWeb    = "web"
	KindWorker = "worker"
)

// App is a deployable application as declared in its spacepods.yaml manifest.
type App struct {
	Name         string            `json:"name" yaml:"name"`
	Repo         string            `json:"repo" yaml:"repo"`
	Kind         string            `json:"kind" yaml:"kind"`
	Port         int               `json:"port,omitempty" yaml:"port"`
	Health       string            `json:"health,omitempty" yaml:"health"`
	Command      []string          `json:"command,omitempty" yaml:"command"`
	Dependencies []string          `json:"dependencies,omitempty" yaml:"dependencies"`
	Database     *Database         `json:"database,omitempty" yaml:"database"`
	Migrate      []string          `json:"migrate,omitempty" yaml:"migrate"`
	Env          map[string]string `json:"env,omitempty" yaml:"env"`
	Rollout      Rollout           `json:"rollout" yaml:"rollout"`
	Workers      []Worker          `json:"workers,omitempty" yaml:"workers"`
	Tests        *TestSuite        `json:"tests,omitempty" yaml:"tests"`
	Previews     *Previews         `json:"previews,omitempty" yaml:"previews"`
	// Pipeline is the master environments a new build on the main branch
	// moves through (nil: the server's default pipeline, if any).
	Pipeline []PipelineStage `json:"pipeline,omitempty" yaml:"pipeline"`
	// Build is where the built-in builder finds the app's source (nil =
	// the app is built by CI, not by Spacepods).
	Build *BuildSource `json:"build,omitempty" yaml:"build"`
	// Image says where the app's images are pushed; nil = any repository
	// named like the app (see MatchesRepository).
	Image *Image `json:"image,omitempty" yaml:"image"`

	// Command (and Migrate, workers' and tests' Command) is the whole
	// process: it replaces the image's ENTRYPOINT and CMD. Args replace the
	// image's CMD only: they follow Command, or the image's ENTRYPOINT.
	Args []string `json:"args,omitempty" yaml:"args"`
	// MigrateTimeout bounds the migration (a duration; "" =
	// DefaultTaskTimeout).
	MigrateTimeout string `json:"migrate_timeout,omitempty" yaml:"migrate_timeout"`

	// Set by the store.
	Version   int       `json:"version" yaml:"-"`
	CreatedAt time.Time `json:"created_at" yaml:"-"`
	UpdatedAt time.Time `json:"updated_at" yaml:"-"`
}

// Image names the registry repository of an app's images: a push of a tag
// to it records a build of the app (docs/registry.md).
type Image struct {
	Repository string `json:"repository" yaml:"repository"`
}

// ImageRepository is the registry repository whose pushes are this app's
// builds: the manifest's image.repository, else any repository whose last
// path element is the app's name (see MatchesRepository).
func (a *App) ImageRepository() string {
	if a.Image != nil {
		return a.Image.Repository
	}
	return ""
}

// MatchesRepository reports whether a push to repository is a build of
// this app: the manifest's image.repository exactly, else (no image key) a
// repository whose last path element is the app's name.
func (a *App) MatchesRepository(repository string) bool {
	if r := a.ImageRepository(); r != "" {
		return r == repository
	}
	return repository[strings.LastIndex(repository, "/")+1:] == a.Name
}

// Database declares an app's database needs.
type Database struct {
	Engine   string `json:"engine" yaml:"engine"`
	Seed     string `json:"seed,omitempty" yaml:"seed"`         // path next to the manifest (CLI reads it)
	SeedSQL  string `json:"seed_sql,omitempty" yaml:"-"`        // the uploaded contents of Seed
	Snapshot string `json:"snapshot,omitempty" yaml:"snapshot"` // clone from this named snapshot
}

// Rollout is an app's rollout policy.
type Rollout struct {
	Stages   []int          `json:"stages,omitempty" yaml:"stages"`
	Replicas map[string]int `json:"replicas,omitempty" yaml:"replicas"`
}

// Worker is an auxiliary process of the same image. Command and Args mean
// what they mean on App.
type Worker struct {
	Name    string   `json:"name" yaml:"name"`
	Command []string `json:"command,omitempty" yaml:"command"`
	Args    []string `json:"args,omitempty" yaml:"args"`
}

// TestSuite is an app's integration-test suite. Command and Args mean what
// they mean on App.
type TestSuite struct {
	Image   string   `json:"image" yaml:"image"`
	Command []string `json:"command,omitempty" yaml:"command"`
	Args    []string `json:"args,omitempty" yaml:"args"`
	Timeout string   `json:"timeout,omitempty" yaml:"timeout"` // a duration; "" = DefaultTaskTimeout
}

// DefaultTaskTimeout bounds a migration or test run whose manifest names no
// timeout: after it the task is killed and the deploy fails.
const DefaultTaskTimeout = 10 * time.Minute

// Task timeouts a manifest may set.
const (
	MinTaskTimeout = time.Second
	MaxTaskTimeout = 24 * time.Hour
)

// TaskTimeout parses a task timeout from a manifest ("" = DefaultTaskTimeout).
func TaskTimeout(s string) (time.Duration, error) {
	if s == "" {
		return DefaultTaskTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinTaskTimeout || d > MaxTaskTimeout {
		return 0, fmt.Errorf("%q is not a timeout from 1s to 24h: write a duration such as 90s, 10m or 1h30m", s)
	}
	return d, nil
}

// DefaultStages is the rollout used when a manifest names none.
var DefaultStages = []int{25, 50, 100}

// MaxNameLen is the longest allowed app, environment or worker name.
const MaxNameLen = 40

var (
	dnsLabelRE = regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)
	repoRE     = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	// A distribution repository name: path components of lowercase
	// alphanumerics joined by '.', '_', '__' or '-', separated by '/'.
	imageRepoRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	envNameRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// releaseSuffixRE matches the end of a release's service name.
	releaseSuffixRE = regexp.MustCompile(`-r[0-9]+$`)
)

// ValidName reports whether s is a DNS label usable as an app or environment name.
func ValidName(s string) bool {
	return len(s) <= MaxNameLen && dnsLabelRE.MatchString(s)
}

// ValidateName returns an EINVALID error describing how to fix a bad name.
func ValidateName(what, s string) error {
	if ValidName(s) {
		return nil
	}
	return Errorf(EINVALID, "%s %q is not a valid name: use 1-%d lowercase letters, digits and '-', starting with a letter and not ending with '-' (e.g. catalog-api)", what, s, MaxNameLen)
}

// ValidEnvVarName reports whether s can be an environment variable name.
func ValidEnvVarName(s string) bool { return envNameRE.MatchString(s) }

// EnvVarName turns an app name into the prefix of its URL variable:
// catalog-api → CATALOG_API.
func EnvVarName(app string) string {
	return strings.ToUpper(strings.ReplaceAll(app, "-", "_"))
}

// Replicas returns the replica count for env (falls back to "default", then 1).
func (a *App) Replicas(env string) int {
	if n, ok := a.Rollout.Replicas[env]; ok {
		return n
	}
	if n, ok := a.Rollout.Replicas["default"]; ok {
		return n
	}
	return 1
}

// Stages returns the rollout stages, defaulting to DefaultStages.
func (a *App) Stages() []int {
	if len(a.Rollout.Stages) == 0 {
		return DefaultStages
	}
	return a.Rollout.Stages
}

// FieldError is a validation problem in one field of a manifest.
type FieldError struct {
	Field   string // dotted path, e.g. "rollout.stages"
	Message string // what is wrong and what to write instead
}

// Validate checks an app's values (not its dependencies' existence) and
// returns every problem found, each naming its field.
func (a *App) Validate() []FieldError {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if a.Name == "" {
		add("name", "name is required: a DNS label such as catalog-api")
	} else if !ValidName(a.Name) {
		add("name", "%q is not a valid name: use 1-%d lowercase letters, digits and '-', starting with a letter (e.g. catalog-api)", a.Name, MaxNameLen)
	} else if releaseSuffixRE.MatchString(a.Name) {
		// The app's name is also its DNS alias, next to release services
		// named <app>-r<N>: shop-r2 would be another app's release 2.
		add("name", "%q ends in -r and a number, which is how Spacepods names releases (%s is release %s of app %s): choose another name",
			a.Name, a.Name, a.Name[strings.LastIndex(a.Name, "-r")+2:], a.Name[:strings.LastIndex(a.Name, "-r")])
	}
	if a.Image != nil && !imageRepoRE.MatchString(a.Image.Repository) {
		add("image.repository", "%q is not a registry repository: write lowercase path elements separated by '/', without the registry host or a tag, e.g. image: {repository: acme/catalog-api}", a.Image.Repository)
	}
	if a.Repo == "" {
		add("repo", "repo is required: the GitHub repository as owner/name, e.g. acme/catalog-api")
	} else if !repoRE.MatchString(a.Repo) {
		add("repo", "%q is not owner/name: write the GitHub repository as owner/name, e.g. acme/catalog-api", a.Repo)
	}
	a.Build.validate(add)
	validatePipeline(a.Pipeline, add)
	switch a.Kind {
	case KindWeb:
		if a.Port < 1 || a.Port > 65535 {
			add("port", "a web app needs a port between 1 and 65535 that it listens on, e.g. port: 8080")
		}
		if a.Health != "" && !strings.HasPrefix(a.Health, "/") {
			add("health", "%q must be a path starting with '/', e.g. /healthz", a.Health)
		}
	case KindWorker:
		if a.Port != 0 {
			add("port", "a worker does not serve HTTP: remove port, or set kind: web")
		}
		if a.Health != "" {
			add("health", "a worker has no HTTP health check: remove health, or set kind: web")
		}
	case "":
		add("kind", "kind is required: web (serves HTTP) or worker (does not)")
	default:
		add("kind", "%q is not a kind: write web (serves HTTP) or worker (does not)", a.Kind)
	}
	seen := map[string]bool{}
	for i, d := range a.Dependencies {
		f := fmt.Sprintf("dependencies[%d]", i)
		switch {
		case !ValidName(d):
			add(f, "%q is not a valid app name: use the name of another registered app, e.g. pricing-api", d)
		case d == a.Name:
			add(f, "an app cannot depend on itself: remove %q", d)
		case seen[d]:
			add(f, "%q is listed twice: list each dependency once", d)
		}
		seen[d] = true
	}
	if db := a.Database; db != nil {
		if db.Engine != "postgres" {
			add("database.engine", "%q is not a supported engine: write engine: postgres, or remove database", db.Engine)
		}
		if db.Seed != "" && db.Snapshot != "" {
			add("database", "seed and snapshot exclude each other: keep one")
		}
		if db.Snapshot != "" && !ValidName(db.Snapshot) {
			add("database.snapshot", "%q is not a valid snapshot name: use lowercase letters, digits and '-'", db.Snapshot)
		}
	}
	emptyArg := func(f string, c []string) {
		if slices.Contains(c, "") {
			add(f, "empty argument: write the command as a list of non-empty strings, e.g. [\"/app\", \"serve\"]")
		}
	}
	emptyArg("command", a.Command)
	emptyArg("args", a.Args)
	emptyArg("migrate", a.Migrate)
	if _, err := TaskTimeout(a.MigrateTimeout); err != nil {
		add("migrate_timeout", "%v", err)
	} else if a.MigrateTimeout != "" && len(a.Migrate) == 0 {
		add("migrate_timeout", "there is no migrate command to time out: remove migrate_timeout, or add migrate")
	}
	// <DEP>_URL of each dependency is injected too, and wins over env.
	depURLVars := map[string]string{}
	for _, d := range a.Dependencies {
		depURLVars[EnvVarName(d)+"_URL"] = d
	}
	for k := range a.Env {
		if !ValidEnvVarName(k) {
			add("env."+k, "%q is not a valid env var name: use letters, digits and '_', not starting with a digit", k)
		} else if IsStandardVar(k) {
			add("env."+k, "%s is set by Spacepods itself: choose another name", k)
		} else if d, ok := depURLVars[k]; ok {
			add("env."+k, "%s is set by Spacepods to the URL of dependency %s: choose another name", k, d)
		}
	}
	prev := 0
	for i, s := range a.Rollout.Stages {
		if s <= prev || s > 100 {
			add(fmt.Sprintf("rollout.stages[%d]", i), "stages are rising percentages ending at 100, e.g. [25, 50, 100]")
			break
		}
		prev = s
	}
	// The last stage itself, not prev: prev stops at the last good stage when
	// the loop above breaks, which would flag [25, 10, 100] here too.
	if n := len(a.Rollout.Stages); n > 0 && a.Rollout.Stages[n-1] != 100 {
		add("rollout.stages", "the last stage must be 100, e.g. [25, 50, 100]")
	}
	for env, n := range a.Rollout.Replicas {
		if env != "default" && !ValidName(env) {
			add("rollout.replicas."+env, "%q is not an environment name: use default or an environment such as production", env)
		}
		if n < 0 || n > 100 {
			add("rollout.replicas."+env, "replicas must be between 0 and 100")
		}
	}
	wseen := map[string]bool{}
	for i, w := range a.Workers {
		f := fmt.Sprintf("workers[%d]", i)
		if !ValidName(w.Name) {
			add(f+".name", "%q is not a valid worker name: use lowercase letters, digits and '-', e.g. jobs", w.Name)
		} else if wseen[w.Name] {
			add(f+".name", "worker %q is listed twice: give each worker its own name", w.Name)
		}
		wseen[w.Name] = true
		if len(w.Command) == 0 && len(w.Args) == 0 {
			add(f+".command", "a worker needs a command, e.g. [\"/app\", \"worker\"] (or args, to keep the image's entrypoint)")
		}
		emptyArg(f+".command", w.Command)
		emptyArg(f+".args", w.Args)
	}
	if t := a.Tests; t != nil {
		if t.Image == "" {
			add("tests.image", "tests need an image that runs them, e.g. acme/catalog-api-tests")
		}
		emptyArg("tests.command", t.Command)
		emptyArg("tests.args", t.Args)
		if _, err := TaskTimeout(t.Timeout); err != nil {
			add("tests.timeout", "%v", err)
		}
	}
	if p := a.Previews; p != nil {
		switch p.When {
		case "", PreviewAll, PreviewLabel, PreviewUnlessLabel, PreviewNever:
		default:
			add("previews.when", "%q is not a preview policy: write all (every pull request), label (only those labelled previews.label), unless-label (all but those labelled) or never", p.When)
		}
		if p.TTL != "" {
			if d, err := time.ParseDuration(p.TTL); err != nil || d <= 0 {
				add("previews.ttl", "%q is not a duration: write e.g. 48h", p.TTL)
			}
		}
	}
	return errs
}

// Standard variables that Spacepods injects into every container.
var standardVars = map[string]bool{
	"SPACEPODS_ENV": true, "SPACEPODS_APP": true, "SPACEPODS_BUILD": true,
	"SPACEPODS_GIT_SHA": true, "PORT": true, "DATABASE_URL": true,
}

// IsStandardVar reports whether name is one of the variables Spacepods sets.
func IsStandardVar(name string) bool { return standardVars[name] }

// AppVersion is one registered version of an app (history of re-registrations).
type AppVersion struct {
	App       string    `json:"app"`
	Version   int       `json:"version"`
	Manifest  App       `json:"manifest"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// TreeNode is one app in a dependency tree.
type TreeNode struct {
	Name     string      `json:"name"`
	Children []*TreeNode `json:"children,omitempty"` // dependencies, sorted by name
	Repeat   bool        `json:"repeat,omitempty"`   // shown earlier in the tree; its dependencies are not repeated
	Missing  bool        `json:"missing,omitempty"`  // a dependency that is not registered
}

// AppDeps is an app's dependency tree and the start order of its closure.
type AppDeps struct {
	Tree  *TreeNode `json:"tree"`
	Order []string  `json:"order"`
	// Problem says why no start order can be formed (missing app, cycle).
	Problem string `json:"problem,omitempty"`
}

// RegisterAppRequest registers or updates an app from its manifest.
type RegisterAppRequest struct {
	// Manifest is the yaml text; errors carry its line numbers.
	Manifest string `json:"manifest"`
	// SeedSQL is the content of the file named by database.seed, if any.
	SeedSQL string `json:"seed_sql,omitempty"`
}

// RegisterAppResponse is the registered app and whether it was new.
type RegisterAppResponse struct {
	App     App  `json:"app"`
	Created bool `json:"created"`
}
