package databases

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestDatabaseName_DeterministicSafeAndDistinct(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		name     string
		env, app string
		want     string // "" = only check the properties
	}{
		{name: "plain", env: "qa", app: "web", want: "sp_qa__web"},
		{name: "dashes", env: "pr-123", app: "catalog-api", want: "sp_pr_123__catalog_api"},
		{name: "long env", env: long, app: "web"},
		{name: "long both", env: long, app: long},
		{name: "long both differ in last char", env: long, app: long[:62] + "b"},
		{name: "double dash env", env: "a--b", app: "c"},
		{name: "double dash app", env: "a", app: "b--c"},
		{name: "plain lookalike", env: "a", app: "b-c"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DatabaseName(tt.env, tt.app)
			if tt.want != "" && got != tt.want {
				t.Errorf("DatabaseName = %q, want %q", got, tt.want)
			}
			if got != DatabaseName(tt.env, tt.app) {
				t.Error("not deterministic")
			}
			if len(got) > maxIdentifier || !strings.HasPrefix(got, "sp_") {
				t.Errorf("%q: longer than 63 bytes or lacks the sp_ prefix", got)
			}
			if other, ok := seen[got]; ok {
				t.Errorf("%q is also the name for %s", got, other)
			}
			seen[got] = tt.env + "/" + tt.app
		})
	}
	// "a--b"/"c" and "a"/"b--c" would both be sp_a__b__c unshortened.
	if DatabaseName("a--b", "c") == DatabaseName("a", "b--c") {
		t.Error("ambiguous names collide")
	}
}

func TestSnapshotDatabaseName_NeverCollidesWithEnvironmentDatabases(t *testing.T) {
	tests := []struct {
		name, snapshot, env, app string
	}{
		{name: "snap env", snapshot: "a--b", env: "snap-a", app: "b"},
		{name: "long", snapshot: strings.Repeat("s", 63), env: "snap", app: strings.Repeat("s", 63)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := SnapshotDatabaseName(tt.snapshot)
			if len(s) > maxIdentifier || !strings.HasPrefix(s, "sp_snap_") {
				t.Errorf("snapshot database %q: too long or lacks sp_snap_", s)
			}
			if d := DatabaseName(tt.env, tt.app); d == s {
				t.Errorf("snapshot %q and database %s/%s share the name %q", tt.snapshot, tt.env, tt.app, s)
			}
		})
	}
	if got := SnapshotDatabaseName("before-migration"); got != "sp_snap_before_migration" {
		t.Errorf("SnapshotDatabaseName = %q", got)
	}
}

func TestValidateEnvApp_RejectsNonLabels(t *testing.T) {
	for _, bad := range []string{"", "Web", "-web", "web-", "web_api", "web.api", strings.Repeat("a", 64), "wéb"} {
		if err := validateEnvApp("qa", bad); spacepods.ErrorCode(err) != spacepods.EINVALID {
			t.Errorf("app %q: err = %v, want EINVALID", bad, err)
		}
	}
	if err := validateEnvApp("pr-1", "catalog-api"); err != nil {
		t.Errorf("valid names rejected: %v", err)
	}
}

func TestDerivePassword_StablePerKeyAndName(t *testing.T) {
	a := derivePassword([]byte("k1"), "sp_qa__web")
	if a != derivePassword([]byte("k1"), "sp_qa__web") || len(a) != 32 {
		t.Fatalf("password %q not stable or not 32 hex digits", a)
	}
	if a == derivePassword([]byte("k2"), "sp_qa__web") || a == derivePassword([]byte("k1"), "sp_qa__api") {
		t.Error("password does not depend on key and name")
	}
}

func TestMarker_RoundTrips(t *testing.T) {
	mk := marker{Kind: kindDatabase, Env: "qa", App: "web", State: stateReady}
	got, ok := parseMarker(mk.String())
	if !ok || got != mk {
		t.Fatalf("parseMarker(%q) = %+v, %v", mk.String(), got, ok)
	}
	for _, c := range []string{"", "hello", "spacepods:", "spacepods:{}", "spacepods:{bad"} {
		if _, ok := parseMarker(c); ok {
			t.Errorf("parseMarker(%q) accepted", c)
		}
	}
}

func TestDatabase_URLAndLogsHidePasswordOnlyFromLogs(t *testing.T) {
	db := Database{Env: "qa", App: "web", Name: "sp_qa__web", User: "sp_qa__web", Password: "s3cret", Host: "127.0.0.1", Port: 5432}
	if got, want := db.URL("172.17.0.1"), "postgres://sp_qa__web:s3cret@172.17.0.1:5432/sp_qa__web?sslmode=disable"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	if got := db.URL("::1"); !strings.Contains(got, "@[::1]:5432/") {
		t.Errorf("IPv6 URL = %q", got)
	}
	if got := db.URL(""); !strings.Contains(got, "@127.0.0.1:5432/") {
		t.Errorf("URL(\"\") = %q, want the database's host", got)
	}
	var b strings.Builder
	logger := testLoggerTo(&b)
	logger.Info("x", "db", db)
	for _, s := range []string{db.String(), b.String()} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("password leaked: %s", s)
		}
	}
}

func TestStatementStarts_SkipsQuotesCommentsAndBodies(t *testing.T) {
	sql := "-- header; not a statement\n" +
		"CREATE TABLE t (s text DEFAULT 'a;b');\n" +
		"/* block; /* nested; */ still */ ;\n" +
		"CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n" +
		"INSERT INTO \"we;ird\" VALUES (E'x\\';y', $1)  ;;\n" +
		"SELECT 1"
	starts := statementStarts(sql)
	var lines []int
	for _, s := range starts {
		l, _ := lineCol(sql, s)
		lines = append(lines, l)
	}
	if want := []int{2, 4, 5, 6}; len(lines) != len(want) || lines[0] != 2 || lines[1] != 4 || lines[2] != 5 || lines[3] != 6 {
		t.Errorf("statements start on lines %v, want %v", lines, want)
	}
}

func TestSeedError_PointsAtLineAndColumn(t *testing.T) {
	seed := "CREATE TABLE a (id int);\n-- é\nINSERT INTO a VALUES (1);\nINSERT INTO nope VALUES (1);\n"
	// PostgreSQL counts positions in characters; "nope" is the 45th+... here.
	pos := strings.Index(seed, "nope")
	chars := len([]rune(seed[:pos])) + 1
	err := seedError(seed, 2, &pgconn.PgError{Code: "42P01", Message: `relation "nope" does not exist`, Position: int32(chars)})
	wantCode(t, err, spacepods.EINVALID)
	if msg := spacepods.ErrorMessage(err); !strings.Contains(msg, "line 4, column 13") || !strings.Contains(msg, `relation "nope" does not exist`) {
		t.Errorf("message = %q", msg)
	}
	err = seedError(seed, 2, &pgconn.PgError{Code: "23505", Message: "duplicate key", Detail: "Key (id)=(1) already exists."})
	if msg := spacepods.ErrorMessage(err); !strings.Contains(msg, "statement 3, starting at line 4") || !strings.Contains(msg, "Key (id)=(1)") {
		t.Errorf("message = %q", msg)
	}
	if err := seedError(seed, 0, errors.New("conn closed")); spacepods.ErrorCode(err) != spacepods.EINTERNAL {
		t.Errorf("non-PostgreSQL error became %v", err)
	}
}
