// Package secretstest is the conformance suite every secret store passes.
package secretstest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Run runs the suite; newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) secrets.Store) {
	t.Helper()
	ctx := context.Background()

	t.Run("PutGetOverwrite", func(t *testing.T) {
		s := newStore(t)
		ref := "apps/catalog-api/production/API_TOKEN"
		mustPut(t, s, ref, []byte("first"))
		expectValue(t, s, ref, []byte("first"))
		mustPut(t, s, ref, []byte("second, longer than the first"))
		expectValue(t, s, ref, []byte("second, longer than the first"))
		mustPut(t, s, ref, []byte("3"))
		expectValue(t, s, ref, []byte("3"))
	})

	t.Run("GetMissingIsNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Get(ctx, "apps/nope/production/MISSING")
		expectCode(t, err, spacepods.ENOTFOUND, "get missing")
		mustPut(t, s, "apps/a/qa/X", []byte("x"))
		_, err = s.Get(ctx, "apps/a/qa")
		expectCode(t, err, spacepods.ENOTFOUND, "get a folder")
	})

	t.Run("DeleteIsIdempotent", func(t *testing.T) {
		s := newStore(t)
		ref := "apps/a/qa/DB_PASSWORD"
		mustPut(t, s, ref, []byte("hunter2"))
		for i := 0; i < 2; i++ {
			if err := s.Delete(ctx, ref); err != nil {
				t.Fatalf("delete #%d: %v", i+1, err)
			}
			_, err := s.Get(ctx, ref)
			expectCode(t, err, spacepods.ENOTFOUND, "get after delete")
		}
		if err := s.Delete(ctx, "apps/never/existed/X"); err != nil {
			t.Fatalf("delete of a ref never written: %v", err)
		}
		mustPut(t, s, ref, []byte("again"))
		expectValue(t, s, ref, []byte("again"))
	})

	t.Run("ListByPrefix", func(t *testing.T) {
		s := newStore(t)
		refs := []string{
			"apps/catalog-api/production/API_TOKEN",
			"apps/catalog-api/production/DB_PASSWORD",
			"apps/catalog-api/qa/API_TOKEN",
			"apps/catalog-web/production/SESSION_KEY",
			"apps/pricing/production/API_TOKEN",
			"shared/SLACK_WEBHOOK",
			"apps/gone/qa/X",
		}
		for _, r := range refs {
			mustPut(t, s, r, []byte("v:"+r))
		}
		if err := s.Delete(ctx, "apps/gone/qa/X"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			prefix string
			want   []string
		}{
			{"", []string{refs[0], refs[1], refs[2], refs[3], refs[4], refs[5]}},
			{"apps/", []string{refs[0], refs[1], refs[2], refs[3], refs[4]}},
			{"apps/catalog-api/", []string{refs[0], refs[1], refs[2]}},
			{"apps/catalog-api/production/", []string{refs[0], refs[1]}},
			{"apps/catalog-", []string{refs[0], refs[1], refs[2], refs[3]}},
			{"apps/catalog-api/production/API", []string{refs[0]}},
			{refs[5], []string{refs[5]}},
			{"apps/gone/", []string{}},
			{"nothing/here/", []string{}},
		} {
			got, err := s.List(ctx, tc.prefix)
			if err != nil {
				t.Fatalf("list %q: %v", tc.prefix, err)
			}
			if got == nil || !slices.Equal(got, tc.want) {
				t.Errorf("list %q = %#v, want %#v", tc.prefix, got, tc.want)
			}
		}
	})

	t.Run("InvalidRefsAreRejected", func(t *testing.T) {
		s := newStore(t)
		bad := []string{
			"",
			"/apps/a/X",
			"apps/a/X/",
			"apps//X",
			"apps/../etc/passwd",
			"apps/a/..",
			"apps/./X",
			"apps/a b/X",
			"apps/a/X?y=1",
			"apps/a/X%2F",
			"apps\\a\\X",
			"apps/é/X",
			"apps/a/X\x00",
			strings.Repeat("a", secrets.MaxRefLen+1),
		}
		for _, ref := range bad {
			expectCode(t, s.Put(ctx, ref, []byte("v")), spacepods.EINVALID, fmt.Sprintf("put %q", ref))
			_, err := s.Get(ctx, ref)
			expectCode(t, err, spacepods.EINVALID, fmt.Sprintf("get %q", ref))
			expectCode(t, s.Delete(ctx, ref), spacepods.EINVALID, fmt.Sprintf("delete %q", ref))
		}
		for _, prefix := range []string{"/apps", "apps/../", "apps//", "a b"} {
			_, err := s.List(ctx, prefix)
			expectCode(t, err, spacepods.EINVALID, fmt.Sprintf("list %q", prefix))
		}
		longest := strings.Repeat("a", 100) + "/" + strings.Repeat("b", secrets.MaxRefLen-101)
		mustPut(t, s, longest, []byte("ok"))
		expectValue(t, s, longest, []byte("ok"))
		mustPut(t, s, "A-z_0.9/x.y-Z_", []byte("ok"))
		got, err := s.List(ctx, "")
		if err != nil || len(got) != 2 {
			t.Fatalf("only the two valid refs were stored, list = %v, %v", got, err)
		}
	})

	t.Run("ValueSizeLimit", func(t *testing.T) {
		s := newStore(t)
		max := bytes.Repeat([]byte{0xA5}, secrets.ValueLimit(s))
		mustPut(t, s, "apps/a/qa/BIG", max)
		expectValue(t, s, "apps/a/qa/BIG", max)
		err := s.Put(ctx, "apps/a/qa/TOO_BIG", append(max, 1))
		expectCode(t, err, spacepods.ETOOLARGE, "put MaxValueSize+1 bytes")
		_, err = s.Get(ctx, "apps/a/qa/TOO_BIG")
		expectCode(t, err, spacepods.ENOTFOUND, "get after a refused put")
	})

	t.Run("BinaryValuesRoundTrip", func(t *testing.T) {
		s := newStore(t)
		all := make([]byte, 0, 512)
		for i := 0; i < 512; i++ {
			all = append(all, byte(i))
		}
		values := map[string][]byte{
			"bin/ALL_BYTES": all,
			"bin/EMPTY":     {},
			"bin/NULS":      {0, 0, 0},
			"bin/NEWLINES":  []byte("line1\nline2\r\n\x00tail\n"),
			"bin/UTF8":      []byte("päss—wörd ✓ 🔑"),
			"bin/INVALID":   {0xff, 0xfe, 0xc3, 0x28},
		}
		for ref, v := range values {
			mustPut(t, s, ref, v)
		}
		for ref, v := range values {
			expectValue(t, s, ref, v)
		}
		got, _ := s.Get(ctx, "bin/ALL_BYTES")
		got[0] ^= 0xff // the caller owns what Get returns
		expectValue(t, s, "bin/ALL_BYTES", all)
	})

	t.Run("ConcurrentPutsToDifferentRefs", func(t *testing.T) {
		s := newStore(t)
		const writers, rounds = 16, 4
		var wg sync.WaitGroup
		errs := make(chan error, writers*rounds)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				ref := fmt.Sprintf("apps/app-%02d/qa/TOKEN", w)
				for r := 0; r < rounds; r++ {
					if err := s.Put(ctx, ref, []byte(fmt.Sprintf("writer %d round %d", w, r))); err != nil {
						errs <- err
						return
					}
					if _, err := s.Get(ctx, ref); err != nil {
						errs <- err
						return
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent put: %v", err)
		}
		for w := 0; w < writers; w++ {
			expectValue(t, s, fmt.Sprintf("apps/app-%02d/qa/TOKEN", w), []byte(fmt.Sprintf("writer %d round %d", w, rounds-1)))
		}
		got, err := s.List(ctx, "apps/")
		if err != nil || len(got) != writers {
			t.Fatalf("list after concurrent puts: %d refs, %v", len(got), err)
		}
	})

	t.Run("ConcurrentPutsToOneRefLeaveOneWholeValue", func(t *testing.T) {
		s := newStore(t)
		ref := "apps/a/qa/RACE"
		var wg sync.WaitGroup
		candidates := map[string]bool{}
		for w := 0; w < 8; w++ {
			v := strings.Repeat(fmt.Sprint(w), 100+w)
			candidates[v] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Put(ctx, ref, []byte(v)); err != nil {
					t.Errorf("put: %v", err)
				}
			}()
		}
		wg.Wait()
		got, err := s.Get(ctx, ref)
		if err != nil || !candidates[string(got)] {
			t.Fatalf("after racing puts got %q, %v; want exactly one of the written values", got, err)
		}
	})

	t.Run("FailedPutKeepsOldValue", func(t *testing.T) {
		s := newStore(t)
		ref := "apps/a/production/API_TOKEN"
		mustPut(t, s, ref, []byte("old"))
		err := s.Put(ctx, ref, make([]byte, secrets.ValueLimit(s)+1))
		expectCode(t, err, spacepods.ETOOLARGE, "oversized overwrite")
		expectValue(t, s, ref, []byte("old"))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Put(cctx, ref, []byte("new")); err == nil {
			t.Fatal("put with a canceled context succeeded")
		}
		expectValue(t, s, ref, []byte("old"))
	})

	t.Run("Name", func(t *testing.T) {
		s := newStore(t)
		if s.Name() == MemoryName {
			t.Skip("the in-memory test store is not a registered backend")
		}
		if s.Name() == "" || !slices.Contains(secrets.Backends(), s.Name()) {
			t.Fatalf("Name() = %q, want a registered backend ID (%v)", s.Name(), secrets.Backends())
		}
	})
}

func mustPut(t *testing.T, s secrets.Store, ref string, v []byte) {
	t.Helper()
	if err := s.Put(context.Background(), ref, v); err != nil {
		t.Fatalf("put %s: %v", ref, err)
	}
}

func expectValue(t *testing.T, s secrets.Store, ref string, want []byte) {
	t.Helper()
	got, err := s.Get(context.Background(), ref)
	if err != nil {
		t.Fatalf("get %s: %v", ref, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("get %s = %q (%d bytes), want %q (%d bytes)", ref, trunc(got), len(got), trunc(want), len(want))
	}
}

func expectCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := spacepods.ErrorCode(err); got != code {
		t.Fatalf("%s: error code %q (%v), want %q", what, got, err, code)
	}
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
