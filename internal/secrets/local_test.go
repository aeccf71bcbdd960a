package secrets_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/secrets/secretstest"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
	"github.com/spacepods/spacepods/internal/testenv"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k, err := secrets.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newLocal(t *testing.T, blobs secrets.BlobStore, key []byte) *secrets.Local {
	t.Helper()
	l, err := secrets.NewLocal(blobs, key)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// freshStore opens an empty store of the same dialect as s.
func freshStore(t *testing.T, s *store.Store) *store.Store {
	if s.Dialect() == store.Postgres {
		return storetest.MustOpenPostgres(t)
	}
	return storetest.MustOpenSQLite(t)
}

func mustPut(t *testing.T, s secrets.Store, ref, value string) {
	t.Helper()
	if err := s.Put(context.Background(), ref, []byte(value)); err != nil {
		t.Fatalf("put %s: %v", ref, err)
	}
}

func mustGet(t *testing.T, s secrets.Store, ref, want string) {
	t.Helper()
	got, err := s.Get(context.Background(), ref)
	if err != nil || string(got) != want {
		t.Fatalf("get %s = %q, %v; want %q", ref, got, err, want)
	}
}

func TestLocal_Conformance(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		secretstest.Run(t, func(t *testing.T) secrets.Store { return newLocal(t, freshStore(t, s), newKey(t)) })
	})
}

func TestLocal_WrongMasterKeyFailsWithClearError(t *testing.T) {
	blobs := storetest.MustOpenSQLite(t)
	right, wrong := newKey(t), newKey(t)
	mustPut(t, newLocal(t, blobs, right), "apps/a/production/API_TOKEN", "s3cret")

	_, err := newLocal(t, blobs, wrong).Get(context.Background(), "apps/a/production/API_TOKEN")
	if !errors.Is(err, secrets.ErrWrongMasterKey) || spacepods.ErrorCode(err) != spacepods.EINTERNAL {
		t.Fatalf("get with the wrong key: %v", err)
	}
	msg := spacepods.ErrorMessage(err)
	for _, want := range []string{"apps/a/production/API_TOKEN", secrets.KeyID(right), secrets.KeyID(wrong), "secrets.key", secrets.MasterKeyEnv} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatal("the error leaks the value")
	}
}

