package databases

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// fakeTools writes pg_dump and pg_restore scripts that report major version
// major into a new directory.
func fakeTools(t *testing.T, major string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"pg_dump", "pg_restore"} {
		script := "#!/bin/sh\necho '" + name + " (PostgreSQL) " + major + ".3'\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindDumpTools(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	empty, old, same, newer := t.TempDir(), fakeTools(t, "14"), fakeTools(t, "15"), fakeTools(t, "16")

	_, err := findDumpTools(ctx, 150018, []string{empty})
	if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE || !strings.Contains(spacepods.ErrorMessage(err), "postgresql-client") {
		t.Errorf("no tools: %v, want EUNAVAILABLE naming the package postgresql-client", err)
	}
	_, err = findDumpTools(ctx, 150018, []string{empty, old})
	if msg := spacepods.ErrorMessage(err); err == nil || !strings.Contains(msg, "version 14") || !strings.Contains(msg, "postgresql-client-15") {
		t.Errorf("only older tools: %v, want an error naming the old version and postgresql-client-15", err)
	}
	for _, tt := range []struct {
		dirs []string
		want string
	}{
		{[]string{old, same, newer}, same},
		{[]string{newer, same}, newer}, // the first that can read the server
	} {
		got, err := findDumpTools(ctx, 150018, tt.dirs)
		if err != nil || got.dump != filepath.Join(tt.want, "pg_dump") || got.restore != filepath.Join(tt.want, "pg_restore") {
			t.Errorf("findDumpTools(%v) = %+v, %v; want the tools in %s", tt.dirs, got, err, tt.want)
		}
	}
	// Only one of the pair is no pair.
	half := fakeTools(t, "15")
	os.Remove(filepath.Join(half, "pg_restore"))
	if _, err := findDumpTools(ctx, 150018, []string{half}); err == nil {
		t.Error("a directory with pg_dump but no pg_restore was taken")
	}
}

func TestTLSSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		conn string
		want map[string]string
	}{
		{"postgres://u:p@db:5432/postgres", map[string]string{}},
		{"postgres://u:p@db/postgres?sslmode=verify-full&sslrootcert=/etc/ca.pem&pool_max_conns=3", map[string]string{"PGSSLMODE": "verify-full", "PGSSLROOTCERT": "/etc/ca.pem"}},
		{"host=db user=u password='a b\\'c' sslmode=require sslcert=/c.pem sslkey = '/k.pem'", map[string]string{"PGSSLMODE": "require", "PGSSLCERT": "/c.pem", "PGSSLKEY": "/k.pem"}},
	}
	for _, tt := range tests {
		if got := tlsSettings(tt.conn); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("tlsSettings(%q) = %v, want %v", tt.conn, got, tt.want)
		}
	}
	if got := keywordValues(`password='a b\'c' host=x`); got["password"] != "a b'c" || got["host"] != "x" {
		t.Errorf("keywordValues = %q", got)
	}
}
