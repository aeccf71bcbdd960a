package rds

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// PasswordVar is the secret config var, in a master environment's scope,
// that holds the password of the master user of its app's RDS instance
// (spacepods config set APP --env MASTER --secret RDS_PASSWORD=…). A pod's
// instance restored from the master's snapshot keeps that user and
// password, so the pod's URL is made with it too.
const PasswordVar = "RDS_PASSWORD"

// DefaultMasterPattern names a master app's instance when no
// Masters.Instances entry does.
const DefaultMasterPattern = "{env}-{app}"

// Masters names the RDS instances of master environments' apps: instances
// the team made (by hand or with Terraform), which Spacepods reads,
// snapshots and never deletes.
type Masters struct {
	// Pattern with {env} and {app}; "" = DefaultMasterPattern.
	Pattern string
	// Instances overrides the pattern: "ENV/APP" → instance identifier.
	Instances map[string]string
}

// Instance is the identifier of env's app's instance.
func (m Masters) Instance(env, app string) string {
	if id, ok := m.Instances[env+"/"+app]; ok {
		return id
	}
	p := m.Pattern
	if p == "" {
		p = DefaultMasterPattern
	}
	return strings.NewReplacer("{env}", env, "{app}", app).Replace(p)
}

// Validate checks the overrides' keys and the pattern. EINVALID says what
// is wrong in the flags' words.
func (m Masters) Validate() error {
	if m.Pattern != "" && !strings.Contains(m.Pattern, "{app}") {
		return spacepods.Errorf(spacepods.EINVALID, "--rds-master-instance-pattern %q has no {app}: every app of a master would share one instance; write e.g. {env}-{app}", m.Pattern)
	}
	for k, v := range m.Instances {
		env, app, ok := strings.Cut(k, "/")
		if !ok || spacepods.ValidateEnvName(env) != nil || !spacepods.ValidName(app) || v == "" {
			return spacepods.Errorf(spacepods.EINVALID, "--rds-master-instance %s=%s: write ENV/APP=INSTANCE-ID, e.g. production/catalog-api=prod-catalog", k, v)
		}
	}
	return nil
}

// SecretReader reads secret values by ref (the server's secret store).
type SecretReader interface {
	Get(ctx context.Context, ref string) ([]byte, error)
}

// Databases keeps pods' databases in the dedicated-instance mode
// (spacepods server --databases rds-instance). It is the deploy engine's
// deploy.Databases and the pods service's pods.Dedicated:
//
//   - a master's app whose instance exists (Masters names it) uses that
//     instance: its URL is the instance's endpoint, master user and the
//     password in the secret var PasswordVar; `snapshot create` of it is
//     CreateDBSnapshot, recorded with kind rds in the store;
//   - a pod's app whose manifest names such a snapshot gets an instance of
//     its own restored from it, its status as the pod's events; destroying
//     the pod deletes it without a final snapshot;
//   - every other database (seeded, empty, a clone of a PostgreSQL
//     snapshot, a master app without an instance) is Shared's: a database
//     on the shared PostgreSQL server, as in the default mode.
type Databases struct {
	Client  *Client
	Shared  deploy.Databases
	Store   *store.Store
	Secrets SecretReader // nil: no secret store, so no instance URL
	Masters Masters
	// SnapshotTimeout bounds the wait on a CreateDBSnapshot; default 2 h.
	// The wait outlives the request that asked for it, so that the
	// snapshot's record says how it ended.
	SnapshotTimeout time.Duration

	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

// lock serialises the calls for one environment's app: the pods service
// and the deploy both ask for a pod's database, and only the first should
// restore (and report progress).
func (d *Databases) lock(key string) func() {
	d.mu.Lock()
	if d.locks == nil {
		d.locks = map[string]*keyLock{}
	}
	l := d.locks[key]
	if l == nil {
		l = &keyLock{}
		d.locks[key] = l
	}
	l.users++
	d.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		d.mu.Lock()
		if l.users--; l.users == 0 {
			delete(d.locks, key)
		}
		d.mu.Unlock()
	}
}