func TestLocal_BlobMovedToAnotherRefFailsToOpen(t *testing.T) {
	ctx := context.Background()
	blobs := storetest.MustOpenSQLite(t)
	l := newLocal(t, blobs, newKey(t))
	mustPut(t, l, "apps/a/production/API_TOKEN", "production token")
	mustPut(t, l, "apps/a/qa/API_TOKEN", "qa token")

	id, wrapped, sealed, err := blobs.GetBlob(ctx, "apps/a/production/API_TOKEN")
	if err != nil {
		t.Fatal(err)
	}
	// The whole envelope copied to another ref.
	if err := blobs.PutBlob(ctx, "apps/a/qa/API_TOKEN", id, wrapped, sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(ctx, "apps/a/qa/API_TOKEN"); !errors.Is(err, secrets.ErrTampered) {
		t.Fatalf("get of a moved blob: %v, want ErrTampered", err)
	}
	// Only the sealed value swapped, the target's own data key kept.
	mustPut(t, l, "apps/a/staging/API_TOKEN", "staging token")
	id2, wrapped2, _, _ := blobs.GetBlob(ctx, "apps/a/staging/API_TOKEN")
	blobs.PutBlob(ctx, "apps/a/staging/API_TOKEN", id2, wrapped2, sealed)
	if _, err := l.Get(ctx, "apps/a/staging/API_TOKEN"); !errors.Is(err, secrets.ErrTampered) {
		t.Fatalf("get of a swapped value: %v, want ErrTampered", err)
	}
	// One flipped bit.
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	mustPut(t, l, "apps/a/dev/API_TOKEN", "x")
	blobs.PutBlob(ctx, "apps/a/dev/API_TOKEN", id, wrapped, flipped)
	if _, err := l.Get(ctx, "apps/a/dev/API_TOKEN"); !errors.Is(err, secrets.ErrTampered) || spacepods.ErrorCode(err) != spacepods.EINTERNAL {
		t.Fatalf("get of a flipped bit: %v, want ErrTampered", err)
	}
	mustGet(t, l, "apps/a/production/API_TOKEN", "production token")
}

func TestLocal_EachPutUsesFreshDataKeyAndNonce(t *testing.T) {
	ctx := context.Background()
	blobs := storetest.MustOpenSQLite(t)
	l := newLocal(t, blobs, newKey(t))
	mustPut(t, l, "a/X", "same value")
	_, w1, s1, _ := blobs.GetBlob(ctx, "a/X")
	mustPut(t, l, "a/X", "same value")
	_, w2, s2, _ := blobs.GetBlob(ctx, "a/X")
	if bytes.Equal(w1, w2) || bytes.Equal(s1, s2) {
		t.Fatal("two puts of the same value produced identical blobs")
	}
}

func keyIDs(t *testing.T, blobs secrets.BlobStore) map[string]string {
	t.Helper()
	ids := map[string]string{}
	if err := blobs.ListAll(context.Background(), func(ref, keyID string) error { ids[ref] = keyID; return nil }); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestLocal_RotateKeyKeepsValuesAndChangesKeyIDs(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, blobs *store.Store) {
		ctx := context.Background()
		oldKey, newK := newKey(t), newKey(t)
		l := newLocal(t, blobs, oldKey)
		values := map[string]string{}
		for i := 0; i < 25; i++ {
			ref := fmt.Sprintf("apps/app-%d/production/TOKEN", i)
			values[ref] = fmt.Sprintf("value %d", i)
			mustPut(t, l, ref, values[ref])
		}
		_, wrappedBefore, sealedBefore, _ := blobs.GetBlob(ctx, "apps/app-3/production/TOKEN")

		if err := l.RotateKey(ctx, newK); err != nil {
			t.Fatal(err)
		}
		if l.KeyID() != secrets.KeyID(newK) {
			t.Fatalf("KeyID after rotation = %s, want %s", l.KeyID(), secrets.KeyID(newK))
		}
		for ref, id := range keyIDs(t, blobs) {
			if id != secrets.KeyID(newK) {
				t.Fatalf("%s still under key %s", ref, id)
			}
		}
		_, wrappedAfter, sealedAfter, _ := blobs.GetBlob(ctx, "apps/app-3/production/TOKEN")
		if bytes.Equal(wrappedBefore, wrappedAfter) || !bytes.Equal(sealedBefore, sealedAfter) {
			t.Fatal("rotation must re-wrap the data key and leave the sealed value alone")
		}
		reopened := newLocal(t, blobs, newK)
		for ref, v := range values {
			mustGet(t, l, ref, v)
			mustGet(t, reopened, ref, v)
		}
		if _, err := newLocal(t, blobs, oldKey).Get(ctx, "apps/app-0/production/TOKEN"); !errors.Is(err, secrets.ErrWrongMasterKey) {
			t.Fatalf("the old key still opens secrets after rotation: %v", err)
		}
		mustPut(t, l, "apps/new/qa/X", "after rotation")
		mustGet(t, reopened, "apps/new/qa/X", "after rotation")
		// Running the same rotation again (say, after a crash before the key
		// file was written) is accepted.
		if err := newLocal(t, blobs, oldKey).RotateKey(ctx, newK); err != nil {
			t.Fatalf("repeat rotation: %v", err)
		}
	})
}

