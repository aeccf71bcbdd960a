package store_test

import (
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestStore_RegistryEventsTakeEachDeliveryOnce: an event ID is taken once
// with its build; a tag pushed again with another image is kept as
// rejected (the build keeps its digest), with the same image as recorded.
func TestStore_RegistryEventsTakeEachDeliveryOnce(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("registry")
		s.PutApp(ctx, testApp("web"))
		dA, dB := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
		build := func(d string) *spacepods.Build {
			return &spacepods.Build{App: "web", Number: 5, GitSHA: "abcdef1", Branch: "main", Image: "r:5000/web:5", Digest: d}
		}
		ev := func(id, d string) spacepods.RegistryEvent {
			return spacepods.RegistryEvent{ID: id, Repository: "web", Tag: "5", Digest: d, Status: spacepods.RegistryEventRecorded, App: "web", Build: 5}
		}
		got, taken, err := s.TakeRegistryEvent(ctx, ev("e1", dA), build(dA))
		if err != nil || !taken || got.Status != spacepods.RegistryEventRecorded {
			t.Fatalf("first delivery: %+v %v %v", got, taken, err)
		}
		if _, taken, err := s.TakeRegistryEvent(ctx, ev("e1", dA), build(dA)); err != nil || taken {
			t.Fatalf("second delivery of e1: taken %v, %v; want not taken", taken, err)
		}
		got, taken, err = s.TakeRegistryEvent(ctx, ev("e2", dB), build(dB))
		if err != nil || !taken || got.Status != spacepods.RegistryEventRejected || !strings.Contains(got.Reason, "already has build 5 (digest "+dA) {
			t.Fatalf("re-push with another image: %+v %v %v", got, taken, err)
		}
		got, _, err = s.TakeRegistryEvent(ctx, ev("e3", dA), build(dA))
		if err != nil || got.Status != spacepods.RegistryEventRecorded || !strings.Contains(got.Reason, "the same image pushed again") {
			t.Fatalf("re-push of the same image: %+v %v", got, err)
		}
		b, err := s.GetBuild(ctx, "web", 5)
		if err != nil || b.Digest != dA || b.CreatedBy != "registry" {
			t.Fatalf("build 5 = %+v, %v; want digest %s", b, err, dA)
		}
		all, err := s.ListRegistryEvents(ctx, "", 10)
		if err != nil || len(all) != 3 {
			t.Fatalf("events: %+v, %v; want 3", all, err)
		}
		rejected, _ := s.ListRegistryEvents(ctx, spacepods.RegistryEventRejected, 10)
		if len(rejected) != 1 || rejected[0].ID != "e2" {
			t.Fatalf("rejected events: %+v", rejected)
		}
		// CI (or the builder) recorded build 6 before pushing it: the push
		// of the same commit gives the build its digest.
		if _, err := s.AddBuild(ctx, spacepods.Build{App: "web", Number: 6, GitSHA: "abcdef1", Branch: "main", Image: "r:5000/web:6"}); err != nil {
			t.Fatal(err)
		}
		b6 := build(dB)
		b6.Number = 6
		e6 := ev("e6", dB)
		e6.Tag, e6.Build = "6", 6
		got, _, err = s.TakeRegistryEvent(ctx, e6, b6)
		if err != nil || got.Status != spacepods.RegistryEventRecorded || !strings.Contains(got.Reason, "recorded before its push") {
			t.Fatalf("push of a build recorded before it: %+v %v", got, err)
		}
		if b, _ := s.GetBuild(ctx, "web", 6); b.Digest != dB {
			t.Fatalf("build 6's digest = %q, want %s", b.Digest, dB)
		}
		if _, err := s.GetRegistryEvent(ctx, "nope"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("missing event: %v", err)
		}
	})
}
