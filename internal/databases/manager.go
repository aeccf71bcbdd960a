package databases

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Manager creates, snapshots, clones and drops environment databases through
// an admin connection to one PostgreSQL server. It is safe for concurrent use,
// also by several processes: operations on one database take a PostgreSQL
// advisory lock.
type Manager struct {
	pool      *pgxpool.Pool
	logger    *slog.Logger
	key       []byte
	host      string
	port      int
	sslMode   string
	superuser bool
	version   int               // server_version_num, e.g. 150018
	tls       map[string]string // the admin URL's TLS settings as libpq variables, for pg_dump
	toolsMu   sync.Mutex
	tools     dumpTools // found on first use
	// installation is put in the marker of every database and role and
	// narrows List and ownership to them; "" = any installation's.
	installation string
}

// Option configures Open.
type Option func(*options)

type options struct {
	secret       []byte
	installation string
}

// WithSecret sets the key from which the password of every database's role is
// derived (HMAC-SHA256 of the key and the database name). Keep it stable and
// secret: a Manager opened with another key returns URLs whose passwords no
// longer match, until Create is called again for each database (Create
// re-sets the role's password). Without it the key is derived from the admin
// URL's password, which grants more than the derived passwords anyway.
func WithSecret(key []byte) Option {
	return func(o *options) { o.secret = append([]byte(nil), key...) }
}

// WithInstallation marks what the manager makes as this installation's, and
// makes it see only those: installations sharing a PostgreSQL server do not
// take each other's databases for leaks.
func WithInstallation(id string) Option {
	return func(o *options) { o.installation = id }
}

// adminSearchPath is the search_path of every admin session.
const adminSearchPath = "pg_catalog, pg_temp"

// lockClass is the first key of every advisory lock the package takes
// ("SPDB"), so that they do not collide with other users' locks.
const lockClass = 0x53504442

// Open connects to the PostgreSQL server at adminURL, whose user must be a
// superuser or have CREATEDB and CREATEROLE. It returns EINVALID for a bad URL
// or role and EUNAVAILABLE when the server cannot be reached or refuses the
// login.
func Open(ctx context.Context, adminURL string, logger *slog.Logger, opts ...Option) (*Manager, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(adminURL)
	if err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "PostgreSQL admin URL: %v", err)
	}
	cfg.MaxConns = 8
	// Admin sessions resolve names in pg_catalog only (pg_temp last, and
	// never for functions), so that no object a pod's role planted in a
	// schema such as public is ever run with the admin's privileges. The
	// SQL qualifies catalog functions as well; this covers operators and
	// whatever pgx itself runs. Connections as a pod's role drop it.
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = adminSearchPath
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	key := o.secret
	if len(key) == 0 {
		if cfg.ConnConfig.Password == "" {
			return nil, spacepods.Errorf(spacepods.EINVALID, "the PostgreSQL admin URL has no password to derive database passwords from: give a secret key (databases.WithSecret)")
		}
		sum := sha256.Sum256([]byte("spacepods/database-key/v1\x00" + cfg.ConnConfig.Password))
		key = sum[:]
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "PostgreSQL admin URL: %v", err)
	}
	m := &Manager{
		pool:    pool,
		logger:  logger.With("component", "databases"),
		key:     key,
		host:    cfg.ConnConfig.Host,
		port:    int(cfg.ConnConfig.Port),
		sslMode: sslModeOf(adminURL),
		tls:     tlsSettings(adminURL),

		installation: o.installation,
	}
	if strings.HasPrefix(m.host, "/") { // a Unix socket; containers need TCP
		m.host = "127.0.0.1"
	}
	if err := m.check(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := m.closeSharedDatabases(ctx); err != nil {
		pool.Close()
		return nil, m.fail("revoke CONNECT on the shared databases", err)
	}
	return m, nil
}

// sharedDatabases are the databases every PostgreSQL server has, into which
// PUBLIC may connect by default. A pod's role has no business there: in
// postgres it could plant objects (on PostgreSQL 14 and older PUBLIC may
// create in its public schema) where admin sessions run.
var sharedDatabases = []string{"postgres", "template1", "template0"}

