package databases

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Cluster is a PostgreSQL server that Spacepods runs itself, in a directory
// of its own, when it is given no admin URL. Its layout:
//
//	<dir>/data          the cluster (PGDATA), owned by the postgres user when run as root
//	<dir>/cluster.json  port and admin password, readable only by the owner
//	<dir>/server.log    the server's log
//
// The server listens on loopback and on the addresses given with ListenOn
// (Docker's bridge gateway, where containers reach it), on no Unix socket,
// with scram-sha-256 password authentication. Its pg_hba.conf, rewritten at
// every start, admits the superuser from loopback only, and pods' roles from
// loopback and from the subnets given with AdmitPods, there each only to the
// database of its own name (see hbaConf). It runs in its own session, so it
// outlives the Spacepods process that started it; the next StartLocal on the
// same directory adopts it.
type Cluster struct {
	dir      string
	data     string
	bin      string
	port     int
	password string
	cred     *syscall.Credential // run PostgreSQL binaries as this user; nil: as ourselves
	logger   *slog.Logger
	net      localConfig
}

// LocalOption configures StartLocal.
type LocalOption func(*localConfig)

type localConfig struct {
	listen  []string       // addresses besides loopback; "*" = every address
	podNets []netip.Prefix // where pods' roles may log in from
}

// ListenOn makes the cluster listen on these IP addresses besides loopback,
// typically Docker's bridge gateway, which every container reaches. "*"
// means every address (for runtimes whose pods come from addresses this
// host cannot know).
func ListenOn(addrs ...string) LocalOption {
	return func(c *localConfig) { c.listen = append(c.listen, addrs...) }
}

// AdmitPods lets pods' roles log in from these subnets (CIDRs, e.g. Docker's
// address pools), each only to the database of its own name. Without it they
// log in from this host only. The superuser logs in from loopback only,
// whatever is given here.
func AdmitPods(subnets ...string) LocalOption {
	return func(c *localConfig) {
		for _, s := range subnets {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				p = netip.Prefix{} // reported by validate
			}
			c.podNets = append(c.podNets, p.Masked())
		}
	}
}

func (c localConfig) validate() error {
	for _, a := range c.listen {
		if _, err := netip.ParseAddr(a); err != nil && a != "*" {
			return spacepods.Errorf(spacepods.EINVALID, "PostgreSQL listen address %q: give an IP address of this host, or *", a)
		}
	}
	for _, p := range c.podNets {
		if !p.IsValid() {
			return spacepods.Errorf(spacepods.EINVALID, "subnet for pods' PostgreSQL logins: give CIDRs such as 172.17.0.0/16")
		}
	}
	return nil
}

