package secrets_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// putMany stores n secrets and returns ref → value.
func putMany(t *testing.T, l *secrets.Local, n int) map[string]string {
	t.Helper()
	want := map[string]string{}
	for i := range n {
		ref, v := fmt.Sprintf("apps/app%d/all/TOKEN", i), fmt.Sprintf("value-%d", i)
		mustPut(t, l, ref, v)
		want[ref] = v
	}
	return want
}

// readAll fails the test unless every secret reads back.
func readAll(t *testing.T, l *secrets.Local, want map[string]string) {
	t.Helper()
	for ref, v := range want {
		mustGet(t, l, ref, v)
	}
}

// reopen opens the store as a restarted server would: from the data dir
// and the process environment.
func reopen(t *testing.T, dir string, blobs secrets.BlobStore) *secrets.Local {
	t.Helper()
	l, err := secrets.OpenLocal(context.Background(), secrets.LocalConfig{DataDir: dir, Blobs: blobs})
	if err != nil {
		t.Fatalf("open as a restart would: %v", err)
	}
	return l
}

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// TestRotateMasterKey_KeyFileSurvivesARestart: with the key in the data
// dir, rotate-key (what the server runs) installs a new key, and a restart
// reads every secret.
func TestRotateMasterKey_KeyFileSurvivesARestart(t *testing.T) {
	t.Setenv(secrets.MasterKeyEnv, "")
	t.Setenv(secrets.PreviousMasterKeyEnv, "")
	ctx := context.Background()
	dir, blobs := t.TempDir(), storetest.MustOpenSQLite(t)
	l := reopen(t, dir, blobs)
	want := putMany(t, l, 5)
	before := l.KeyID()
	r, err := secrets.RotateMasterKey(ctx, l, dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.KeyID == before || r.KeyID != l.KeyID() {
		t.Fatalf("rotation says key %s (was %s, store uses %s)", r.KeyID, before, l.KeyID())
	}
	if !strings.Contains(r.Next, "secrets.key.old") {
		t.Errorf("Next = %q, want it to say where the old key is", r.Next)
	}
	readAll(t, l, want)
	restarted := reopen(t, dir, blobs)
	if restarted.KeyID() != r.KeyID {
		t.Fatalf("after a restart the key is %s, want %s", restarted.KeyID(), r.KeyID)
	}
	readAll(t, restarted, want)
}

// TestRotateMasterKey_EnvKeyRefusesThenRotatesByTheDocumentedSteps: with
// the key in SPACEPODS_MASTER_KEY, rotate-key changes nothing and says how
// to rotate; a restart still reads every secret. Following the steps it
// gives (new key, previous key beside it, restart, rotate-key, drop the
// previous key, restart) every secret reads at each restart, and at the
// end every secret is under the new key alone.
func TestRotateMasterKey_EnvKeyRefusesThenRotatesByTheDocumentedSteps(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, blobs *store.Store) {
		ctx := context.Background()
		dir := t.TempDir()
		oldKey, newK := newKey(t), newKey(t)
		t.Setenv(secrets.MasterKeyEnv, b64(oldKey))
		t.Setenv(secrets.PreviousMasterKeyEnv, "")
		l := reopen(t, dir, blobs)
		want := putMany(t, l, 5)

		_, err := secrets.RotateMasterKey(ctx, l, dir)
		if spacepods.ErrorCode(err) != spacepods.EINVALID {
			t.Fatalf("rotate-key with %s: %v, want EINVALID with the steps", secrets.MasterKeyEnv, err)
		}
		msg := spacepods.ErrorMessage(err)
		for _, step := range []string{"head -c 32 /dev/urandom | base64", secrets.PreviousMasterKeyEnv + "=<the current key>",
			secrets.MasterKeyEnv + "=<the new key>", "spacepods secrets rotate-key", "remove " + secrets.PreviousMasterKeyEnv} {
			if !strings.Contains(msg, step) {
				t.Errorf("refusal %q misses the step %q", msg, step)
			}
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("the refused rotation left files in the data dir: %v", entries)
		}
		readAll(t, reopen(t, dir, blobs), want) // the restart the bug broke

		// (2) both keys set, restart: everything reads, old and new.
		t.Setenv(secrets.MasterKeyEnv, b64(newK))
		t.Setenv(secrets.PreviousMasterKeyEnv, b64(oldKey))
		l = reopen(t, dir, blobs)
		readAll(t, l, want)
		mustPut(t, l, "apps/late/all/TOKEN", "put-between-restart-and-rotate")
		want["apps/late/all/TOKEN"] = "put-between-restart-and-rotate"
		if n, err := l.UnderPreviousKey(ctx); err != nil || n != 5 {
			t.Fatalf("UnderPreviousKey = %d, %v; want 5", n, err)
		}
		// (3) rotate-key re-wraps under the new key.
		r, err := secrets.RotateMasterKey(ctx, l, dir)
		if err != nil {
			t.Fatal(err)
		}
		if r.KeyID != secrets.KeyID(newK) || !strings.Contains(r.Next, "remove "+secrets.PreviousMasterKeyEnv) {
			t.Fatalf("rotation = %+v, want key %s and the step that removes %s", r, secrets.KeyID(newK), secrets.PreviousMasterKeyEnv)
		}
		if n, err := l.UnderPreviousKey(ctx); err != nil || n != 0 {
			t.Fatalf("after rotate-key UnderPreviousKey = %d, %v; want 0", n, err)
		}
		readAll(t, l, want)
		// (4) the previous key removed, restart: everything reads.
		t.Setenv(secrets.PreviousMasterKeyEnv, "")
		l = reopen(t, dir, blobs)
		if l.KeyID() != secrets.KeyID(newK) || l.PreviousKeyID() != "" {
			t.Fatalf("final store runs key %s (previous %q), want %s alone", l.KeyID(), l.PreviousKeyID(), secrets.KeyID(newK))
		}
		readAll(t, l, want)
		for ref, id := range keyIDs(t, blobs) {
			if id != secrets.KeyID(newK) {
				t.Errorf("%s is wrapped by %s, want the new key %s", ref, id, secrets.KeyID(newK))
			}
		}
		// The old key alone no longer opens anything, as it should not.
		t.Setenv(secrets.MasterKeyEnv, b64(oldKey))
		if _, err := reopen(t, dir, blobs).Get(ctx, "apps/app0/all/TOKEN"); err == nil {
			t.Error("the old key still opens a secret after the rotation")
		}
	})
}