// closeSharedDatabases revokes CONNECT on the shared databases from PUBLIC
// (superusers and the databases' owners keep it). It is idempotent and only
// logs when it changes something, or when the admin may not change it.
// Managers opening at once take turns: concurrent GRANT/REVOKE on one
// database fail ("tuple concurrently updated").
func (m *Manager) closeSharedDatabases(ctx context.Context) error {
	var open, still []string
	err := pgx.BeginFunc(ctx, m.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_catalog.pg_advisory_xact_lock($1, $2)", int32(lockClass), int32(sharedLock)); err != nil {
			return err
		}
		var err error
		if open, err = publicConnect(ctx, tx); err != nil || len(open) == 0 {
			return err
		}
		for _, db := range open {
			if _, err := tx.Exec(ctx, "REVOKE CONNECT ON DATABASE "+ident(db)+" FROM PUBLIC"); err != nil {
				return err
			}
		}
		still, err = publicConnect(ctx, tx)
		return err
	})
	switch {
	case err != nil:
		return err
	case len(still) > 0: // a non-superuser admin may not revoke (PostgreSQL only warns)
		m.logger.Warn("every role may still connect to these databases, where a pod's role could plant objects: as a superuser run REVOKE CONNECT ON DATABASE … FROM PUBLIC for each", "databases", still)
	case len(open) > 0:
		m.logger.Info("revoked CONNECT from PUBLIC so that pods' roles cannot reach them; GRANT CONNECT to roles that need them", "databases", open)
	}
	return nil
}

// sharedLock is the advisory lock under which closeSharedDatabases runs.
const sharedLock = 0x53484152 // "SHAR"

// publicConnect returns the shared databases PUBLIC may connect to.
func publicConnect(ctx context.Context, q pgx.Tx) ([]string, error) {
	rows, err := q.Query(ctx, `
		SELECT d.datname FROM pg_catalog.pg_database d
		WHERE d.datname = ANY ($1::pg_catalog.name[])
		  AND pg_catalog.has_database_privilege('public', d.oid, 'CONNECT')
		ORDER BY 1`, sharedDatabases)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// check makes sure the server answers, is new enough and lets the admin role
// do what the Manager needs.
func (m *Manager) check(ctx context.Context) error {
	var (
		version          int
		scs              string
		user             string
		super, cdb, crol bool
	)
	err := m.pool.QueryRow(ctx, `
		SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4, pg_catalog.current_setting('standard_conforming_strings'),
		       r.rolname, r.rolsuper, r.rolcreatedb, r.rolcreaterole
		FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`).Scan(&version, &scs, &user, &super, &cdb, &crol)
	if err != nil {
		return m.fail("connect", err)
	}
	switch {
	case version < 130000:
		return spacepods.Errorf(spacepods.EINVALID, "PostgreSQL at %s is version %d; Spacepods needs 13 or newer", m.addr(), version/10000)
	case scs != "on":
		return spacepods.Errorf(spacepods.EINVALID, "PostgreSQL at %s has standard_conforming_strings off; turn it on", m.addr())
	case !super && !(cdb && crol):
		return spacepods.Errorf(spacepods.EINVALID, "PostgreSQL role %q cannot create databases and roles: use a superuser or a role WITH CREATEDB CREATEROLE in the admin URL", user)
	}
	m.superuser, m.version = super, version
	m.logger.Debug("connected to PostgreSQL", "addr", m.addr(), "version", version, "user", user, "superuser", super)
	return nil
}

// Close closes the admin connections.
func (m *Manager) Close() { m.pool.Close() }

func (m *Manager) addr() string { return net.JoinHostPort(m.host, fmt.Sprint(m.port)) }

// sslModeOf returns the sslmode named in a URL or keyword/value connection
// string, "disable" when there is none.
func sslModeOf(conn string) string {
	if u, err := url.Parse(conn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if v := u.Query().Get("sslmode"); v != "" {
			return v
		}
		return "disable"
	}
	for _, f := range strings.Fields(conn) {
		if v, ok := strings.CutPrefix(f, "sslmode="); ok {
			return strings.Trim(v, "'")
		}
	}
	return "disable"
}

// fail turns err into the package's vocabulary: an outage becomes
// EUNAVAILABLE with what to do, an *spacepods.Error stays, anything else is
// wrapped with op.
func (m *Manager) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *spacepods.Error
	if errors.As(err, &se) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "PostgreSQL at %s refused the login (%s): check the user and password in the admin URL and pg_hba.conf", m.addr(), pgErr.Message)
	}
	if unavailable(err) {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "PostgreSQL at %s cannot be reached (%s: %v): start it or fix the admin URL, then retry", m.addr(), op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable reports whether err means the server is down or unreachable
// rather than that a statement failed.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300": // shutting down, crashed, starting, too many connections
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08") // connection exceptions
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// lock takes a connection from the pool and an advisory lock on each name on
// it, so that operations on one database (or snapshot) run one at a time
// across all processes. The returned func unlocks and gives the connection
// back.
func (m *Manager) lock(ctx context.Context, names ...string) (*pgxpool.Conn, func(), error) {
	conn, err := m.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	release := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_advisory_unlock_all()"); err != nil {
			_ = conn.Conn().Close(ctx) // a closed session holds no locks
		}
		conn.Release()
	}
	for _, name := range names {
		h := fnv.New32a()
		h.Write([]byte(name))
		if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_advisory_lock($1, $2)", int32(lockClass), int32(h.Sum32())); err != nil { //nolint:gosec // hash bits reinterpreted as the advisory-lock key; wrap-around is intended
			release()
			return nil, nil, err
		}
	}
	return conn, release, nil
}