func TestLocal_RotateKeyWithWrongOldKeyChangesNothing(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, blobs *store.Store) {
		ctx := context.Background()
		right := newKey(t)
		l := newLocal(t, blobs, right)
		for i := 0; i < 5; i++ {
			mustPut(t, l, fmt.Sprintf("apps/a/qa/K%d", i), fmt.Sprint(i))
		}
		snapshot := func() map[string]string {
			out := map[string]string{}
			for ref := range keyIDs(t, blobs) {
				id, w, s, _ := blobs.GetBlob(ctx, ref)
				out[ref] = id + hex.EncodeToString(w) + hex.EncodeToString(s)
			}
			return out
		}
		before := snapshot()

		err := newLocal(t, blobs, newKey(t)).RotateKey(ctx, newKey(t))
		if !errors.Is(err, secrets.ErrWrongMasterKey) || !strings.Contains(spacepods.ErrorMessage(err), secrets.KeyID(right)) {
			t.Fatalf("rotation with the wrong old key: %v", err)
		}
		// A damaged blob in the middle aborts the whole rotation too.
		id, w, s, _ := blobs.GetBlob(ctx, "apps/a/qa/K3")
		w[len(w)-1] ^= 1
		blobs.PutBlob(ctx, "apps/a/qa/K3", id, w, s)
		damaged := snapshot()
		if err := l.RotateKey(ctx, newKey(t)); !errors.Is(err, secrets.ErrTampered) {
			t.Fatalf("rotation over a damaged blob: %v", err)
		}
		after := snapshot()
		for ref := range before {
			if after[ref] != damaged[ref] {
				t.Fatalf("%s changed by a failed rotation", ref)
			}
		}
		if l.KeyID() != secrets.KeyID(right) {
			t.Fatal("a failed rotation switched the key")
		}
		mustGet(t, l, "apps/a/qa/K4", "4")
	})
}