// Ensure returns the URL of env's app's database, restoring the pod's
// instance from an RDS snapshot on first use (see Databases).
func (d *Databases) Ensure(ctx context.Context, env, app string, spec spacepods.Database) (string, error) {
	defer d.lock(env + "/" + app)()
	e, err := d.Store.GetEnvironment(ctx, env)
	if err != nil {
		return "", err
	}
	var snap store.ExternalSnapshot
	fromRDS := false
	if spec.Snapshot != "" {
		x, ok, err := d.Store.GetExternalSnapshot(ctx, spec.Snapshot)
		if err != nil {
			return "", err
		}
		snap, fromRDS = x, ok && x.Kind == spacepods.SnapshotRDS
	}
	if e.Kind == spacepods.EnvMaster {
		in, ok, err := d.master(ctx, env, app)
		switch {
		case err != nil:
			return "", err
		case ok:
			return d.url(ctx, in, env, app)
		case fromRDS:
			return "", spacepods.Errorf(spacepods.EINVALID, "master %s has no RDS instance %s for %s, and Spacepods restores instances for pods only: make the master's instance (restore it from snapshot %s yourself if you like), or name another with --rds-master-instance", env, d.Masters.Instance(env, app), app, snap.Ref)
		}
		// Said each time: an operator who expected the instance learns
		// where the database went (--rds-master-instance names another).
		d.Client.cfg.Logger.Info("master app has no RDS instance: its database is on the shared server",
			"env", env, "app", app, "instance", d.Masters.Instance(env, app))
		return d.Shared.Ensure(ctx, env, app, spec)
	}
	if !fromRDS {
		return d.Shared.Ensure(ctx, env, app, spec)
	}
	switch snap.Status {
	case store.ExternalAvailable:
	case store.ExternalCreating:
		return "", spacepods.Errorf(spacepods.EUNAVAILABLE, "RDS snapshot %s is still being made: wait for `spacepods snapshot create` to finish (spacepods snapshot list), then retry", snap.Name)
	default:
		return "", spacepods.Errorf(spacepods.EINVALID, "RDS snapshot %s is %s: take it again (spacepods snapshot create) or name another in %s's manifest", snap.Name, snap.Status, app)
	}
	in, err := d.Client.Describe(ctx, InstanceID(env, app))
	if err != nil && !awsIsNotFound(err) {
		return "", err
	}
	if err != nil || in.Status != "available" {
		d.event(ctx, env, app, "restoring RDS instance "+InstanceID(env, app)+" from snapshot "+snap.Name+" ("+snap.Ref+")")
		if in, err = d.Client.Restore(ctx, env, app, snap.Ref, func(line string) { d.event(ctx, env, app, line) }); err != nil {
			return "", err
		}
	}
	return d.url(ctx, in, snap.Env, snap.App)
}

func awsIsNotFound(err error) bool { return spacepods.ErrorCode(err) == spacepods.ENOTFOUND }

// master returns env's app's instance, false when it has none.
func (d *Databases) master(ctx context.Context, env, app string) (Instance, bool, error) {
	in, err := d.Client.Describe(ctx, d.Masters.Instance(env, app))
	if awsIsNotFound(err) {
		return Instance{}, false, nil
	}
	return in, err == nil, err
}

// url is the DATABASE_URL of instance in: its endpoint, master user and
// the password kept for masterEnv's masterApp (whose instance it is or
// was restored from). TLS is required: RDS offers it always.
func (d *Databases) url(ctx context.Context, in Instance, masterEnv, masterApp string) (string, error) {
	host, port, err := net.SplitHostPort(in.Endpoint)
	if err != nil {
		return "", spacepods.Errorf(spacepods.EUNAVAILABLE, "RDS instance %s has no endpoint yet (status %s): retry once it is available", in.ID, in.Status)
	}
	p, _ := strconv.Atoi(port)
	ref := config.SecretRef(masterApp, spacepods.EnvScope(masterEnv), PasswordVar)
	help := "an admin sets it with `spacepods config set " + masterApp + " --env " + masterEnv + " --secret " + PasswordVar + "=…` (the password of master user " + in.User + " of RDS instance " + in.ID + ")"
	if d.Secrets == nil {
		return "", spacepods.Errorf(spacepods.EUNAVAILABLE, "no secret store holds the password of RDS instance %s: start the server with --secret-store, then %s", in.ID, help)
	}
	pw, err := d.Secrets.Get(ctx, ref)
	if awsIsNotFound(err) {
		return "", spacepods.Errorf(spacepods.ENOTFOUND, "the password of RDS instance %s is not set: %s", in.ID, help)
	}
	if err != nil {
		return "", err
	}
	name := in.DBName
	if name == "" {
		name = "postgres"
	}
	return databases.Database{User: in.User, Password: string(pw), Host: host, Port: p, Name: name, SSLMode: "require"}.URL(""), nil
}

