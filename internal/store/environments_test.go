package store_test

import (
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

func TestStore_EnvironmentsLifecycle(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("alice")
		exp := time.Now().Add(-time.Minute).UTC()
		if _, err := s.CreateEnvironment(ctx, spacepods.Environment{Name: "demo", Kind: spacepods.EnvPod, Owner: "alice", Status: spacepods.StatusCreating, Apps: []string{"web"}, Builds: map[string]int{"web": 3}, ExpiresAt: &exp}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateEnvironment(ctx, spacepods.Environment{Name: "demo", Kind: spacepods.EnvPod, Owner: "bob", Status: spacepods.StatusCreating}); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
			t.Fatalf("second create: %v", err)
		}
		if _, err := s.CreateEnvironment(ctx, spacepods.Environment{Name: "qa", Kind: spacepods.EnvMaster, Owner: "alice", Status: spacepods.StatusReady}); err != nil {
			t.Fatal(err)
		}
		pods, err := s.ListEnvironments(ctx, spacepods.EnvPod)
		if err != nil || len(pods) != 1 || pods[0].Builds["web"] != 3 || pods[0].Apps[0] != "web" {
			t.Fatalf("list pods: %+v %v", pods, err)
		}
		all, err := s.ListEnvironments(ctx, "")
		if err != nil || len(all) != 2 {
			t.Fatalf("list all: %+v %v", all, err)
		}
		expired, err := s.ExpiredPods(ctx, time.Now())
		if err != nil || len(expired) != 1 || expired[0].Name != "demo" {
			t.Fatalf("expired: %+v %v", expired, err)
		}
		s.PutEnvApp(ctx, spacepods.EnvApp{Env: "demo", App: "web", Build: 3, Status: "pending"})
		s.PutEnvApp(ctx, spacepods.EnvApp{Env: "demo", App: "web", Build: 3, Release: 1, Status: "healthy", URL: "http://web.demo.localhost:8080"})
		apps, err := s.EnvApps(ctx, "demo")
		if err != nil || len(apps) != 1 || apps[0].Release != 1 || apps[0].Status != "healthy" {
			t.Fatalf("env apps: %+v %v", apps, err)
		}
		ev, _ := s.AddEvent(ctx, spacepods.Event{Env: "demo", App: "web", Message: "started"})
		s.AddEvent(ctx, spacepods.Event{Env: "demo", Deploy: 9, Message: "step"})
		evs, err := s.Events(ctx, "demo", 0, 0, 10)
		if err != nil || len(evs) != 2 || evs[0].ID != ev.ID {
			t.Fatalf("events: %+v %v", evs, err)
		}
		evs, _ = s.Events(ctx, "demo", 9, 0, 10)
		if len(evs) != 1 || evs[0].Message != "step" {
			t.Fatalf("deploy events: %+v", evs)
		}
		s.SetEnvironmentStatus(ctx, "demo", spacepods.StatusDestroyed, "")
		if _, err := s.GetEnvironment(ctx, "demo"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("destroyed env still found: %v", err)
		}
		if _, err := s.CreateEnvironment(ctx, spacepods.Environment{Name: "demo", Kind: spacepods.EnvPod, Owner: "bob", Status: spacepods.StatusCreating}); err != nil {
			t.Fatalf("re-create after destroy: %v", err)
		}
	})
}

func TestStore_ReleasesAndDeploys(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("alice")
		r1, err := s.AddRelease(ctx, spacepods.Release{Env: "qa", App: "web", Build: 1, Image: "web:1", Vars: map[string]string{"A": "1"}, Replicas: 2})
		if err != nil || r1.Number != 1 {
			t.Fatalf("release 1: %+v %v", r1, err)
		}
		r2, _ := s.AddRelease(ctx, spacepods.Release{Env: "qa", App: "web", Build: 2, Image: "web:2"})
		if r2.Number != 2 {
			t.Fatalf("release 2 number %d", r2.Number)
		}
		got, err := s.GetRelease(ctx, "qa", "web", 1)
		if err != nil || got.Vars["A"] != "1" || got.Replicas != 2 {
			t.Fatalf("get release: %+v %v", got, err)
		}
		d, err := s.CreateDeploy(ctx, spacepods.Deploy{Env: "qa", App: "web", Build: 2})
		if err != nil || d.ID == 0 || d.Status != spacepods.DeployQueued {
			t.Fatalf("create deploy: %+v %v", d, err)
		}
		now := time.Now().UTC()
		d.Status, d.Step, d.StartedAt = spacepods.DeployRunning, "migrate", &now
		d.Steps = []spacepods.DeployStep{{Name: "clear_stale", Status: "done"}}
		if err := s.SaveDeploy(ctx, d); err != nil {
			t.Fatal(err)
		}
		un, err := s.UnfinishedDeploys(ctx)
		if err != nil || len(un) != 1 || un[0].Step != "migrate" || len(un[0].Steps) != 1 || un[0].StartedAt == nil {
			t.Fatalf("unfinished: %+v %v", un, err)
		}
		list, err := s.ListDeploys(ctx, "qa", "", 10)
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %+v %v", list, err)
		}
		if list, _ := s.ListDeploys(ctx, "", "other", 10); len(list) != 0 {
			t.Fatalf("filter by app: %+v", list)
		}
	})
}