// alive returns conn, or the pool when conn was closed (a cancelled context
// closes it), so that clean-up still runs. The advisory lock went with the
// closed connection.
func (m *Manager) alive(conn *pgxpool.Conn) querier {
	if conn.Conn().IsClosed() {
		return m.pool
	}
	return conn
}

// querier is what both a pooled connection and the pool offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// found is what the server holds under one name: the comments of the
// database and of the role of that name, nil where there is none.
type found struct {
	db, role  *string
	allowConn bool // whether the database takes connections
}

func inspect(ctx context.Context, q querier, name string) (found, error) {
	var f found
	var allow *bool
	err := q.QueryRow(ctx, `
		SELECT (SELECT coalesce(pg_catalog.shobj_description(oid, 'pg_database'), '') FROM pg_catalog.pg_database WHERE datname = $1),
		       (SELECT coalesce(pg_catalog.shobj_description(oid, 'pg_authid'), '') FROM pg_catalog.pg_roles WHERE rolname = $1),
		       (SELECT datallowconn FROM pg_catalog.pg_database WHERE datname = $1)`,
		name).Scan(&f.db, &f.role, &allow)
	f.allowConn = allow != nil && *allow
	return f, err
}

// ownedBy reports whether comment marks an object made for env/app by this
// installation (objects of another installation sharing the server are not
// ours; with no installation set, every installation's are).
func (m *Manager) ownedBy(comment *string, env, app string) (marker, bool) {
	if comment == nil {
		return marker{}, false
	}
	mk, ok := parseMarker(*comment)
	return mk, ok && mk.Kind == kindDatabase && mk.Env == env && mk.App == app && m.mine(mk)
}

// mine reports whether a marker belongs to this installation.
func (m *Manager) mine(mk marker) bool { return m.installation == "" || mk.Inst == m.installation }

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func (m *Manager) database(env, app, name string, status Status) Database {
	return Database{
		Env: env, App: app, Name: name, User: name,
		Password: derivePassword(m.key, name),
		Host:     m.host, Port: m.port, SSLMode: m.sslMode,
		Status: status,
	}
}

// connect opens a connection to database dbname as the admin, or as user
// when user is set. A user's session gets the server's default search_path,
// as the app's own connections do.
func (m *Manager) connect(ctx context.Context, dbname, user, password string) (*pgx.Conn, error) {
	cc := m.pool.Config().ConnConfig.Copy()
	cc.Database = dbname
	if user != "" {
		cc.User, cc.Password = user, password
		delete(cc.RuntimeParams, "search_path")
	}
	return pgx.ConnectConfig(ctx, cc)
}

