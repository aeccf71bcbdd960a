package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

func ctxAs(name string) context.Context {
	return spacepods.WithActor(context.Background(), &spacepods.Token{Name: name, Role: spacepods.RoleAdmin})
}

func testApp(name string, deps ...string) spacepods.App {
	return spacepods.App{Name: name, Repo: "acme/" + name, Kind: spacepods.KindWeb, Port: 8080, Health: "/healthz", Dependencies: deps}
}

func TestStore_AppRegisterUpdateKeepsHistory(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("alice")
		a, created, err := s.PutApp(ctx, testApp("catalog-api", "pricing-api"))
		if err != nil || !created || a.Version != 1 {
			t.Fatalf("first put: app=%+v created=%v err=%v", a, created, err)
		}
		upd := testApp("catalog-api", "pricing-api", "search-api")
		upd.Env = map[string]string{"LOG_LEVEL": "debug"}
		a, created, err = s.PutApp(ctxAs("bob"), upd)
		if err != nil || created || a.Version != 2 {
			t.Fatalf("second put: app=%+v created=%v err=%v", a, created, err)
		}
		got, err := s.GetApp(ctx, "catalog-api")
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || got.Env["LOG_LEVEL"] != "debug" || len(got.Dependencies) != 2 {
			t.Fatalf("get after update: %+v", got)
		}
		if !got.CreatedAt.Before(got.UpdatedAt) && !got.CreatedAt.Equal(got.UpdatedAt) {
			t.Fatalf("created_at %v after updated_at %v", got.CreatedAt, got.UpdatedAt)
		}
		hist, err := s.AppVersions(ctx, "catalog-api")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].Version != 2 || hist[0].CreatedBy != "bob" || hist[1].CreatedBy != "alice" || len(hist[1].Manifest.Dependencies) != 1 {
			t.Fatalf("history: %+v", hist)
		}
		deps, err := s.AllDependencies(ctx)
		if err != nil || len(deps["catalog-api"]) != 2 || deps["catalog-api"][1] != "search-api" {
			t.Fatalf("deps %v err %v", deps, err)
		}
	})
}

func TestStore_GetMissingAppIsNotFound(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		_, err := s.GetApp(context.Background(), "nope")
		if spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("want ENOTFOUND, got %v", err)
		}
		if _, err := s.AppVersions(context.Background(), "nope"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("history of missing app: want ENOTFOUND, got %v", err)
		}
	})
}

func TestStore_ListAppsPages(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("alice")
		for _, n := range []string{"d", "a", "c", "b", "e"} {
			if _, _, err := s.PutApp(ctx, testApp(n)); err != nil {
				t.Fatal(err)
			}
		}
		p1, err := s.ListApps(ctx, store.ListOptions{Limit: 2})
		if err != nil || len(p1) != 2 || p1[0].Name != "a" || p1[1].Name != "b" {
			t.Fatalf("page 1: %v %v", p1, err)
		}
		p2, err := s.ListApps(ctx, store.ListOptions{After: "b", Limit: 10})
		if err != nil || len(p2) != 3 || p2[0].Name != "c" || p2[2].Name != "e" {
			t.Fatalf("page 2: %v %v", p2, err)
		}
		st1, _ := s.CatalogStamp(ctx)
		s.PutApp(ctx, testApp("a", "b"))
		st2, _ := s.CatalogStamp(ctx)
		if st1 == st2 {
			t.Fatalf("catalog stamp did not change on update: %s", st1)
		}
	})
}

func TestStore_BuildsUniquePerAppAndLatestOfBranch(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("ci")
		s.PutApp(ctx, testApp("web"))
		s.PutApp(ctx, testApp("api"))
		add := func(app string, n int, branch string) error {
			_, err := s.AddBuild(ctx, spacepods.Build{App: app, Number: n, GitSHA: "abcdef1", Branch: branch, Image: app + ":" + branch})
			return err
		}
		for i, br := range []string{"main", "feature", "main", "feature"} {
			if err := add("web", i+1, br); err != nil {
				t.Fatal(err)
			}
		}
		if err := add("api", 1, "main"); err != nil {
			t.Fatalf("same number on another app must be fine: %v", err)
		}
		if err := add("web", 3, "main"); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
			t.Fatalf("duplicate number: want ECONFLICT, got %v", err)
		}
		if err := add("ghost", 1, "main"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("build of unknown app: want ENOTFOUND, got %v", err)
		}
		b, err := s.LatestBuild(ctx, "web", "main")
		if err != nil || b.Number != 3 || b.CreatedBy != "ci" {
			t.Fatalf("latest main: %+v %v", b, err)
		}
		if _, err := s.LatestBuild(ctx, "api", "feature"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("latest of empty branch: %v", err)
		}
		all, err := s.ListBuilds(ctx, spacepods.BuildFilter{App: "web"})
		if err != nil || len(all) != 4 || all[0].Number != 4 {
			t.Fatalf("list: %v %v", all, err)
		}
		fb, err := s.ListBuilds(ctx, spacepods.BuildFilter{App: "web", Branch: "feature"})
		if err != nil || len(fb) != 2 || fb[0].Number != 4 || fb[1].Number != 2 {
			t.Fatalf("list feature: %v %v", fb, err)
		}
		g, err := s.GetBuild(ctx, "web", 2)
		if err != nil || g.Branch != "feature" || g.Image != "web:feature" {
			t.Fatalf("get: %+v %v", g, err)
		}
	})
}

