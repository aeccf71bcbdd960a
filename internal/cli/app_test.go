package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestReadSeedFile_OnlyInsideTheManifestsDirectory: database.seed reads a
// file under the manifest's directory (symlinks that stay inside are fine)
// and refuses absolute paths, ".." escapes and symlinks that lead out, with
// a message that says where the file must be.
func TestReadSeedFile_OnlyInsideTheManifestsDirectory(t *testing.T) {
	base := t.TempDir()
	app := filepath.Join(base, "app")
	outside := filepath.Join(base, "private")
	for _, d := range []string{filepath.Join(app, "db"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const secret = "PRIVATE-KEY-material"
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(app, "db", "seed.sql"), "CREATE TABLE t ();")
	write(filepath.Join(outside, "id_ed25519"), secret)
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(app, name)); err != nil {
			t.Fatal(err)
		}
	}
	link(filepath.Join(outside, "id_ed25519"), "db/key.sql") // absolute, out
	link("../../private/id_ed25519", "db/rel-key.sql")       // relative, out
	link(outside, "private")                                 // a directory out
	link("seed.sql", "db/alias.sql")                         // stays inside
	manifest := filepath.Join(app, "spacepods.yaml")

	for _, tc := range []struct {
		name, seed, want, err string
	}{
		{name: "a file next to the manifest", seed: "db/seed.sql", want: "CREATE TABLE t ();"},
		{name: "a symlink that stays inside", seed: "db/alias.sql", want: "CREATE TABLE t ();"},
		{name: "dot segments that stay inside", seed: "./db/../db/seed.sql", want: "CREATE TABLE t ();"},
		{name: "an absolute path", seed: filepath.Join(outside, "id_ed25519"), err: "an absolute path"},
		{name: "dot-dot out", seed: "../private/id_ed25519", err: "leaves the manifest's directory"},
		{name: "dot-dot out through a subdirectory", seed: "db/../../private/id_ed25519", err: "leaves the manifest's directory"},
		{name: "an absolute symlink out", seed: "db/key.sql", err: "symlink to a file outside"},
		{name: "a relative symlink out", seed: "db/rel-key.sql", err: "symlink to a file outside"},
		{name: "a symlinked directory out", seed: "private/id_ed25519", err: "symlink to a file outside"},
		{name: "a missing file", seed: "db/missing.sql", err: "cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readSeedFile(manifest, tc.seed)
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("readSeedFile(%q) = %q, %v; want %q", tc.seed, got, err, tc.want)
				}
				return
			}
			if strings.Contains(got, secret) {
				t.Fatalf("readSeedFile(%q) read the file outside: %q", tc.seed, got)
			}
			msg := spacepods.ErrorMessage(err)
			if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(msg, tc.err) {
				t.Fatalf("readSeedFile(%q): %v, want EINVALID saying %q", tc.seed, err, tc.err)
			}
			if tc.err != "cannot be read" && !strings.Contains(msg, "inside the manifest's directory") {
				t.Errorf("message %q does not say where the seed file must be", msg)
			}
		})
	}
}