// listenAddresses is the listen_addresses setting.
func (c localConfig) listenAddresses() string {
	addrs := []string{"127.0.0.1", "::1"}
	for _, a := range c.listen {
		if a == "*" {
			return "*"
		}
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	return strings.Join(addrs, ",")
}

// hbaConf is the cluster's whole pg_hba.conf. PostgreSQL takes the first
// line that matches a connection's type, database, user and address.
// Databases and roles are made while the cluster runs, so the pods' lines
// name none: each pod's role is called like its database (see
// DatabaseName), and "sameuser" admits a role only to the database of its
// own name. CONNECT privileges (the pod's role only, see Manager.Create)
// narrow the loopback lines the same way.
func (c localConfig) hbaConf() string {
	var b strings.Builder
	b.WriteString(`# Written by Spacepods at every start of the cluster: edits here are lost.
# The first line matching a connection decides. No Unix socket, no replication.

# The superuser, from this host only.
host    all       ` + adminUser + `  127.0.0.1/32  scram-sha-256
host    all       ` + adminUser + `  ::1/128       scram-sha-256
host    all       ` + adminUser + `  all           reject

# Other roles from this host: the control plane seeds and snapshots a pod's
# database as its role; their CONNECT privileges decide which databases.
host    all       all       127.0.0.1/32  scram-sha-256
host    all       all       ::1/128       scram-sha-256
`)
	if len(c.podNets) > 0 {
		b.WriteString("\n# Pods' roles from the container subnets, each only to the database of its own name.\n")
	}
	for _, p := range c.podNets {
		fmt.Fprintf(&b, "host    sameuser  all       %-13s scram-sha-256\n", p)
	}
	return b.String()
}

// clusterState is what cluster.json remembers between runs.
type clusterState struct {
	Port     int    `json:"port"`
	Password string `json:"password"`
}

const adminUser = "postgres"

// StartLocal starts (or adopts, if it is already running) the PostgreSQL
// cluster kept in dir, creating it with initdb when dir is empty or missing.
// It finds initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin. As root
// it runs them as the postgres user, which must exist and be able to reach
// dir. The port is picked once and remembered, so restarts keep the same
// admin URL (unless another program took the port meanwhile). Where it
// listens and whom it admits come from opts (see ListenOn and AdmitPods;
// without them: loopback only) and are applied at every start: a running
// cluster is reloaded, or restarted when it listens elsewhere. Errors say
// what to install or fix.
func StartLocal(ctx context.Context, dir string, logger *slog.Logger, opts ...LocalOption) (*Cluster, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var lc localConfig
	for _, o := range opts {
		o(&lc)
	}
	if err := lc.validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	bin, err := findPostgresBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, data: filepath.Join(dir, "data"), bin: bin, logger: logger.With("component", "postgres", "dir", dir), net: lc}
	if os.Geteuid() == 0 {
		if c.cred, err = postgresUser(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("postgres cluster: %w", err)
	}
	if err := c.chown(dir); err != nil {
		return nil, err
	}
	if err := c.checkReachable(dir); err != nil {
		return nil, err
	}

	st, err := c.readState()
	switch {
	case err == nil:
		c.port, c.password = st.Port, st.Password
	case errors.Is(err, os.ErrNotExist):
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}

	if port, running := c.running(ctx); running {
		if port != 0 && port != c.port {
			c.port = port
			if err := c.writeState(); err != nil {
				return nil, err
			}
		}
		c.logger.Info("adopted running PostgreSQL", "port", c.port)
		if err := c.reconfigure(ctx); err != nil {
			return nil, err
		}
	} else if err := c.start(ctx); err != nil {
		return nil, err
	}
	if err := c.ping(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// reconfigure gives a running cluster this start's settings: it reloads
// pg_hba.conf, and restarts the server when it listens elsewhere (an older
// version listened on every address; or Docker's bridge moved). A restart
// ends open sessions; apps' pools reconnect.
func (c *Cluster) reconfigure(ctx context.Context) error {
	if err := c.writeConfig(); err != nil {
		return err
	}
	if out, err := c.run(ctx, "pg_ctl", "reload", "-D", c.data, "-s"); err != nil {
		return fmt.Errorf("reload PostgreSQL in %s: %v: %s", c.data, err, out)
	}
	if err := c.ping(ctx); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, c.AdminURL())
	if err != nil {
		return err
	}
	var listen string
	err = conn.QueryRow(ctx, "SHOW listen_addresses").Scan(&listen)
	_ = conn.Close(context.WithoutCancel(ctx)) // best-effort cleanup; nothing useful to do on failure
	if err != nil {
		return err
	}
	if want := c.net.listenAddresses(); listen != want {
		c.logger.Warn("restarting PostgreSQL to listen on other addresses (open sessions end; apps reconnect)", "from", listen, "to", want)
		logPath := filepath.Join(c.dir, "server.log")
		if out, err := c.run(ctx, "pg_ctl", "restart", "-D", c.data, "-m", "fast", "-l", logPath, "-w", "-t", "60", "-s"); err != nil {
			return spacepods.Errorf(spacepods.EUNAVAILABLE, "PostgreSQL in %s did not restart (%v: %s); the end of %s:\n%s", c.data, err, bytes.TrimSpace(out), logPath, tail(logPath, 15))
		}
	}
	return nil
}

// writeConfig writes the settings Spacepods owns: spacepods.conf (included
// by postgresql.conf) and the whole pg_hba.conf.
func (c *Cluster) writeConfig() error {
	conf := fmt.Sprintf("# Written by Spacepods at every start.\nlisten_addresses = '%s'\nport = %d\nunix_socket_directories = ''\nmax_connections = 200\n",
		c.net.listenAddresses(), c.port)
	for name, text := range map[string]string{"spacepods.conf": conf, "pg_hba.conf": c.net.hbaConf()} {
		path := filepath.Join(c.data, name)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			return fmt.Errorf("postgres cluster: %w", err)
		}
		if err := c.chown(tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("postgres cluster: %w", err)
		}
	}
	return nil
}

// AdminURL returns the superuser URL of the cluster, on 127.0.0.1.
func (c *Cluster) AdminURL() string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(adminUser, c.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the cluster listens on.
func (c *Cluster) Port() int { return c.port }

// Dir returns the cluster's directory.
func (c *Cluster) Dir() string { return c.dir }

// Stop shuts the cluster down (fast: open sessions are disconnected) and
// waits until it has stopped. Stopping a stopped cluster is no error.
func (c *Cluster) Stop(ctx context.Context) error {
	if _, running := c.running(ctx); !running {
		return nil
	}
	c.logger.Info("stopping PostgreSQL", "port", c.port)
	if out, err := c.run(ctx, "pg_ctl", "stop", "-D", c.data, "-m", "fast", "-w", "-t", "60", "-s"); err != nil {
		return fmt.Errorf("stop PostgreSQL in %s: %v: %s", c.data, err, out)
	}
	return nil
}

// findPostgresBin returns the directory holding initdb and pg_ctl.
func findPostgresBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
		if ctl, err := exec.LookPath("pg_ctl"); err == nil {
			if real, err := filepath.EvalSymlinks(ctl); err == nil && filepath.Dir(real) == dir {
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { // newest major version first
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		_, e1 := os.Stat(filepath.Join(d, "initdb"))
		_, e2 := os.Stat(filepath.Join(d, "pg_ctl"))
		if e1 == nil && e2 == nil {
			return d, nil
		}
	}
	return "", spacepods.Errorf(spacepods.EUNAVAILABLE, "initdb not found on PATH or in /usr/lib/postgresql/*/bin: install PostgreSQL (apt-get install postgresql) or give a PostgreSQL admin URL")
}

// postgresUser returns the credentials of the postgres user, as whom PostgreSQL
// must run when we are root (initdb and postgres refuse to run as root).
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "running as root, PostgreSQL must run as the postgres user, but there is none: install PostgreSQL from your distribution (it creates the user), run useradd --system postgres, or run Spacepods as an ordinary user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil //nolint:gosec // uid/gid of the postgres user from the system's user database fit in uint32
}

// chown gives path to the postgres user when we run PostgreSQL as it.
func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("postgres cluster: give %s to the postgres user: %w", path, err)
	}
	return nil
}