// event records a progress line as env's event (the pod's page and
// `spacepods pod events` show it); a lost line is not an error.
func (d *Databases) event(ctx context.Context, env, app, line string) {
	if _, err := d.Store.AddEvent(context.WithoutCancel(ctx), spacepods.Event{Env: env, App: app, Level: "info", Message: line}); err != nil {
		d.Client.cfg.Logger.Error("record event", "env", env, "app", app, "err", err)
	}
}

// Snapshot snapshots master env's app's instance as name with
// CreateDBSnapshot and waits until it is available, its progress as env's
// events. handled is false when env is not a master or its app has no
// instance: its database is on the shared server, snapshotted there.
func (d *Databases) Snapshot(ctx context.Context, env, app, name string) (spacepods.Snapshot, bool, error) {
	e, err := d.Store.GetEnvironment(ctx, env)
	if err != nil || e.Kind != spacepods.EnvMaster {
		return spacepods.Snapshot{}, false, err
	}
	in, ok, err := d.master(ctx, env, app)
	if err != nil || !ok {
		return spacepods.Snapshot{}, false, err
	}
	x, err := d.Store.AddExternalSnapshot(ctx, store.ExternalSnapshot{Name: name, Kind: spacepods.SnapshotRDS, Env: env, App: app,
		Source: in.ID, Ref: SnapshotID(d.Client.cfg.Installation, name)})
	if err != nil {
		return spacepods.Snapshot{}, true, err
	}
	timeout := d.SnapshotTimeout
	if timeout <= 0 {
		timeout = 2 * time.Hour
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	d.event(ctx, env, app, "snapshotting RDS instance "+in.ID+" as "+x.Ref)
	err = d.Client.CreateSnapshot(wctx, env, app, in.ID, x.Ref, func(line string) { d.event(ctx, env, app, line) })
	x.Status = store.ExternalAvailable
	if err != nil {
		x.Status = store.ExternalFailed
	}
	if serr := d.Store.SetExternalSnapshotStatus(wctx, name, x.Status); err == nil {
		err = serr
	}
	return snapshotOf(x), true, err
}

func snapshotOf(x store.ExternalSnapshot) spacepods.Snapshot {
	return spacepods.Snapshot{Name: x.Name, Database: x.Ref, Env: x.Env, App: x.App, CreatedAt: x.CreatedAt, Kind: x.Kind,
		Incomplete: x.Status != store.ExternalAvailable}
}

// Snapshots lists the RDS snapshots taken of masters.
func (d *Databases) Snapshots(ctx context.Context) ([]spacepods.Snapshot, error) {
	xs, err := d.Store.ListExternalSnapshots(ctx, spacepods.SnapshotRDS)
	if err != nil {
		return nil, err
	}
	out := make([]spacepods.Snapshot, 0, len(xs))
	for _, x := range xs {
		out = append(out, snapshotOf(x))
	}
	return out, nil
}

// DestroyEnvironment deletes env's restored instances without a final
// snapshot (a pod's data is a copy). Masters' instances are not
// Spacepods' and are never deleted.
func (d *Databases) DestroyEnvironment(ctx context.Context, env string) error {
	return d.Client.DestroyEnvironment(ctx, env)
}

// Instances returns the restored instances that are not being deleted,
// identifier → environment, for destroy's check and the leak audit.
func (d *Databases) Instances(ctx context.Context) (map[string]string, error) {
	list, err := d.Client.Instances(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, in := range list {
		if in.RestoredFrom != "" && in.Status != "deleting" {
			out[in.ID] = in.Env
		}
	}
	return out, nil
}
