package store_test

import (
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

func TestStore_BuildJobLifecycleRecordsBuildOnlyOnSuccess(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("alice")
		if _, err := s.AddBuildJob(ctx, "nope", "main"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("job of an unregistered app: %v", err)
		}
		if _, _, err := s.PutApp(ctx, testApp("shop")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddBuild(ctx, spacepods.Build{App: "shop", Number: 7, GitSHA: "abcdef1", Branch: "main", Image: "r/shop:7"}); err != nil {
			t.Fatal(err)
		}
		j1, err := s.AddBuildJob(ctx, "shop", "main")
		if err != nil || j1.Status != spacepods.JobQueued || j1.QueuePosition != 1 || j1.CreatedBy != "alice" {
			t.Fatalf("queued job: %+v %v", j1, err)
		}
		j2, _ := s.AddBuildJob(ctx, "shop", "")
		j3, _ := s.AddBuildJob(ctx, "shop", "feature")
		if j2.QueuePosition != 2 || j3.QueuePosition != 3 {
			t.Fatalf("queue positions: %d %d", j2.QueuePosition, j3.QueuePosition)
		}
		if err := s.CancelQueuedBuildJob(ctx, j3.ID, "canceled by alice"); err != nil {
			t.Fatal(err)
		}
		if q, _ := s.QueuedBuildJobs(ctx); len(q) != 2 || q[0].ID != j1.ID || q[1].ID != j2.ID {
			t.Fatalf("queued: %+v", q)
		}

		// Two running jobs hold distinct numbers past the recorded builds.
		if j1, err = s.StartBuildJob(ctx, j1.ID); err != nil || j1.Status != spacepods.JobRunning || j1.StartedAt == nil {
			t.Fatalf("start: %+v %v", j1, err)
		}
		if _, err := s.StartBuildJob(ctx, j3.ID); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
			t.Fatalf("start of a canceled job: %v", err)
		}
		if _, err := s.StartBuildJob(ctx, j2.ID); err != nil {
			t.Fatal(err)
		}
		n1, err1 := s.ReserveBuildNumber(ctx, j1.ID)
		n2, err2 := s.ReserveBuildNumber(ctx, j2.ID)
		if err1 != nil || err2 != nil || n1 != 8 || n2 != 9 {
			t.Fatalf("reserved %d %d (%v %v), want 8 9", n1, n2, err1, err2)
		}

		j1.SHA, j1.Branch, j1.Author, j1.Message, j1.Image, j1.Log = "0123456789abcdef0123456789abcdef01234567", "main", "Ann <ann@example.com>", "fix: things", "r/shop:8", "Step 1/2\n"
		if err := s.SaveBuildJob(ctx, j1); err != nil {
			t.Fatal(err)
		}
		b, err := s.RecordJobBuild(ctx, j1, spacepods.Build{App: "shop", Number: n1, GitSHA: j1.SHA, Branch: "main", Image: j1.Image, Author: j1.Author, Message: j1.Message})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetBuild(ctx, "shop", 8)
		if err != nil || got.Author != "Ann <ann@example.com>" || got.Message != "fix: things" || got.CreatedBy != "alice" || got.GitSHA != j1.SHA {
			t.Fatalf("recorded build: %+v (returned %+v) %v", got, b, err)
		}
		done, _ := s.GetBuildJob(ctx, j1.ID, true)
		if done.Status != spacepods.JobSucceeded || done.BuildNumber != 8 || done.Log != "Step 1/2\n" || done.FinishedAt == nil {
			t.Fatalf("succeeded job: %+v", done)
		}

		j2.Status, j2.Error, j2.Log = spacepods.JobFailed, "the Dockerfile failed", "Step 1/1 : RUN false\n"
		if err := s.FinishBuildJob(ctx, j2); err != nil {
			t.Fatal(err)
		}
		failed, _ := s.GetBuildJob(ctx, j2.ID, true)
		if failed.Status != spacepods.JobFailed || failed.BuildNumber != 0 || failed.Log != j2.Log || failed.Error != j2.Error {
			t.Fatalf("failed job: %+v", failed)
		}
		if _, err := s.GetBuild(ctx, "shop", 9); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("a failed job recorded a build: %v", err)
		}
		list, _ := s.ListBuildJobs(ctx, "shop", 10)
		if len(list) != 3 || list[0].ID != j3.ID || list[0].Status != spacepods.JobCanceled || list[2].Log != "" {
			t.Fatalf("list: %+v", list)
		}
	})
}

func TestStore_RecordJobBuildAcceptsTheSameBuildRecordedByTheRegistry(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("alice")
		if _, _, err := s.PutApp(ctx, testApp("shop")); err != nil {
			t.Fatal(err)
		}
		j, _ := s.AddBuildJob(ctx, "shop", "main")
		j, _ = s.StartBuildJob(ctx, j.ID)
		n, _ := s.ReserveBuildNumber(ctx, j.ID)
		sha := "0123456789abcdef0123456789abcdef01234567"
		// The push notification recorded it first, without author and message.
		if _, err := s.AddBuild(ctxAs("registry"), spacepods.Build{App: "shop", Number: n, GitSHA: sha, Branch: "main", Image: "r/shop:1"}); err != nil {
			t.Fatal(err)
		}
		j.SHA, j.Image = sha, "r/shop:1"
		if _, err := s.RecordJobBuild(ctx, j, spacepods.Build{App: "shop", Number: n, GitSHA: sha, Branch: "main", Image: "r/shop:1", Author: "Ann", Message: "m"}); err != nil {
			t.Fatal(err)
		}
		if b, _ := s.GetBuild(ctx, "shop", n); b.Author != "Ann" || b.Message != "m" {
			t.Fatalf("build: %+v", b)
		}
		// Another commit under the number is a conflict, and the job stays unrecorded.
		j2, _ := s.AddBuildJob(ctx, "shop", "main")
		j2, _ = s.StartBuildJob(ctx, j2.ID)
		if _, err := s.RecordJobBuild(ctx, j2, spacepods.Build{App: "shop", Number: n, GitSHA: "fedcba9876", Branch: "main", Image: "r/shop:1"}); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
			t.Fatalf("conflict: %v", err)
		}
		if got, _ := s.GetBuildJob(ctx, j2.ID, false); got.Status != spacepods.JobRunning {
			t.Fatalf("job after a conflict: %+v", got)
		}
	})
}

func TestStore_FailInterruptedBuildJobsKeepsQueuedOnes(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("alice")
		if _, _, err := s.PutApp(ctx, testApp("shop")); err != nil {
			t.Fatal(err)
		}
		running, _ := s.AddBuildJob(ctx, "shop", "main")
		queued, _ := s.AddBuildJob(ctx, "shop", "main")
		running, _ = s.StartBuildJob(ctx, running.ID)
		running.Log = "Step 1/3\n"
		_ = s.SaveBuildJob(ctx, running)
		failed, err := s.FailInterruptedBuildJobs(ctx, "the server stopped")
		if err != nil || len(failed) != 1 || failed[0].ID != running.ID {
			t.Fatalf("failed: %+v %v", failed, err)
		}
		got, _ := s.GetBuildJob(ctx, running.ID, true)
		if got.Status != spacepods.JobFailed || got.Error != "the server stopped" || got.Log != "Step 1/3\n\nthe server stopped\n" {
			t.Fatalf("interrupted job: %+v", got)
		}
		if got, _ := s.GetBuildJob(ctx, queued.ID, false); got.Status != spacepods.JobQueued || got.QueuePosition != 1 {
			t.Fatalf("queued job: %+v", got)
		}
	})
}