func TestStore_TokensAndAudit(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("root")
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		s.Now = func() time.Time { return now }
		tok, err := s.CreateToken(ctx, "ci", spacepods.RoleDeveloper, "hash1")
		if err != nil || tok.ID == 0 {
			t.Fatalf("create: %+v %v", tok, err)
		}
		if _, err := s.CreateToken(ctx, "ci", spacepods.RoleViewer, "hash2"); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
			t.Fatalf("duplicate name: %v", err)
		}
		got, err := s.TokenByHash(ctx, "hash1")
		if err != nil || got.Name != "ci" || got.Role != spacepods.RoleDeveloper {
			t.Fatalf("by hash: %+v %v", got, err)
		}
		if _, err := s.TokenByHash(ctx, "nope"); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
			t.Fatalf("unknown hash: %v", err)
		}
		if err := s.DeleteToken(ctx, "ci"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TokenByHash(ctx, "hash1"); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
			t.Fatalf("revoked token still works: %v", err)
		}
		entries, err := s.ListAudit(ctx, 0, 10)
		if err != nil || len(entries) != 2 {
			t.Fatalf("audit: %v %v", entries, err)
		}
		if entries[0].Action != "token.revoke" || entries[1].Action != "token.create" || entries[0].Actor != "root" || !entries[0].At.Equal(now) {
			t.Fatalf("audit entries: %+v", entries)
		}
		older, _ := s.ListAudit(ctx, entries[0].ID, 10)
		if len(older) != 1 || older[0].ID != entries[1].ID {
			t.Fatalf("audit paging: %+v", older)
		}
	})
}

func TestStore_ReopenKeepsDataAndMigratesOnce(t *testing.T) {
	dir := t.TempDir()
	ctx := ctxAs("alice")
	s, err := store.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	s.PutApp(ctx, testApp("web"))
	s.Close()
	s, err = store.Open(ctx, "", dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if _, err := s.GetApp(ctx, "web"); err != nil {
		t.Fatalf("data lost on reopen: %v", err)
	}
}

func TestStore_OpenRejectsBadURLAndUnreachableServer(t *testing.T) {
	_, err := store.Open(context.Background(), "mysql://x", t.TempDir())
	if spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Fatalf("bad scheme: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = store.Open(ctx, "postgres://u:secretpw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", "")
	if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
		t.Fatalf("unreachable: want EUNAVAILABLE, got %v", err)
	}
	if m := spacepods.ErrorMessage(err); strings.Contains(m, "secretpw") {
		t.Fatalf("password leaked in error: %s", m)
	}
}

func TestStore_ImportBuildsIsAllOrNothing(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("ci")
		s.PutApp(ctx, testApp("web"))
		b := func(n int) spacepods.Build {
			return spacepods.Build{App: "web", Number: n, GitSHA: "abcdef1", Branch: "main", Image: "web:1"}
		}
		if err := s.ImportBuilds(ctx, []spacepods.Build{b(1), b(2), b(3)}); err != nil {
			t.Fatal(err)
		}
		if err := s.ImportBuilds(ctx, []spacepods.Build{b(4), b(2)}); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
			t.Fatalf("duplicate in batch: %v", err)
		}
		all, _ := s.ListBuilds(ctx, spacepods.BuildFilter{App: "web"})
		if len(all) != 3 {
			t.Fatalf("a failed import must add nothing; have %d builds", len(all))
		}
	})
}

func TestStore_InstallationIsMadeOnceAndKept(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids := make([]string, 8)
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() { ids[i], errs[i] = s.Installation(ctx) })
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if len(ids[i]) != 12 || ids[i] != ids[0] {
				t.Fatalf("concurrent first calls returned %v, want one 12-digit ID", ids)
			}
		}
		again, err := s.Installation(ctx)
		if err != nil || again != ids[0] {
			t.Fatalf("second call: %q %v, want %q", again, err, ids[0])
		}
	})
}