// checkReachable makes sure the postgres user can walk down to dir: a
// directory it cannot enter on the way fails initdb with a cryptic message.
func (c *Cluster) checkReachable(dir string) error {
	if c.cred == nil {
		return nil
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		mode := fi.Mode().Perm()
		st, _ := fi.Sys().(*syscall.Stat_t)
		ok := mode&0o001 != 0 ||
			st != nil && st.Uid == c.cred.Uid && mode&0o100 != 0 ||
			st != nil && st.Gid == c.cred.Gid && mode&0o010 != 0
		if !ok {
			return spacepods.Errorf(spacepods.EINVALID, "the postgres user cannot reach %s: %s is closed to it (chmod o+x %s), or pick a directory it can reach, e.g. under /var/lib", dir, d, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func (c *Cluster) statePath() string { return filepath.Join(c.dir, "cluster.json") }

func (c *Cluster) readState() (clusterState, error) {
	var st clusterState
	b, err := os.ReadFile(c.statePath())
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Port == 0 || st.Password == "" {
		return st, fmt.Errorf("postgres cluster: %s is damaged; move %s away to start afresh", c.statePath(), c.dir)
	}
	if _, err := os.Stat(filepath.Join(c.data, "PG_VERSION")); err != nil {
		return st, fmt.Errorf("postgres cluster: %s has no cluster in %s; move %s away to start afresh", c.statePath(), c.data, c.dir)
	}
	return st, nil
}

func (c *Cluster) writeState() error {
	b, _ := json.Marshal(clusterState{Port: c.port, Password: c.password}) //nolint:gosec // the cluster's own state file (0600 in the data dir) must keep its superuser password
	tmp := c.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("postgres cluster: %w", err)
	}
	return os.Rename(tmp, c.statePath())
}

// initdb creates the cluster in an empty directory.
func (c *Cluster) initdb(ctx context.Context) error {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return spacepods.Errorf(spacepods.EINVALID, "%s is not empty and holds no Spacepods PostgreSQL cluster: give an empty or new directory", c.dir)
	}
	if c.port, err = freePort(); err != nil {
		return err
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	c.password = hex.EncodeToString(pw)

	pwfile := filepath.Join(c.dir, "initdb.pw")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return err
	}
	defer func() { _ = os.Remove(pwfile) }() // best-effort cleanup; nothing useful to do on failure
	if err := c.chown(pwfile); err != nil {
		return err
	}
	c.logger.Info("creating PostgreSQL cluster", "bin", c.bin)
	out, err := c.run(ctx, "initdb", "-D", c.data, "-U", adminUser, "--pwfile="+pwfile,
		"-A", "scram-sha-256", "-E", "UTF8", "--no-locale", "--no-instructions")
	if err != nil {
		return fmt.Errorf("initdb %s: %v: %s", c.data, err, out)
	}
	conf := "\n# Spacepods: listen_addresses, port and sockets are set here.\ninclude_if_exists = 'spacepods.conf'\n"
	if err := appendFile(filepath.Join(c.data, "postgresql.conf"), conf); err != nil {
		return err
	}
	return c.writeState() // last: its presence means the cluster is complete
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		_ = f.Close() // best-effort cleanup; nothing useful to do on failure
		return err
	}
	return f.Close()
}

// freePort returns a TCP port nobody listens on, on any address.
func freePort() (int, error) {
	l, err := net.Listen("tcp", ":0") //nolint:gosec // only picks a free port, closed at once; PostgreSQL itself listens where configured
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }() // best-effort cleanup; nothing useful to do on failure
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	_ = l.Close() // best-effort cleanup; nothing useful to do on failure
	return true
}

