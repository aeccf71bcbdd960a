package store_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

var _ secrets.BlobStore = (*store.Store)(nil)

func TestStore_SecretBlobsPutGetReplaceDelete(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		bin := []byte{0, 1, 2, 0xff, 0xfe, 0}
		if err := s.PutBlob(ctx, "apps/a/qa/X", "k1", []byte("wrapped-1"), bin); err != nil {
			t.Fatal(err)
		}
		id, w, sealed, err := s.GetBlob(ctx, "apps/a/qa/X")
		if err != nil || id != "k1" || string(w) != "wrapped-1" || !bytes.Equal(sealed, bin) {
			t.Fatalf("get: %q %q %x %v", id, w, sealed, err)
		}
		if err := s.PutBlob(ctx, "apps/a/qa/X", "k2", []byte("wrapped-2"), []byte("sealed-2")); err != nil {
			t.Fatal(err)
		}
		id, w, sealed, _ = s.GetBlob(ctx, "apps/a/qa/X")
		if id != "k2" || string(w) != "wrapped-2" || string(sealed) != "sealed-2" {
			t.Fatalf("after replace: %q %q %q", id, w, sealed)
		}
		if _, _, _, err := s.GetBlob(ctx, "apps/a/qa/NOPE"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("get missing: %v", err)
		}
		for i := 0; i < 2; i++ {
			if err := s.DeleteBlob(ctx, "apps/a/qa/X"); err != nil {
				t.Fatalf("delete #%d: %v", i+1, err)
			}
		}
		if _, _, _, err := s.GetBlob(ctx, "apps/a/qa/X"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
			t.Fatalf("get after delete: %v", err)
		}
	})
}

func TestStore_SecretBlobsListTreatsWildcardsLiterally(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, ref := range []string{"a_b/X", "axb/X", "a_b/Y", "A_B/Z", "a/b", "ab"} {
			if err := s.PutBlob(ctx, ref, "k", []byte("w"), []byte("s")); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			prefix string
			want   []string
		}{
			{"a_b/", []string{"a_b/X", "a_b/Y"}},
			{"a_", []string{"a_b/X", "a_b/Y"}},
			{"a%", []string{}},
			{"a", []string{"a/b", "a_b/X", "a_b/Y", "ab", "axb/X"}},
			{"", []string{"A_B/Z", "a/b", "a_b/X", "a_b/Y", "ab", "axb/X"}},
		} {
			got, err := s.ListBlobs(ctx, tc.prefix)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("ListBlobs(%q) = %v, %v; want %v", tc.prefix, got, err, tc.want)
			}
		}
	})
}

func TestStore_ReplaceWrappedKeysIsOneTransaction(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, ref := range []string{"r/1", "r/2", "r/3"} {
			if err := s.PutBlob(ctx, ref, "old", []byte("w-"+ref), []byte("s-"+ref)); err != nil {
				t.Fatal(err)
			}
		}
		boom := errors.New("boom")
		seen := 0
		err := s.ReplaceWrappedKeys(ctx, func(ref, keyID string, wrapped []byte) (string, []byte, error) {
			seen++
			if ref == "r/3" {
				return "", nil, boom
			}
			return "new", []byte("nw-" + ref), nil
		})
		if !errors.Is(err, boom) || seen != 3 {
			t.Fatalf("failing replace: err=%v seen=%d", err, seen)
		}
		for _, ref := range []string{"r/1", "r/2", "r/3"} {
			id, w, sealed, _ := s.GetBlob(ctx, ref)
			if id != "old" || string(w) != "w-"+ref || string(sealed) != "s-"+ref {
				t.Fatalf("%s changed by a failed replace: %q %q %q", ref, id, w, sealed)
			}
		}
		err = s.ReplaceWrappedKeys(ctx, func(ref, keyID string, wrapped []byte) (string, []byte, error) {
			if keyID != "old" || string(wrapped) != "w-"+ref {
				t.Errorf("fn got %q %q for %s", keyID, wrapped, ref)
			}
			return "new", []byte("nw-" + ref), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		s.ListAll(ctx, func(ref, keyID string) error {
			ids = append(ids, ref+"="+keyID)
			return nil
		})
		if !slices.Equal(ids, []string{"r/1=new", "r/2=new", "r/3=new"}) {
			t.Fatalf("ListAll after replace: %v", ids)
		}
		_, w, sealed, _ := s.GetBlob(ctx, "r/2")
		if string(w) != "nw-r/2" || string(sealed) != "s-r/2" {
			t.Fatalf("replace must change only the wrapped key: %q %q", w, sealed)
		}
	})
}
