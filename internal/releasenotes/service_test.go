package releasenotes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/releasenotes"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestService_ForDeploy: a deploy's notes come from the app's repository
// (cloned into the data dir's git cache) between the SHA of the release it
// replaced and its build's; a rollback's list the commits that left.
func TestService_ForDeploy(t *testing.T) {
	h := newHistory(t)
	c1 := h.commit("Alice", "alice@acme.test", "chore: initial import", "README", "shop\n")
	c2 := h.commit("Bob", "bob@acme.test", "feat: coupons (SHOP-3)", "cart.txt", "coupons\n")
	c3 := h.commit("Alice", "alice@acme.test", "fix: totals", "totals.txt", "ok\n")

	st := storetest.MustOpenSQLite(t)
	cat := catalog.NewService(st)
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "ci", Role: spacepods.RoleAdmin})
	if _, _, err := cat.Register(ctx, []byte("name: shop\nrepo: acme/shop\nkind: worker\nbuild: {git: file://"+h.dir+"}\n"), ""); err != nil {
		t.Fatal(err)
	}
	for i, sha := range []string{c1, c3} {
		if _, err := cat.RecordBuild(ctx, spacepods.Build{App: "shop", Number: i + 1, GitSHA: sha, Branch: "main", Image: "acme/shop"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.CreateEnvironment(ctx, spacepods.Environment{Name: "production", Kind: spacepods.EnvMaster, Owner: "ci", Status: spacepods.StatusReady, Apps: []string{}}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []int{1, 2} {
		if _, err := st.AddRelease(ctx, spacepods.Release{Env: "production", App: "shop", Build: b}); err != nil {
			t.Fatal(err)
		}
	}
	up, err := st.CreateDeploy(ctx, spacepods.Deploy{Env: "production", App: "shop", Build: 2, Release: 2, FromRelease: 1})
	if err != nil {
		t.Fatal(err)
	}
	down, err := st.CreateDeploy(ctx, spacepods.Deploy{Env: "production", App: "shop", Build: 1, Release: 1, FromRelease: 2, Rollback: true})
	if err != nil {
		t.Fatal(err)
	}
	svc := &releasenotes.Service{Store: st, Catalog: cat, DataDir: t.TempDir(), BaseURL: "http://sp.test", Options: releasenotes.Options{JiraURL: "http://jira.test"}}
	n, err := svc.ForDeploy(ctx, up.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n.Note != "" || len(n.Commits) != 2 || n.Commits[0].SHA != c3 || n.Commits[1].SHA != c2 || n.FromSHA != c1 || n.ToSHA != c3 || n.LogsURL != "http://sp.test/deploys/1" {
		t.Fatalf("notes: %+v", n)
	}
	if md := releasenotes.Markdown(n); !strings.HasPrefix(md, "## Release notes: shop build 2 to production\n") || !strings.Contains(md, "- [SHOP-3](http://jira.test/browse/SHOP-3)") {
		t.Fatalf("markdown:\n%s", md)
	}
	rb, err := svc.ForDeploy(ctx, down.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !rb.Rollback || len(rb.Commits) != 2 || rb.Commits[0].SHA != c3 || !strings.Contains(releasenotes.Markdown(rb), "2 commits left") {
		t.Fatalf("rollback notes: %+v\n%s", rb, releasenotes.Markdown(rb))
	}
}