// Create makes the database of app in env and its login role (owner of the
// database, the only role besides superusers that may connect to it) and
// returns it. The database starts empty, from src.Seed or as a clone of
// snapshot src.Snapshot. If the database exists already Create returns it,
// re-setting the role's password, and ignores src. Errors: EINVALID for bad
// names or a failing seed (nothing is left behind), ENOTFOUND for a missing
// snapshot, ECONFLICT when a database or role of that name exists that
// Spacepods did not make for env/app, EUNAVAILABLE.
func (m *Manager) Create(ctx context.Context, env, app string, src Source) (Database, error) {
	if err := validateEnvApp(env, app); err != nil {
		return Database{}, err
	}
	if err := src.validate(); err != nil {
		return Database{}, err
	}
	db, err := m.create(ctx, env, app, src)
	return db, m.fail("create database", err)
}

func (m *Manager) create(ctx context.Context, env, app string, src Source) (Database, error) {
	name := DatabaseName(env, app)
	log := m.logger.With("env", env, "app", app, "database", name)
	conn, release, err := m.lock(ctx, name)
	if err != nil {
		return Database{}, err
	}
	defer release()

	f, err := inspect(ctx, conn, name)
	if err != nil {
		return Database{}, err
	}
	_, roleOurs := m.ownedBy(f.role, env, app)
	if f.role != nil && !roleOurs {
		return Database{}, spacepods.Errorf(spacepods.ECONFLICT, "a PostgreSQL role %q exists that Spacepods did not make for app %q in environment %q: drop or rename it", name, app, env)
	}
	if f.db != nil {
		mk, dbOurs := m.ownedBy(f.db, env, app)
		switch {
		case dbOurs && mk.State == stateReady:
			if err := m.ensureRole(ctx, conn, name, env, app, f.role != nil); err != nil {
				return Database{}, err
			}
			if f.role == nil { // the role was dropped by hand; give the database back to it
				if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(name)+" OWNER TO "+ident(name)); err != nil {
					return Database{}, err
				}
			}
			if err := restrictConnect(ctx, conn, name); err != nil { // made by an older version, or changed by hand
				return Database{}, err
			}
			if !f.allowConn { // an older version's Snapshot died while the database was closed
				log.Warn("opening a database a failed snapshot left closed to connections")
				if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(name)+" WITH ALLOW_CONNECTIONS true"); err != nil {
					return Database{}, err
				}
			}
			log.Debug("database exists already")
			return m.database(env, app, name, StatusReady), nil
		case dbOurs || (*f.db == "" && roleOurs):
			log.Warn("dropping a half-made database left by an earlier failed create")
			if err := dropDatabase(ctx, conn, name); err != nil {
				return Database{}, err
			}
		default:
			return Database{}, spacepods.Errorf(spacepods.ECONFLICT, "a PostgreSQL database %q exists that Spacepods did not make for app %q in environment %q: drop or rename it", name, app, env)
		}
	}

	var template string
	if src.Snapshot != "" {
		template = SnapshotDatabaseName(src.Snapshot)
		if err := shareSnapshotOwner(ctx, conn); err != nil {
			return Database{}, err
		}
		sf, err := inspect(ctx, conn, template)
		if err != nil {
			return Database{}, err
		}
		if mk, ok := parseSnapshotMarker(sf.db); !ok || mk.State != stateReady || mk.Name != src.Snapshot {
			return Database{}, spacepods.Errorf(spacepods.ENOTFOUND, "snapshot %q not found: list the snapshots that exist, or take one of an environment's database first", src.Snapshot)
		}
	}

	start := time.Now()
	if err := m.ensureRole(ctx, conn, name, env, app, f.role != nil); err != nil {
		return Database{}, err
	}
	created := false
	undo := func(cause error) (Database, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		q := m.alive(conn)
		if created {
			if err := dropDatabase(ctx, q, name); err != nil {
				log.Error("could not drop the half-made database", "err", err)
			}
		}
		if _, err := q.Exec(ctx, "DROP ROLE IF EXISTS "+ident(name)); err != nil {
			log.Error("could not drop the role of the half-made database", "err", err)
		}
		return Database{}, cause
	}

	stmt := "CREATE DATABASE " + ident(name) + " OWNER " + ident(name)
	if template != "" {
		stmt += " TEMPLATE " + ident(template)
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		var pgErr *pgconn.PgError
		if template != "" && errors.As(err, &pgErr) && pgErr.Code == "3D000" {
			err = spacepods.Errorf(spacepods.ENOTFOUND, "snapshot %q not found: it was dropped meanwhile", src.Snapshot)
		}
		return undo(err)
	}
	created = true
	mk := marker{Kind: kindDatabase, Env: env, App: app, State: stateCreating, Inst: m.installation}
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+ident(name)+" IS "+quoteLiteral(mk.String())); err != nil {
		return undo(err)
	}
	if err := restrictConnect(ctx, conn, name); err != nil {
		return undo(err)
	}
	if template != "" {
		if err := m.adoptClone(ctx, name); err != nil {
			return undo(fmt.Errorf("hand the clone to its role: %w", err))
		}
	}
	if src.Seed != "" {
		if err := m.seed(ctx, name, src.Seed); err != nil {
			return undo(err)
		}
	}
	mk.State = stateReady
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+ident(name)+" IS "+quoteLiteral(mk.String())); err != nil {
		return undo(err)
	}
	log.Info("created database", "source", src.kind(), "snapshot", src.Snapshot, "took", time.Since(start).Round(time.Millisecond))
	return m.database(env, app, name, StatusReady), nil
}