// running reports whether the cluster's server runs, and on which port
// (read from postmaster.pid; 0 if unknown).
func (c *Cluster) running(ctx context.Context) (int, bool) {
	if _, err := c.run(ctx, "pg_ctl", "status", "-D", c.data); err != nil {
		return 0, false
	}
	f, err := os.Open(filepath.Join(c.data, "postmaster.pid"))
	if err != nil {
		return 0, true
	}
	defer func() { _ = f.Close() }() // best-effort cleanup; nothing useful to do on failure
	sc := bufio.NewScanner(f)
	for i := 1; sc.Scan(); i++ {
		if i == 4 { // line 4: port
			p, _ := strconv.Atoi(strings.TrimSpace(sc.Text()))
			return p, true
		}
	}
	return 0, true
}

// start writes the settings and starts the server with pg_ctl.
func (c *Cluster) start(ctx context.Context) error {
	if !portFree(c.port) {
		old := c.port
		var err error
		if c.port, err = freePort(); err != nil {
			return err
		}
		c.logger.Warn("the cluster's port is taken by another program; moving to a new one", "old_port", old, "port", c.port)
		if err := c.writeState(); err != nil {
			return err
		}
	}
	if err := c.writeConfig(); err != nil {
		return err
	}
	c.logger.Info("starting PostgreSQL", "port", c.port, "log", filepath.Join(c.dir, "server.log"))
	logPath := filepath.Join(c.dir, "server.log")
	if out, err := c.run(ctx, "pg_ctl", "start", "-D", c.data, "-l", logPath, "-w", "-t", "60", "-s"); err != nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "PostgreSQL in %s did not start (%v: %s); the end of %s:\n%s", c.data, err, bytes.TrimSpace(out), logPath, tail(logPath, 15))
	}
	return nil
}

// ping makes sure the admin URL works.
func (c *Cluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var err error
	for {
		var conn *pgx.Conn
		if conn, err = pgx.Connect(ctx, c.AdminURL()); err == nil {
			err = conn.Ping(ctx)
			_ = conn.Close(context.WithoutCancel(ctx)) // best-effort cleanup; nothing useful to do on failure
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return spacepods.Errorf(spacepods.EUNAVAILABLE, "PostgreSQL in %s runs but does not answer on port %d (%v); see %s", c.data, c.port, err, filepath.Join(c.dir, "server.log"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// run runs a PostgreSQL program from the cluster's bin directory, as the
// postgres user when we are root, in a session of its own so that signals to
// our process group (a Ctrl-C) do not reach the server.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, prog), args...)
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: c.cred}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") { // PGDATA, PGPORT… would fight our flags
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LC_ALL=C")
	if c.cred != nil {
		cmd.Env = append(cmd.Env, "HOME="+c.dir, "USER=postgres", "LOGNAME=postgres")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second // the server must not hold our pipes open
	err := cmd.Run()
	return out.Bytes(), err
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