// TestOpenLocal_PreviousKeyNeedsTheNewKeyInTheEnvironment: the previous
// key without SPACEPODS_MASTER_KEY is a half-done setup, refused.
func TestOpenLocal_PreviousKeyNeedsTheNewKeyInTheEnvironment(t *testing.T) {
	t.Setenv(secrets.MasterKeyEnv, "")
	t.Setenv(secrets.PreviousMasterKeyEnv, b64(newKey(t)))
	_, err := secrets.OpenLocal(context.Background(), secrets.LocalConfig{DataDir: t.TempDir(), Blobs: storetest.MustOpenSQLite(t)})
	if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), secrets.MasterKeyEnv) {
		t.Fatalf("open with only the previous key: %v, want EINVALID naming %s", err, secrets.MasterKeyEnv)
	}
	t.Setenv(secrets.MasterKeyEnv, b64(newKey(t)))
	t.Setenv(secrets.PreviousMasterKeyEnv, "not base64!")
	_, err = secrets.OpenLocal(context.Background(), secrets.LocalConfig{DataDir: t.TempDir(), Blobs: storetest.MustOpenSQLite(t)})
	if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), secrets.PreviousMasterKeyEnv) {
		t.Fatalf("open with a malformed previous key: %v, want EINVALID naming %s", err, secrets.PreviousMasterKeyEnv)
	}
}