// restrictConnect makes the role of the same name (the owner) the only one
// besides superusers that may connect to database name: no environment can
// reach another's data.
func restrictConnect(ctx context.Context, q querier, name string) error {
	if _, err := q.Exec(ctx, "REVOKE ALL ON DATABASE "+ident(name)+" FROM PUBLIC"); err != nil {
		return err
	}
	_, err := q.Exec(ctx, "GRANT CONNECT, TEMPORARY ON DATABASE "+ident(name)+" TO "+ident(name))
	return err
}

// podRoleAttributes are the attributes of every pod's role, stated in full
// so that no default or earlier change gives a pod more.
const podRoleAttributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"

// ensureRole creates the login role name (or, if it exists, re-sets its
// password and attributes) with the derived password, sent as a SCRAM
// verifier.
func (m *Manager) ensureRole(ctx context.Context, conn *pgxpool.Conn, name, env, app string, exists bool) error {
	verifier, err := scramVerifier(derivePassword(m.key, name))
	if err != nil {
		return err
	}
	if exists {
		attrs := podRoleAttributes
		if !m.superuser { // PostgreSQL lets only superusers name SUPERUSER, REPLICATION or BYPASSRLS, even to deny them
			attrs = "LOGIN NOCREATEDB NOCREATEROLE"
		}
		if _, err := conn.Exec(ctx, "ALTER ROLE "+ident(name)+" WITH "+attrs+" PASSWORD "+quoteLiteral(verifier)); err != nil {
			return err
		}
	} else {
		mk := marker{Kind: kindDatabase, Env: env, App: app, Inst: m.installation}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "CREATE ROLE "+ident(name)+" WITH "+podRoleAttributes+" PASSWORD "+quoteLiteral(verifier)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "COMMENT ON ROLE "+ident(name)+" IS "+quoteLiteral(mk.String()))
			return err
		})
		if err != nil {
			return err
		}
	}
	return m.grantToAdmin(ctx, conn, name)
}

// grantToAdmin makes a non-superuser admin a member of role, which PostgreSQL
// requires to create databases owned by it and to reassign its objects.
func (m *Manager) grantToAdmin(ctx context.Context, q querier, role string) error {
	if m.superuser {
		return nil
	}
	_, err := q.Exec(ctx, "GRANT "+ident(role)+" TO CURRENT_USER")
	return err
}