func TestLocal_NoPlaintextAtRest(t *testing.T) {
	const planted = "PLANTED-SECRET-7f3a9"
	const ref = "apps/catalog-api/production/API_TOKEN"
	forms := map[string][]byte{
		"raw":    []byte(planted),
		"base64": []byte(base64.StdEncoding.EncodeToString([]byte(planted))),
		"hex":    []byte(hex.EncodeToString([]byte(planted))),
	}
	plant := func(t *testing.T, s *store.Store) {
		l := newLocal(t, s, newKey(t))
		mustPut(t, l, ref, planted)
		mustPut(t, l, "apps/catalog-api/production/BIG", strings.Repeat(planted, 1000))
		mustPut(t, l, "apps/catalog-api/qa/API_TOKEN", "old "+planted)
		mustPut(t, l, "apps/catalog-api/qa/API_TOKEN", "overwritten")
		mustGet(t, l, ref, planted)
	}
	assertAbsent := func(t *testing.T, what string, b []byte) {
		t.Helper()
		if !bytes.Contains(b, []byte(ref)) {
			t.Fatalf("%s (%d bytes) does not even hold the ref: not the right bytes", what, len(b))
		}
		for form, p := range forms {
			if bytes.Contains(b, p) {
				t.Fatalf("%s holds the planted value (%s)", what, form)
			}
		}
	}
	// The control: a value stored WITHOUT encryption must be found by the
	// same reads, or the check above proves nothing.
	plantPlaintext := func(t *testing.T, s *store.Store) {
		if err := s.PutBlob(context.Background(), "control/PLAINTEXT", "none", []byte("none"), []byte(planted)); err != nil {
			t.Fatal(err)
		}
	}
	assertFound := func(t *testing.T, what string, b []byte) {
		t.Helper()
		if !bytes.Contains(b, forms["raw"]) && !bytes.Contains(b, forms["hex"]) {
			t.Fatalf("control: %s does not show a value stored in plaintext; the check is blind", what)
		}
	}

	t.Run(store.SQLite, func(t *testing.T) {
		ctx := context.Background()
		dir := t.TempDir()
		s, err := store.Open(ctx, "", dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		plant(t, s)
		read := func() []byte {
			var all []byte
			for _, name := range []string{"spacepods.db", "spacepods.db-wal"} {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				all = append(all, b...)
			}
			return all
		}
		assertAbsent(t, "the SQLite files before checkpoint", read())
		if _, err := s.DB().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		s.Close()
		assertAbsent(t, "the SQLite files after checkpoint", read())

		s, err = store.Open(ctx, "", dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		plantPlaintext(t, s)
		assertFound(t, "the SQLite files", read())
	})

	t.Run(store.Postgres, func(t *testing.T) {
		ctx := context.Background()
		url := storetest.NewTestDatabase(t, testenv.PostgresURL(t))
		s, err := store.Open(ctx, url, "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		plant(t, s)

		selectAll := func() []byte {
			rows, err := s.DB().QueryContext(ctx, `SELECT * FROM secrets`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			cols, _ := rows.Columns()
			var dump bytes.Buffer
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for _, v := range vals {
					fmt.Fprintf(&dump, "%s\t", v)
				}
				dump.WriteByte('\n')
			}
			return dump.Bytes()
		}
		asText := func() []byte {
			var text sql.NullString
			if err := s.DB().QueryRowContext(ctx, `SELECT string_agg(t::text, E'\n') FROM secrets t`).Scan(&text); err != nil {
				t.Fatal(err)
			}
			return []byte(text.String)
		}
		assertAbsent(t, "SELECT * FROM secrets", selectAll())
		assertAbsent(t, "the rows as text", asText())

		pgDump := testenv.RequireBinary(t, "pg_dump")
		dump := func() []byte {
			out, err := exec.CommandContext(ctx, pgDump, "--data-only", "--table=secrets", "--dbname="+url).CombinedOutput()
			if err != nil {
				t.Fatalf("pg_dump: %v\n%s", err, out)
			}
			return out
		}
		assertAbsent(t, "pg_dump of the secrets table", dump())

		plantPlaintext(t, s)
		assertFound(t, "SELECT * FROM secrets", selectAll())
		assertFound(t, "the rows as text", asText())
		assertFound(t, "pg_dump", dump())
	})
}

func TestOpenLocal_CreatesKeyFileOnceWithMode0600(t *testing.T) {
	t.Setenv(secrets.MasterKeyEnv, "")
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	blobs := storetest.MustOpenSQLite(t)
	l, err := secrets.OpenLocal(ctx, secrets.LocalConfig{DataDir: dir, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, secrets.KeyFileName))
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != 32 {
		t.Fatalf("key file: %v %v", st, err)
	}
	mustPut(t, l, "apps/a/qa/X", "v")
	l2, err := secrets.OpenLocal(ctx, secrets.LocalConfig{DataDir: dir, Blobs: blobs})
	if err != nil || l2.KeyID() != l.KeyID() {
		t.Fatalf("second open: %v, key %s vs %s", err, l2.KeyID(), l.KeyID())
	}
	mustGet(t, l2, "apps/a/qa/X", "v")
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d files, want only %s", len(entries), secrets.KeyFileName)
	}
}

func TestLoadMasterKey_FromEnvAndErrors(t *testing.T) {
	key := newKey(t)
	got, source, err := secrets.LoadMasterKey("", base64.StdEncoding.EncodeToString(key)+"\n")
	if err != nil || !bytes.Equal(got, key) || source != secrets.KeyFromEnv {
		t.Fatalf("from env: %x %s %v", got, source, err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, secrets.KeyFileName), []byte("short"), 0o600)
	for _, tc := range []struct {
		name, dir, env, want string
	}{
		{"env not base64", "", "not base64!", "not valid base64"},
		{"env wrong length", "", base64.StdEncoding.EncodeToString(key[:16]), "16 bytes"},
		{"no dir and no env", "", "", "--data-dir"},
		{"file wrong length", dir, "", "holds 5 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := secrets.LoadMasterKey(tc.dir, tc.env)
			if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), tc.want) {
				t.Fatalf("err = %v, want EINVALID mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("env wins over the file", func(t *testing.T) {
		t.Setenv(secrets.MasterKeyEnv, base64.StdEncoding.EncodeToString(key))
		l, err := secrets.OpenLocal(context.Background(), secrets.LocalConfig{DataDir: dir, Blobs: storetest.MustOpenSQLite(t)})
		if err != nil || l.KeyID() != secrets.KeyID(key) {
			t.Fatalf("open with env key: %v", err)
		}
	})
}

func TestRotateMasterKeyFile_InstallsNewKeyAndKeepsOld(t *testing.T) {
	t.Setenv(secrets.MasterKeyEnv, "")
	ctx := context.Background()
	dir := t.TempDir()
	blobs := storetest.MustOpenSQLite(t)
	l, err := secrets.OpenLocal(ctx, secrets.LocalConfig{DataDir: dir, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, l, "apps/a/qa/X", "before")
	oldKey, _ := os.ReadFile(filepath.Join(dir, secrets.KeyFileName))
	newK := newKey(t)
	if err := secrets.RotateMasterKeyFile(ctx, l, dir, newK); err != nil {
		t.Fatal(err)
	}
	cur, _ := os.ReadFile(filepath.Join(dir, secrets.KeyFileName))
	old, _ := os.ReadFile(filepath.Join(dir, secrets.KeyFileName+".old"))
	if !bytes.Equal(cur, newK) || !bytes.Equal(old, oldKey) {
		t.Fatal("after rotation secrets.key must hold the new key and secrets.key.old the old one")
	}
	if _, err := os.Stat(filepath.Join(dir, secrets.KeyFileName+".new")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("secrets.key.new left behind: %v", err)
	}
	for _, name := range []string{secrets.KeyFileName, secrets.KeyFileName + ".old"} {
		if st, _ := os.Stat(filepath.Join(dir, name)); st.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v", name, st.Mode().Perm())
		}
	}
	reopened, err := secrets.OpenLocal(ctx, secrets.LocalConfig{DataDir: dir, Blobs: blobs})
	if err != nil || reopened.KeyID() != secrets.KeyID(newK) {
		t.Fatalf("reopen: %v", err)
	}
	mustGet(t, reopened, "apps/a/qa/X", "before")
}

func TestOpenLocal_FinishesOrDropsInterruptedRotation(t *testing.T) {
	t.Setenv(secrets.MasterKeyEnv, "")
	ctx := context.Background()
	setup := func(t *testing.T) (dir string, blobs *store.Store, l *secrets.Local, newK []byte) {
		dir = t.TempDir()
		blobs = storetest.MustOpenSQLite(t)
		l, err := secrets.OpenLocal(ctx, secrets.LocalConfig{DataDir: dir, Blobs: blobs})
		if err != nil {
			t.Fatal(err)
		}
		mustPut(t, l, "apps/a/qa/X", "kept")
		newK = newKey(t)
		// The first step of RotateMasterKeyFile, as if the process died after it.
		os.WriteFile(filepath.Join(dir, secrets.KeyFileName+".new"), newK, 0o600)
		return dir, blobs, l, newK
	}
	t.Run("re-wrap committed", func(t *testing.T) {
		dir, blobs, l, newK := setup(t)
		if err := l.RotateKey(ctx, newK); err != nil {
			t.Fatal(err)
		}
		reopened, err := secrets.OpenLocal(ctx, secrets.LocalConfig{DataDir: dir, Blobs: blobs})
		if err != nil || reopened.KeyID() != secrets.KeyID(newK) {
			t.Fatalf("reopen: %v (key %s)", err, reopened.KeyID())
		}
		mustGet(t, reopened, "apps/a/qa/X", "kept")
		if _, err := os.Stat(filepath.Join(dir, secrets.KeyFileName+".old")); err != nil {
			t.Fatalf("the old key was not kept: %v", err)
		}
	})
	t.Run("re-wrap never happened", func(t *testing.T) {
		dir, blobs, l, _ := setup(t)
		reopened, err := secrets.OpenLocal(ctx, secrets.LocalConfig{DataDir: dir, Blobs: blobs})
		if err != nil || reopened.KeyID() != l.KeyID() {
			t.Fatalf("reopen: %v", err)
		}
		mustGet(t, reopened, "apps/a/qa/X", "kept")
		if _, err := os.Stat(filepath.Join(dir, secrets.KeyFileName+".new")); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("the unused secrets.key.new was not dropped")
		}
	})
}
