package databases

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// dumpTools are the pg_dump and pg_restore that Snapshot runs.
type dumpTools struct {
	dump, restore string
	major         int
}

// dumpTools finds pg_dump and pg_restore for the server's version once; a
// failure is not remembered, so that installing them helps without a
// restart.
func (m *Manager) dumpTools(ctx context.Context) (dumpTools, error) {
	m.toolsMu.Lock()
	defer m.toolsMu.Unlock()
	if m.tools.dump != "" {
		return m.tools, nil
	}
	t, err := findDumpTools(ctx, m.version, toolDirs(ctx, m.version))
	if err != nil {
		return t, err
	}
	m.logger.Debug("snapshot tools", "pg_dump", t.dump, "pg_restore", t.restore, "major", t.major)
	m.tools = t
	return t, nil
}

// toolDirs lists where pg_dump may be, best first: the server's major
// version's own directory (Debian/Ubuntu, then RPM layouts), pg_config's,
// PATH, then every other installed version, newest first.
func toolDirs(ctx context.Context, version int) []string {
	major := version / 10000
	dirs := []string{
		fmt.Sprintf("/usr/lib/postgresql/%d/bin", major),
		fmt.Sprintf("/usr/pgsql-%d/bin", major),
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	if p, err := exec.LookPath("pg_dump"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	others, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(others, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(others[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(others[j])))
		return vi > vj
	})
	return append(dirs, others...)
}

var toolVersionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// findDumpTools returns the first directory of dirs holding pg_dump and
// pg_restore of the server's major version or newer (pg_dump reads older
// servers, never newer ones).
func findDumpTools(ctx context.Context, version int, dirs []string) (dumpTools, error) {
	want := version / 10000
	var seen []string
	for _, dir := range dirs {
		t := dumpTools{dump: filepath.Join(dir, "pg_dump"), restore: filepath.Join(dir, "pg_restore")}
		if !executable(t.dump) || !executable(t.restore) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := exec.CommandContext(cctx, t.dump, "--version").Output()
		cancel()
		m := toolVersionRE.FindSubmatch(out)
		if err != nil || m == nil {
			continue
		}
		t.major, _ = strconv.Atoi(string(m[1]))
		if t.major >= want {
			return t, nil
		}
		seen = append(seen, fmt.Sprintf("%s (version %d)", t.dump, t.major))
	}
	found := "found none"
	if len(seen) > 0 {
		found = "found only older ones: " + strings.Join(seen, ", ")
	}
	return dumpTools{}, spacepods.Errorf(spacepods.EUNAVAILABLE,
		"snapshots need pg_dump and pg_restore of PostgreSQL %d or newer (the server's version) on the Spacepods host, and %s: install the PostgreSQL client tools (Debian/Ubuntu: apt-get install postgresql-client-%d, or postgresql-client when that is version %d or newer)",
		want, found, want, want)
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0
}

// copyLive copies database src into the empty database snap: pg_dump
// streams a consistent copy (one REPEATABLE READ transaction, as of its
// start) into pg_restore, which loads it in one transaction. Both log in as
// src's own role, so that nothing the app put in its database (a CHECK
// constraint, a generated column, a default calling its own function) ever
// runs with the admin's privileges; the live database is only read.
func (m *Manager) copyLive(ctx context.Context, t dumpTools, src, snap string) error {
	env := m.libpqEnv(src, derivePassword(m.key, src))
	dump := exec.CommandContext(ctx, t.dump, "--format=custom", "--compress=0", "--no-subscriptions",
		"--lock-wait-timeout=60000", "--dbname="+src)
	restore := exec.CommandContext(ctx, t.restore, "--no-owner", "--no-tablespaces", "--no-subscriptions",
		"--exit-on-error", "--single-transaction", "--dbname="+snap)
	var dumpErr, restoreErr tailBuffer
	for _, c := range []*exec.Cmd{dump, restore} {
		c.Env = env
		c.WaitDelay = 5 * time.Second
	}
	dump.Stderr, restore.Stderr = &dumpErr, &restoreErr
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	dump.Stdout, restore.Stdin = w, r
	if err := restore.Start(); err != nil {
		_ = r.Close() // best-effort cleanup; nothing useful to do on failure
		_ = w.Close() // best-effort cleanup; nothing useful to do on failure
		return fmt.Errorf("start %s: %w", t.restore, err)
	}
	_ = r.Close() // best-effort cleanup; nothing useful to do on failure
	if err := dump.Start(); err != nil {
		_ = w.Close() // best-effort cleanup; nothing useful to do on failure
		_ = restore.Wait()
		return fmt.Errorf("start %s: %w", t.dump, err)
	}
	_ = w.Close() // best-effort cleanup; nothing useful to do on failure
	derr := dump.Wait()
	rerr := restore.Wait()
	switch {
	case derr != nil:
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "pg_dump of database %s failed (%v): %s", src, derr, dumpErr.String())
	case rerr != nil:
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "pg_restore into snapshot database %s failed (%v): %s", snap, rerr, restoreErr.String())
	}
	return nil
}