// seed runs the seed SQL in database name as its owner, over the owner's own
// login so that the seed cannot take the admin's privileges.
func (m *Manager) seed(ctx context.Context, name, sql string) error {
	conn, err := m.connect(ctx, name, name, derivePassword(m.key, name))
	if err != nil {
		return fmt.Errorf("connect as %s to run the seed (pg_hba.conf must allow password logins): %w", name, err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }() // best-effort cleanup; nothing useful to do on failure
	return runSeed(ctx, conn, sql)
}

// adoptClone gives the objects of a database cloned from a snapshot (owned
// by the snapshot owner) to the clone's own role.
func (m *Manager) adoptClone(ctx context.Context, name string) error {
	conn, err := m.connect(ctx, name, "", "")
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }() // best-effort cleanup; nothing useful to do on failure
	_, err = conn.Exec(ctx, "REASSIGN OWNED BY "+ident(snapshotOwner)+" TO "+ident(name))
	return err
}

// dropDatabase drops a database, disconnecting its sessions.
func dropDatabase(ctx context.Context, q querier, name string) error {
	_, err := q.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
	return err
}

// Get returns the database of app in env with its credentials. ENOTFOUND
// when there is none (or it is half-made), EINVALID for bad names.
func (m *Manager) Get(ctx context.Context, env, app string) (Database, error) {
	if err := validateEnvApp(env, app); err != nil {
		return Database{}, err
	}
	name := DatabaseName(env, app)
	f, err := inspect(ctx, m.pool, name)
	if err != nil {
		return Database{}, m.fail("get database", err)
	}
	mk, ok := m.ownedBy(f.db, env, app)
	if !ok || mk.State != stateReady {
		return Database{}, spacepods.Errorf(spacepods.ENOTFOUND, "no database for app %q in environment %q", app, env)
	}
	if _, ok := m.ownedBy(f.role, env, app); !ok {
		return Database{}, spacepods.Errorf(spacepods.ENOTFOUND, "the database of app %q in environment %q has lost its login role: create it again to repair it", app, env)
	}
	return m.database(env, app, name, StatusReady), nil
}

// Drop disconnects everyone from the database of app in env and drops it and
// its role. Dropping what does not exist is no error. ECONFLICT when the name
// is taken by something Spacepods did not make for env/app.
func (m *Manager) Drop(ctx context.Context, env, app string) error {
	if err := validateEnvApp(env, app); err != nil {
		return err
	}
	return m.fail("drop database", m.drop(ctx, env, app))
}

func (m *Manager) drop(ctx context.Context, env, app string) error {
	name := DatabaseName(env, app)
	conn, release, err := m.lock(ctx, name)
	if err != nil {
		return err
	}
	defer release()
	f, err := inspect(ctx, conn, name)
	if err != nil {
		return err
	}
	_, roleOurs := m.ownedBy(f.role, env, app)
	if f.db != nil {
		if _, dbOurs := m.ownedBy(f.db, env, app); !dbOurs && !(*f.db == "" && roleOurs) {
			return spacepods.Errorf(spacepods.ECONFLICT, "refusing to drop database %q: Spacepods did not make it for app %q in environment %q", name, app, env)
		}
		if err := dropDatabase(ctx, conn, name); err != nil {
			return err
		}
	}
	if roleOurs {
		if err := m.dropHalfMadeSnapshots(ctx, conn, name); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(name)); err != nil {
			return fmt.Errorf("drop role %s (it may own objects elsewhere; REASSIGN OWNED them first): %w", name, err)
		}
	}
	if f.db != nil || roleOurs {
		m.logger.Info("dropped database", "env", env, "app", app, "database", name)
	}
	return nil
}

