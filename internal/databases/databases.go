// Package databases plays RDS for Spacepods environments: it gives every
// (environment, app) its own PostgreSQL database and login role on one server,
// creates them empty, from seed SQL or as a clone of a snapshot, takes and
// drops snapshots, and finds everything it made so that leaks can be audited.
//
// Everything lives on the server; the package keeps no state of its own. Names
// are derived from env and app (see DatabaseName), each object carries a
// COMMENT marker, and a role's password is derived from a secret key and the
// database name (see WithSecret), so any Manager opened with the same admin
// URL and key finds and returns the same databases and URLs.
//
// The objects inside snapshots belong to a NOLOGIN role, sp_snapshot_owner,
// made with the first snapshot and dropped with the last; a clone hands them
// to its own role. PostgreSQL 13 or newer is required (DROP DATABASE … WITH
// (FORCE)), and for snapshots its pg_dump and pg_restore on this host.
//
// A pod's role is no threat to the server: it has no attributes (see
// podRoleAttributes), may connect to its own database only (Open takes
// CONNECT on postgres and template1 from PUBLIC), admin sessions run with
// search_path pg_catalog, pg_temp and qualified catalog calls, and what a
// pod put in its database runs as its own role only (seeds and snapshot
// copies log in as it).
//
// Cluster starts a local server in a directory when no admin URL is given.
package databases

import (
	"log/slog"
	"net"
	"net/url"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Source says what a new database starts from. The zero Source is an empty
// database; at most one of Seed and Snapshot may be set.
type Source struct {
	// Seed is SQL run in the new database, as its owner, in one transaction.
	Seed string
	// Snapshot names a snapshot (see Manager.Snapshot) to clone.
	Snapshot string
}

func (s Source) validate() error {
	if s.Seed != "" && s.Snapshot != "" {
		return spacepods.Errorf(spacepods.EINVALID, "a database starts from seed SQL or from a snapshot, not both")
	}
	if s.Snapshot != "" {
		return validateSnapshotName(s.Snapshot)
	}
	return nil
}

func (s Source) kind() string {
	switch {
	case s.Seed != "":
		return "seed"
	case s.Snapshot != "":
		return "snapshot"
	}
	return "empty"
}

// Status says whether a database is usable or something a crash left behind.
type Status string

// Statuses reported by List.
const (
	StatusReady      Status = "ready"      // created completely
	StatusIncomplete Status = "incomplete" // left half-made by a failed or interrupted Create
	StatusRoleOnly   Status = "role_only"  // the login role is left but its database is gone
)

// Database is one environment's database for one app and how to reach it.
// Its String and LogValue leave the password out; URL includes it.
type Database struct {
	Env      string
	App      string
	Name     string // database name, also the login role's name
	User     string
	Password string
	Host     string // the admin connection's host
	Port     int
	SSLMode  string // sslmode of the admin URL, "disable" when it named none
	Status   Status
}

// URL returns a postgres:// URL of the database as reached through host (for
// example the Docker network's gateway for containers, 127.0.0.1 for
// processes on the machine); an empty host means d.Host.
func (d Database) URL(host string) string {
	if host == "" {
		host = d.Host
	}
	mode := d.SSLMode
	if mode == "" {
		mode = "disable"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(d.User, d.Password),
		Host:     net.JoinHostPort(host, strconv.Itoa(d.Port)),
		Path:     "/" + d.Name,
		RawQuery: "sslmode=" + url.QueryEscape(mode),
	}
	return u.String()
}

// String describes d without its password.
func (d Database) String() string {
	return d.Name + " (user " + d.User + " at " + net.JoinHostPort(d.Host, strconv.Itoa(d.Port)) + ")"
}

// LogValue makes slog log d without its password.
func (d Database) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("env", d.Env),
		slog.String("app", d.App),
		slog.String("database", d.Name),
		slog.String("user", d.User),
		slog.String("status", string(d.Status)),
	)
}
