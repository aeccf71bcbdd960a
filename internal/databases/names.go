package databases

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Naming. Every database and role Spacepods makes starts with "sp_" and
// carries a COMMENT holding a JSON marker, so that List can tell ours from
// anything else on a shared server.
//
//	environment database and its login role  sp_<env>__<app>
//	snapshot (a template database)           sp_snap_<name>
//
// '-' becomes '_'. Env, app and snapshot names are DNS labels, which never
// start or end with '-', so "__" appears in a plain database name only as the
// separator and a plain snapshot name never holds "__". A name that would be
// ambiguous (its parts hold "--") or longer than PostgreSQL's 63-byte
// identifier limit is shortened to a readable prefix + "___" + 12 hex digits
// of a SHA-256 of the full names; "___" never occurs in a plain name, so the
// two forms cannot collide.
const (
	prefix         = "sp_"
	snapshotPrefix = "sp_snap_"
	maxIdentifier  = 63 // PostgreSQL's NAMEDATALEN-1
	hashDigits     = 12

	// snapshotOwner owns the objects inside every snapshot, so that the
	// source environment's role can be dropped while its snapshots live on
	// and a clone can hand everything to its own role in one statement.
	snapshotOwner = "sp_snapshot_owner"

	markerPrefix = "spacepods:"
)

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// validLabel reports whether s is a DNS label: 1-63 lowercase letters, digits
// and '-', not starting or ending with '-'.
func validLabel(s string) bool { return labelRE.MatchString(s) }

func validateEnvApp(env, app string) error {
	if !validLabel(env) {
		return spacepods.Errorf(spacepods.EINVALID, "environment name %q: use 1-63 lowercase letters, digits and '-' (a DNS label)", env)
	}
	if !validLabel(app) {
		return spacepods.Errorf(spacepods.EINVALID, "app name %q: use 1-63 lowercase letters, digits and '-' (a DNS label)", app)
	}
	return nil
}

func validateSnapshotName(name string) error {
	if !validLabel(name) {
		return spacepods.Errorf(spacepods.EINVALID, "snapshot name %q: use 1-63 lowercase letters, digits and '-' (a DNS label, e.g. \"before-migration\")", name)
	}
	return nil
}

// DatabaseName returns the name of the database (and of its login role) that
// Spacepods makes for app in env. It is deterministic and at most 63 bytes.
func DatabaseName(env, app string) string {
	plain := prefix + underscore(env) + "__" + underscore(app)
	if len(plain) <= maxIdentifier && !strings.Contains(env, "--") && !strings.Contains(app, "--") {
		return plain
	}
	return shorten(plain, "database\x00"+env+"\x00"+app)
}

// SnapshotDatabaseName returns the name of the template database that holds
// the snapshot called name.
func SnapshotDatabaseName(name string) string {
	plain := snapshotPrefix + underscore(name)
	if len(plain) <= maxIdentifier && !strings.Contains(name, "--") {
		return plain
	}
	return shorten(plain, "snapshot\x00"+name)
}

func underscore(s string) string { return strings.ReplaceAll(s, "-", "_") }

// shorten keeps as much of plain as fits before "___" and the hash of key.
func shorten(plain, key string) string {
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])[:hashDigits]
	keep := maxIdentifier - len("___") - hashDigits
	if keep > len(plain) {
		keep = len(plain)
	}
	return plain[:keep] + "___" + h
}

// derivePassword returns the password of the role that owns database name:
// 128 bits of HMAC-SHA256(key, name) in hex. No state is kept, so any
// Manager opened with the same key returns the same URL for a database.
func derivePassword(key []byte, name string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("spacepods/database-password/v1\x00" + name))
	return hex.EncodeToString(mac.Sum(nil))[:32]
}

// Marker kinds and states.
const (
	kindDatabase = "database"
	kindSnapshot = "snapshot"
	kindInternal = "internal"

	stateCreating = "creating"
	stateReady    = "ready"
)

// marker is what COMMENT ON DATABASE / ROLE holds for everything Spacepods
// makes.
type marker struct {
	Kind  string `json:"kind"`
	Env   string `json:"env,omitempty"`
	App   string `json:"app,omitempty"`
	State string `json:"state,omitempty"`
	Inst  string `json:"inst,omitempty"` // the installation that made it
	// Snapshots only.
	Name    string    `json:"name,omitempty"`
	Created time.Time `json:"created,omitzero"`
}

func (mk marker) String() string {
	b, _ := json.Marshal(mk)
	return markerPrefix + string(b)
}

// parseMarker returns the marker in a comment and whether there was one.
func parseMarker(comment string) (marker, bool) {
	rest, ok := strings.CutPrefix(comment, markerPrefix)
	if !ok {
		return marker{}, false
	}
	var mk marker
	if err := json.Unmarshal([]byte(rest), &mk); err != nil || mk.Kind == "" {
		return marker{}, false
	}
	return mk, true
}

// quoteLiteral quotes s as an SQL string literal for the utility statements
// (COMMENT, CREATE ROLE … PASSWORD) that take no parameters. It relies on
// standard_conforming_strings, on by default since PostgreSQL 9.1 and checked
// by Open.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
