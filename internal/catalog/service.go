package catalog

import (
	"context"
	"sync"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// Service is the app catalog: registration from manifests, the dependency
// graph, and builds.
type Service struct {
	store *store.Store

	mu    sync.Mutex
	stamp string
	graph *Graph
}

// NewService returns a catalog over st.
func NewService(st *store.Store) *Service { return &Service{store: st} }

// Register parses a manifest strictly and registers (or updates) the app.
// seedSQL is the content of the file named by database.seed. EINVALID with
// line numbers for a bad manifest, or naming the cycle it would create.
func (s *Service) Register(ctx context.Context, manifest []byte, seedSQL string) (spacepods.App, bool, error) {
	app, err := ParseManifest(manifest)
	if err != nil {
		return spacepods.App{}, false, err
	}
	if app.Database != nil {
		switch {
		case app.Database.Seed != "" && seedSQL == "":
			return spacepods.App{}, false, spacepods.Errorf(spacepods.EINVALID, "database.seed names %s but its content was not sent: register with `spacepods app register -f spacepods.yaml`, which uploads it", app.Database.Seed)
		case app.Database.Seed == "" && seedSQL != "":
			return spacepods.App{}, false, spacepods.Errorf(spacepods.EINVALID, "seed SQL was sent but the manifest names no database.seed file")
		}
		app.Database.SeedSQL = seedSQL
	} else if seedSQL != "" {
		return spacepods.App{}, false, spacepods.Errorf(spacepods.EINVALID, "seed SQL was sent but the manifest declares no database")
	}
	g, err := s.Graph(ctx)
	if err != nil {
		return spacepods.App{}, false, err
	}
	if err := g.CheckCycles(*app); err != nil {
		return spacepods.App{}, false, err
	}
	return s.store.PutApp(ctx, *app)
}

// Graph returns the dependency graph of every registered app, rebuilt only
// when the catalog changed.
func (s *Service) Graph(ctx context.Context) (*Graph, error) {
	stamp, err := s.store.CatalogStamp(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.graph != nil && s.stamp == stamp {
		return s.graph, nil
	}
	deps, err := s.store.AllDependencies(ctx)
	if err != nil {
		return nil, err
	}
	s.graph, s.stamp = NewGraphFromDeps(deps), stamp
	return s.graph, nil
}

// Get returns one app.
func (s *Service) Get(ctx context.Context, name string) (spacepods.App, error) {
	return s.store.GetApp(ctx, name)
}

// List lists apps a page at a time.
func (s *Service) List(ctx context.Context, opt store.ListOptions) ([]spacepods.App, error) {
	return s.store.ListApps(ctx, opt)
}

// Versions returns an app's registration history.
func (s *Service) Versions(ctx context.Context, name string) ([]spacepods.AppVersion, error) {
	return s.store.AppVersions(ctx, name)
}

// Deps returns an app's dependency tree, the start order of its closure,
// and — when the closure cannot be formed (a dependency is not registered,
// or a cycle) — the problem, with the tree still drawn (missing apps marked).
func (s *Service) Deps(ctx context.Context, name string) (*spacepods.TreeNode, []string, string, error) {
	g, err := s.Graph(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	tree, err := g.Tree(name)
	if err != nil {
		return nil, nil, "", err
	}
	order, err := g.Closure([]string{name})
	if err != nil {
		return tree, []string{}, spacepods.ErrorMessage(err), nil
	}
	return tree, order, "", nil
}

// Closure returns the apps roots need, recursively, in start order.
func (s *Service) Closure(ctx context.Context, roots []string) ([]string, error) {
	g, err := s.Graph(ctx)
	if err != nil {
		return nil, err
	}
	return g.Closure(roots)
}

// RecordBuild validates and records a build.
func (s *Service) RecordBuild(ctx context.Context, b spacepods.Build) (spacepods.Build, error) {
	if err := b.Validate(); err != nil {
		return b, err
	}
	return s.store.AddBuild(ctx, b)
}

// Builds lists builds.
func (s *Service) Builds(ctx context.Context, f spacepods.BuildFilter) ([]spacepods.Build, error) {
	if _, err := s.store.GetApp(ctx, f.App); err != nil {
		return nil, err
	}
	return s.store.ListBuilds(ctx, f)
}

// Build returns one build.
func (s *Service) Build(ctx context.Context, app string, number int) (spacepods.Build, error) {
	return s.store.GetBuild(ctx, app, number)
}

// LatestBuild returns the newest build of branch.
func (s *Service) LatestBuild(ctx context.Context, app, branch string) (spacepods.Build, error) {
	if _, err := s.store.GetApp(ctx, app); err != nil {
		return spacepods.Build{}, err
	}
	return s.store.LatestBuild(ctx, app, branch)
}