// dropHalfMadeSnapshots drops the snapshot databases role still owns: a
// Snapshot restores into a database owned by the source's role and gives it
// to the admin before it marks it ready, so these are what one that died
// left behind, and they would keep the role from being dropped. The caller holds the role's lock, which a running
// Snapshot of its database holds too.
func (m *Manager) dropHalfMadeSnapshots(ctx context.Context, q querier, role string) error {
	rows, err := q.Query(ctx, `
		SELECT datname, coalesce(pg_catalog.shobj_description(oid, 'pg_database'), '') FROM pg_catalog.pg_database
		WHERE datdba = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1) AND datname <> $1`, role)
	if err != nil {
		return err
	}
	var half []string
	var name, comment string
	_, err = pgx.ForEachRow(rows, []any{&name, &comment}, func() error {
		if mk, ok := parseSnapshotMarker(&comment); ok && mk.State != stateReady && SnapshotDatabaseName(mk.Name) == name {
			half = append(half, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, snap := range half {
		m.logger.Warn("dropping a half-made snapshot left by a failed snapshot", "database", snap, "owner", role)
		if err := dropSnapshotDatabase(ctx, q, snap); err != nil {
			return err
		}
	}
	return nil
}

// DropEnvironment drops every database and role Spacepods made for env,
// including half-made ones.
func (m *Manager) DropEnvironment(ctx context.Context, env string) error {
	if !validLabel(env) {
		return spacepods.Errorf(spacepods.EINVALID, "environment name %q: use 1-63 lowercase letters, digits and '-' (a DNS label)", env)
	}
	all, err := m.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range all {
		if d.Env == env {
			if err := m.Drop(ctx, d.Env, d.App); err != nil {
				errs = append(errs, fmt.Errorf("%s/%s: %w", d.Env, d.App, err))
			}
		}
	}
	return errors.Join(errs...)
}

// List returns every environment database and role Spacepods made on the
// server, found by their "sp_" name prefix and COMMENT marker, including
// half-made ones (see Status), sorted by env and app. A leak audit compares
// them with the live environments. Snapshots are listed by ListSnapshots.
func (m *Manager) List(ctx context.Context) ([]Database, error) {
	roles := map[string]marker{}
	rows, err := m.pool.Query(ctx, `
		SELECT rolname, coalesce(pg_catalog.shobj_description(oid, 'pg_authid'), '')
		FROM pg_catalog.pg_roles WHERE pg_catalog.left(rolname, 3) = 'sp_'`)
	if err != nil {
		return nil, m.fail("list roles", err)
	}
	var name, comment string
	_, err = pgx.ForEachRow(rows, []any{&name, &comment}, func() error {
		if mk, ok := parseMarker(comment); ok && mk.Kind == kindDatabase && DatabaseName(mk.Env, mk.App) == name && m.mine(mk) {
			roles[name] = mk
		}
		return nil
	})
	if err != nil {
		return nil, m.fail("list roles", err)
	}
	rows, err = m.pool.Query(ctx, `
		SELECT datname, coalesce(pg_catalog.shobj_description(oid, 'pg_database'), '')
		FROM pg_catalog.pg_database WHERE pg_catalog.left(datname, 3) = 'sp_'`)
	if err != nil {
		return nil, m.fail("list databases", err)
	}
	var out []Database
	seen := map[string]bool{}
	_, err = pgx.ForEachRow(rows, []any{&name, &comment}, func() error {
		mk, ok := parseMarker(comment)
		switch {
		case ok && mk.Kind == kindDatabase && DatabaseName(mk.Env, mk.App) == name && m.mine(mk):
			status := StatusReady
			if mk.State != stateReady {
				status = StatusIncomplete
			}
			out = append(out, m.database(mk.Env, mk.App, name, status))
		case comment == "" && roles[name].Kind != "": // created, not yet marked, when a Create died
			out = append(out, m.database(roles[name].Env, roles[name].App, name, StatusIncomplete))
		default:
			return nil
		}
		seen[name] = true
		return nil
	})
	if err != nil {
		return nil, m.fail("list databases", err)
	}
	for name, mk := range roles {
		if !seen[name] {
			out = append(out, m.database(mk.Env, mk.App, name, StatusRoleOnly))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Env != out[j].Env {
			return out[i].Env < out[j].Env
		}
		return out[i].App < out[j].App
	})
	return out, nil
}
