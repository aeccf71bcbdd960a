// Package pipeline moves each new build on an app's main branch through
// its pipeline of master environments (qa → staging → production, say):
// at each stage it deploys the same build through the deploy engine, runs
// the Gatekeeper suites of the app and of its dependents there, waits at an
// approval gate when the stage has one, and stops at the first failure.
//
// Runs are durable like deploys: every transition is written to the store
// before the next one starts, the deploy and test run IDs included, so a
// control plane killed mid-run resumes where it was and adopts the deploy
// it had asked for rather than asking again.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// Deployer deploys builds to master environments (*deploy.Engine). The
// pipeline follows the deploys in the store.
type Deployer interface {
	Deploy(ctx context.Context, req deploy.Request) (spacepods.Deploy, error)
}

var _ Deployer = (*deploy.Engine)(nil)

// Tests runs the Gatekeeper suites of an app and its dependents in an
// environment (*gatekeeper.Service). The pipeline follows the runs in the
// store.
type Tests interface {
	Begin(ctx context.Context, env, app, trigger string) ([]spacepods.TestRun, error)
}

// Notifier hears about the events people act on. The composition root
// plugs in chat notifications; nil: none.
type Notifier interface {
	// ApprovalNeeded: run waits at the gate of stage.
	ApprovalNeeded(ctx context.Context, run spacepods.PipelineRun, stage int)
	// StageFailed: the deploy or the tests of stage failed; the run stopped.
	StageFailed(ctx context.Context, run spacepods.PipelineRun, stage int)
	// StagePassed: the deploy of stage (run.Stages[stage].DeployID)
	// completed and its tests passed; the server sends its release notes.
	StagePassed(ctx context.Context, run spacepods.PipelineRun, stage int)
	// RunEnded: run completed, was rejected or was superseded.
	RunEnded(ctx context.Context, run spacepods.PipelineRun)
}

// Service starts, runs and shows pipeline runs.
type Service struct {
	Store    *store.Store
	Catalog  *catalog.Service
	Deploys  Deployer
	Tests    Tests
	Notifier Notifier
	// Forge, when set, gets a commit status per stage on each run's build
	// SHA; BaseURL is the server's public URL (the statuses' targets).
	Forge   forge.Forge
	BaseURL string
	// Default is the pipeline of apps whose manifest has none (nil: such
	// apps have no pipeline).
	Default []spacepods.PipelineStage
	// Branch is the main branch whose builds start runs (default main).
	Branch string
	// Poll is how often the service looks at the store for what this
	// process did not write (other servers, gate timeouts); default 2s.
	Poll   time.Duration
	Logger *slog.Logger
	// Now is the clock of gates and stage times; nil: time.Now in UTC.
	Now func() time.Time

	mu      sync.Mutex
	base    context.Context
	workers map[string]bool   // app → a worker runs its runs
	dirty   map[string]bool   // app → looked at again before its worker exits
	written map[string]string // "run/stage" → the commit status last written
	wg      sync.WaitGroup
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now().UTC()
}

func (s *Service) poll() time.Duration {
	if s.Poll > 0 {
		return s.Poll
	}
	return 2 * time.Second
}

func (s *Service) branch() string {
	if s.Branch != "" {
		return s.Branch
	}
	return spacepods.DefaultBranch
}

// actor is who the pipeline acts as: an admin, since the gates, not the
// deployer's role, guard what it deploys.
func actor(ctx context.Context) context.Context {
	return spacepods.WithActor(ctx, &spacepods.Token{Name: "pipeline", Role: spacepods.RoleAdmin})
}

// Start resumes the runs a previous process left and starts watching for
// new builds on the main branch (builds recorded while no server ran
// included). ctx bounds all background work.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	s.base = actor(ctx)
	s.workers, s.dirty = map[string]bool{}, map[string]bool{}
	s.mu.Unlock()
	if _, err := s.Store.UnfinishedPipelineRuns(ctx, ""); err != nil {
		return fmt.Errorf("list unfinished pipeline runs: %w", err)
	}
	s.wg.Add(1)
	go s.watch(s.base)
	return nil
}

// Wait blocks until background work has stopped (after Start's ctx ends).
func (s *Service) Wait() { s.wg.Wait() }

// watch starts runs for new builds and kicks the workers of apps with
// runs under way, at each change of the store and every Poll.
func (s *Service) watch(ctx context.Context) {
	defer s.wg.Done()
	for {
		changed := s.Store.Changes().Watch("")
		if err := s.scan(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("look for new builds", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(s.poll()):
		}
	}
}

// StagesOf returns app's pipeline: its manifest's, or the server's
// default, and where it comes from ("manifest", "default" or "" if none).
func (s *Service) StagesOf(a spacepods.App) ([]spacepods.PipelineStage, string) {
	if len(a.Pipeline) > 0 {
		return a.Pipeline, "manifest"
	}
	if len(s.Default) > 0 {
		return s.Default, "default"
	}
	return nil, ""
}

// scan starts a run for each app whose newest main build is newer than the
// last build that started one, then kicks the workers of unfinished runs.
func (s *Service) scan(ctx context.Context) error {
	after := ""
	for {
		apps, err := s.Catalog.List(ctx, store.ListOptions{After: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, a := range apps {
			if err := s.startForNewBuild(ctx, a); err != nil {
				s.Logger.Error("start a pipeline run", "app", a.Name, "err", err)
			}
		}
		if len(apps) < 1000 {
			break
		}
		after = apps[len(apps)-1].Name
	}
	runs, err := s.Store.UnfinishedPipelineRuns(ctx, "")
	if err != nil {
		return err
	}
	for _, r := range runs {
		s.kick(r.App)
	}
	return nil
}

func (s *Service) startForNewBuild(ctx context.Context, a spacepods.App) error {
	if stages, _ := s.StagesOf(a); len(stages) == 0 {
		return nil
	}
	b, err := s.Store.LatestBuild(ctx, a.Name, s.branch())
	if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	last, err := s.Store.LatestRunBuild(ctx, a.Name)
	if err != nil || b.Number <= last {
		return err
	}
	_, err = s.create(ctx, a, b, "build")
	if spacepods.ErrorCode(err) == spacepods.ECONFLICT {
		return nil // another server started it
	}
	return err
}

func (s *Service) create(ctx context.Context, a spacepods.App, b spacepods.Build, cause string) (spacepods.PipelineRun, error) {
	stages, _ := s.StagesOf(a)
	if len(stages) == 0 {
		return spacepods.PipelineRun{}, spacepods.Errorf(spacepods.EINVALID, "%s has no pipeline: add pipeline: [{env: qa}, {env: staging}, {env: production, approval: true}] to its manifest, or start the server with --pipeline (see docs/pipelines.md)", a.Name)
	}
	r := spacepods.PipelineRun{App: a.Name, Build: b.Number, GitSHA: b.GitSHA, Status: spacepods.RunQueued, Cause: cause}
	for _, st := range stages {
		r.Stages = append(r.Stages, spacepods.RunStage{PipelineStage: st, Status: spacepods.StagePending})
	}
	r, err := s.Store.CreatePipelineRun(ctx, r)
	if err != nil {
		return r, err
	}
	s.Logger.Info("pipeline run started", "run", r.ID, "app", r.App, "build", r.Build, "cause", cause)
	s.statuses(ctx, r)
	s.kick(r.App)
	return r, nil
}

// kick makes sure a worker runs app's runs.
func (s *Service) kick(app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base == nil {
		return
	}
	if s.workers[app] {
		s.dirty[app] = true
		return
	}
	s.workers[app] = true
	s.wg.Add(1)
	go s.work(s.base, app)
}
