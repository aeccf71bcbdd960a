package forgetest

import (
	"context"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestFake_OneCommentPerMarkerAndStatusWaits: UpsertComment edits the
// comment carrying its marker; WaitStatus returns once the latest status
// of a context reaches a wanted state.
func TestFake_OneCommentPerMarkerAndStatusWaits(t *testing.T) {
	f := New()
	ctx := context.Background()
	f.AddRepo("acme/web")
	id1, _ := f.UpsertComment(ctx, "acme/web", 1, "<!-- m -->", "first")
	id2, _ := f.UpsertComment(ctx, "acme/web", 1, "<!-- m -->", "second")
	other, _ := f.UpsertComment(ctx, "acme/web", 2, "<!-- m -->", "other PR")
	cs := f.Comments("acme/web", 1)
	if id1 != id2 || other == id1 || len(cs) != 1 || cs[0].Writes != 2 || cs[0].Body != "<!-- m -->\nsecond" {
		t.Fatalf("comments %+v (ids %d %d %d)", cs, id1, id2, other)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = f.SetStatus(ctx, "acme/web", "abc", forge.Status{Context: "ci", State: forge.StatusPending})
		_ = f.SetStatus(ctx, "acme/web", "abc", forge.Status{Context: "ci", State: forge.StatusSuccess})
	}()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if st, err := f.WaitStatus(wctx, "acme/web", "abc", "ci", forge.StatusSuccess); err != nil || st.State != forge.StatusSuccess {
		t.Fatalf("%+v %v", st, err)
	}
	short, cancel2 := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel2()
	if _, err := f.WaitStatus(short, "acme/web", "abc", "ci", forge.StatusFailure); err == nil {
		t.Fatal("waited for a state that never came")
	}
	if _, err := f.PullRequest(ctx, "acme/web", 9); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("unknown PR: %v", err)
	}
	pr := f.SetPR(forge.PullRequest{Repo: "acme/web", Number: 9, HeadSHA: "abc"})
	if pr.WebURL == "" || pr.State != "open" || pr.HeadRepo != "acme/web" {
		t.Fatalf("defaults %+v", pr)
	}
}