// libpqEnv is the environment in which pg_dump and pg_restore reach the
// server as user: host, port and TLS settings of the admin URL, the password
// in PGPASSWORD (not on a command line, where other users could read it),
// and no other PG* variable of ours that could redirect them.
func (m *Manager) libpqEnv(user, password string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	cc := m.pool.Config().ConnConfig
	env = append(env,
		"PGHOST="+cc.Host,
		"PGPORT="+strconv.Itoa(int(cc.Port)),
		"PGUSER="+user,
		"PGPASSWORD="+password,
		"PGAPPNAME=spacepods-snapshot",
		"PGCONNECT_TIMEOUT=10",
		"PGPASSFILE="+os.DevNull,
	)
	for k, v := range m.tls {
		env = append(env, k+"="+v)
	}
	return env
}

// libpqTLSKeys maps the connection settings that pg_dump must share with
// the admin connection to libpq's environment variables.
var libpqTLSKeys = map[string]string{
	"sslmode":     "PGSSLMODE",
	"sslrootcert": "PGSSLROOTCERT",
	"sslcert":     "PGSSLCERT",
	"sslkey":      "PGSSLKEY",
	"sslcrl":      "PGSSLCRL",
	"sslsni":      "PGSSLSNI",
}

// tlsSettings returns the TLS settings of a postgres:// URL or keyword/value
// connection string as libpq environment variables.
func tlsSettings(conn string) map[string]string {
	out := map[string]string{}
	if u, err := url.Parse(conn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		for k, vs := range u.Query() {
			if env, ok := libpqTLSKeys[k]; ok && len(vs) > 0 {
				out[env] = vs[len(vs)-1]
			}
		}
		return out
	}
	for k, v := range keywordValues(conn) {
		if env, ok := libpqTLSKeys[k]; ok {
			out[env] = v
		}
	}
	return out
}

// keywordValues parses a libpq keyword/value connection string
// (host=db port=5432 password='a b\'c'); a key given twice keeps its last
// value, as in libpq.
func keywordValues(s string) map[string]string {
	out := map[string]string{}
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return out
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		key := s[start:i]
		skip()
		if i >= len(s) || s[i] != '=' {
			return out // malformed: pgx rejected it already
		}
		i++
		skip()
		var v strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for i < len(s) && s[i] != '\'' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				v.WriteByte(s[i])
				i++
			}
			i++
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				v.WriteByte(s[i])
				i++
			}
		}
		out[key] = v.String()
	}
}

// tailBuffer keeps the last 4 KiB written to it: the end of a tool's error
// output, where its reason is.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	const keep = 4 << 10
	t.b = append(t.b, p...)
	if len(t.b) > keep {
		t.b = t.b[len(t.b)-keep:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	s := string(bytes.TrimSpace(t.b))
	if s == "" {
		return "(no output)"
	}
	return s
}
