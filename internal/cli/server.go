package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/docker"
	"github.com/spacepods/spacepods/internal/runtime/kubernetes"
	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/ui"
)

type serverConfig struct {
	listen       string
	databaseURL  string
	postgresURL  string
	runtime      string
	defaultTTL   time.Duration
	reapInterval time.Duration
	logLevel     string
	logFormat    string
	router       routerConfig
	secretStore  string
	vault        secrets.VaultConfig
	kubeconfig   string
	kubeContext  string
	ingressClass string
	kubeHostAddr string
	kubeNodeAddr string
	pullSecret   string
	isolation    bool
	ingressTLS   bool
	ingressAnn   map[string]string
	allowFrom    []string
	routing      string
}

func newServerCmd(g *globals) *cobra.Command {
	var cfg serverConfig
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: REST API, pods, deploys, edge router",
		Long: `Run the Spacepods control plane.

It serves the REST API under /api/v1 (OpenAPI at /api/v1/openapi.json),
/healthz and Prometheus metrics at /metrics. State lives in an embedded SQLite
file in the data dir, or in PostgreSQL with --database-url postgres://...

With the docker runtime (the default) it also runs pods and deploys: it
starts the edge router as its own process (or adopts the one already running
for this data dir, so that restarting the server never drops traffic), and a
local PostgreSQL cluster for pod databases in <data-dir>/postgres (initdb and
pg_ctl must be on PATH) unless --postgres-admin-url names a server.

With --runtime kubernetes it runs environments on a cluster instead: a
namespace per environment, Deployments, Services and Jobs (see
docs/kubernetes.md). App hosts are then routed by an Ingress each, served by
the cluster's ingress controller (--ingress-class), and no edge router is
started; --routing router keeps the built-in router in front of the
cluster, targeting each release's Service (by node port with
--kubernetes-node-address, else by ClusterIP from inside the cluster).
Pods reach PostgreSQL at --kubernetes-host-address.

On first start it creates an admin token and writes it to
<data-dir>/admin.token (mode 0600); the CLI on this machine picks it up.

Every flag can also be set with an environment variable: SPACEPODS_ + the flag
name in upper case with '-' as '_' (e.g. SPACEPODS_DATABASE_URL).`,
		Example: `  spacepods server
  spacepods server --database-url postgres://spacepods:pw@127.0.0.1/spacepods --postgres-admin-url postgres://postgres:pw@127.0.0.1:5432/postgres
  spacepods server --runtime kubernetes --kubeconfig ~/.kube/spacepods.yaml --ingress-class nginx \
      --domain dev.example.com --kubernetes-host-address 10.0.12.5 --postgres-admin-url postgres://postgres:pw@10.0.12.5:5432/postgres
  spacepods server --runtime none      # catalog, builds and tokens only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), g, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.listen, "listen", envOr("SPACEPODS_LISTEN", "127.0.0.1:7070"), "API address (env SPACEPODS_LISTEN)")
	f.StringVar(&cfg.databaseURL, "database-url", envOr("SPACEPODS_DATABASE_URL", ""), "empty = embedded SQLite in the data dir; postgres://... = PostgreSQL (env SPACEPODS_DATABASE_URL)")
	f.StringVar(&cfg.postgresURL, "postgres-admin-url", envOr("SPACEPODS_POSTGRES_ADMIN_URL", ""), "PostgreSQL server for pod databases (superuser URL); empty = start a local cluster (env SPACEPODS_POSTGRES_ADMIN_URL)")
	f.StringVar(&cfg.runtime, "runtime", envOr("SPACEPODS_RUNTIME", "docker"), "docker, kubernetes, or none for a catalog-only server (env SPACEPODS_RUNTIME)")
	f.DurationVar(&cfg.defaultTTL, "default-ttl", 24*time.Hour, "TTL of pods created without --ttl")
	f.DurationVar(&cfg.reapInterval, "reap-interval", 30*time.Second, "how often expired pods are destroyed")
	f.StringVar(&cfg.logLevel, "log-level", envOr("SPACEPODS_LOG_LEVEL", "info"), "debug, info, warn or error (env SPACEPODS_LOG_LEVEL)")
	f.StringVar(&cfg.logFormat, "log-format", envOr("SPACEPODS_LOG_FORMAT", "text"), "text or json (env SPACEPODS_LOG_FORMAT)")
	f.StringVar(&cfg.secretStore, "secret-store", envOr("SPACEPODS_SECRET_STORE", "local"), "where secrets live: local (encrypted in the store, master key <data-dir>/secrets.key or SPACEPODS_MASTER_KEY) or vault (env SPACEPODS_SECRET_STORE)")
	f.StringVar(&cfg.vault.Address, "vault-addr", envOr("SPACEPODS_VAULT_ADDR", ""), "Vault address, e.g. https://vault.example:8200 (env SPACEPODS_VAULT_ADDR)")
	f.StringVar(&cfg.vault.Token, "vault-token", envOr("SPACEPODS_VAULT_TOKEN", ""), "Vault token (env SPACEPODS_VAULT_TOKEN); or use AppRole")
	f.StringVar(&cfg.vault.RoleID, "vault-role-id", envOr("SPACEPODS_VAULT_ROLE_ID", ""), "Vault AppRole role_id (env SPACEPODS_VAULT_ROLE_ID)")
	f.StringVar(&cfg.vault.SecretID, "vault-secret-id", envOr("SPACEPODS_VAULT_SECRET_ID", ""), "Vault AppRole secret_id (env SPACEPODS_VAULT_SECRET_ID)")
	f.StringVar(&cfg.vault.Mount, "vault-mount", envOr("SPACEPODS_VAULT_MOUNT", "secret"), "Vault KV v2 mount (env SPACEPODS_VAULT_MOUNT)")
	f.StringVar(&cfg.vault.Namespace, "vault-namespace", envOr("SPACEPODS_VAULT_NAMESPACE", ""), "Vault namespace (env SPACEPODS_VAULT_NAMESPACE)")
	f.StringVar(&cfg.vault.PathPrefix, "vault-prefix", envOr("SPACEPODS_VAULT_PREFIX", "spacepods"), "path prefix of Spacepods' secrets in the mount (env SPACEPODS_VAULT_PREFIX)")
	f.StringVar(&cfg.kubeconfig, "kubeconfig", envOr("SPACEPODS_KUBECONFIG", ""), "kubernetes runtime: kubeconfig file; empty = in-cluster config (env SPACEPODS_KUBECONFIG)")
	f.StringVar(&cfg.kubeContext, "kube-context", envOr("SPACEPODS_KUBE_CONTEXT", ""), "kubernetes runtime: kubeconfig context (env SPACEPODS_KUBE_CONTEXT)")
	f.StringVar(&cfg.ingressClass, "ingress-class", envOr("SPACEPODS_INGRESS_CLASS", ""), "kubernetes runtime: ingressClassName of app Ingresses (env SPACEPODS_INGRESS_CLASS)")
	f.StringVar(&cfg.routing, "routing", envOr("SPACEPODS_ROUTING", ""), "how app hosts are routed: router (the built-in edge router) or ingress (a Kubernetes Ingress per app host, served by the cluster's ingress controller); default router on docker, ingress on kubernetes (env SPACEPODS_ROUTING)")
	f.StringVar(&cfg.kubeNodeAddr, "kubernetes-node-address", envOr("SPACEPODS_KUBERNETES_NODE_ADDRESS", ""), "kubernetes runtime with --routing router: a node address at which the router reaches Services by node port; empty = their ClusterIPs (router inside the cluster) (env SPACEPODS_KUBERNETES_NODE_ADDRESS)")
	f.StringVar(&cfg.pullSecret, "kubernetes-image-pull-secret", envOr("SPACEPODS_KUBERNETES_IMAGE_PULL_SECRET", ""), "kubernetes runtime: <namespace>/<name> of a registry credential (docker-registry Secret) copied into every environment and used by every pod (env SPACEPODS_KUBERNETES_IMAGE_PULL_SECRET)")
	f.BoolVar(&cfg.isolation, "kubernetes-isolation", envOr("SPACEPODS_KUBERNETES_ISOLATION", "") == "true", "kubernetes runtime: a NetworkPolicy per environment admitting traffic only from its own namespace and --kubernetes-allow-from (env SPACEPODS_KUBERNETES_ISOLATION=true)")
	f.BoolVar(&cfg.ingressTLS, "ingress-tls", envOr("SPACEPODS_INGRESS_TLS", "") == "true", "kubernetes runtime, routing by Ingress: serve app hosts over TLS from the Secret <app>-tls (made by cert-manager given an issuer annotation); app URLs become https (env SPACEPODS_INGRESS_TLS=true)")
	f.StringToStringVar(&cfg.ingressAnn, "ingress-annotation", nil, "kubernetes runtime, routing by Ingress: an annotation of every app Ingress, e.g. cert-manager.io/cluster-issuer=letsencrypt (repeatable)")
	var allowFrom []string
	if v := envOr("SPACEPODS_KUBERNETES_ALLOW_FROM", ""); v != "" {
		allowFrom = strings.Split(v, ",")
	}
	f.StringSliceVar(&cfg.allowFrom, "kubernetes-allow-from", allowFrom, "kubernetes runtime with --kubernetes-isolation: namespaces whose pods may reach environments, e.g. ingress-nginx (repeat or comma-separate; env SPACEPODS_KUBERNETES_ALLOW_FROM)")
	f.StringVar(&cfg.kubeHostAddr, "kubernetes-host-address", envOr("SPACEPODS_KUBERNETES_HOST_ADDRESS", ""), "kubernetes runtime: address at which pods reach PostgreSQL (env SPACEPODS_KUBERNETES_HOST_ADDRESS)")
	cfg.router.flags(cmd, "router-")
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, spacepods.Errorf(spacepods.EINVALID, "--log-format %q: use text or json", format)
}

func routerDir(dataDir string) string { return filepath.Join(dataDir, "router") }

// startRouter adopts the router already serving dataDir or starts
// `spacepods router` as its own process (own session: it outlives us).
func startRouter(ctx context.Context, dataDir string, rc routerConfig, logger *slog.Logger) (*router.Client, error) {
	dir := routerDir(dataDir)
	if c, ok := router.Adopt(dir, rc.control); ok {
		logger.Info("adopted the running edge router", "control", c.Addr())
		return c, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "router.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(exe, "router", "--data-dir", dataDir, "--listen", rc.listen, "--control", rc.control, "--domain", rc.domain, "--internal-listen", rc.internal)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the edge router: %w", err)
	}
	pid := cmd.Process.Pid
	cmd.Process.Release()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, ok := router.Adopt(dir, rc.control); ok {
			logger.Info("started the edge router", "pid", pid, "listen", rc.listen, "control", c.Addr(), "log", logf.Name())
			return c, nil
		}
		// A short pause between looks: each Adopt reads a file and dials.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the edge router did not come up within 15s: see %s (is %s in use? choose another with --router-listen)", logf.Name(), rc.listen)
}

func runServer(parent context.Context, g *globals, cfg serverConfig) error {
	logger, err := newLogger(cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()

	st, err := store.Open(ctx, cfg.databaseURL, g.dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	authSvc := &auth.Service{Store: st}
	tokenPath, created, err := authSvc.Bootstrap(ctx, g.dataDir)
	if err != nil {
		return fmt.Errorf("create the first admin token: %w", err)
	}
	if created {
		logger.Info("created the first admin token", "file", tokenPath)
	}
	cat := catalog.NewService(st)
	secretStore, err := secrets.Open(ctx, cfg.secretStore, secrets.Config{Local: secrets.LocalConfig{DataDir: g.dataDir, Blobs: st}, Vault: cfg.vault})
	if err != nil {
		return err
	}
	logger.Info("secret store ready", "backend", secretStore.Name())
	cfgSvc := &config.Service{Store: st, Secrets: secretStore}
	srv := &server.Server{Catalog: cat, Auth: authSvc, Store: st, Config: cfgSvc, Logger: logger, Version: Version}
	if l, ok := secretStore.(*secrets.Local); ok {
		srv.RotateKey = func(ctx context.Context) (string, error) {
			key, err := secrets.GenerateMasterKey()
			if err != nil {
				return "", err
			}
			if err := secrets.RotateMasterKeyFile(ctx, l, g.dataDir, key); err != nil {
				return "", err
			}
			return l.KeyID(), nil
		}
	}

	var engine *deploy.Engine
	var podSvc *pods.Service
	switch cfg.runtime {
	case "none":
		logger.Info("runtime none: pods and deploys are off")
		srv.Runtime = "none"
	case "docker", "kubernetes":
		routing := cfg.routing
		if routing == "" {
			routing = map[string]string{"docker": "router", "kubernetes": "ingress"}[cfg.runtime]
		}
		if routing != "router" && routing != "ingress" || routing == "ingress" && cfg.runtime != "kubernetes" {
			return spacepods.Errorf(spacepods.EINVALID, "--routing %q with --runtime %s: use router (any runtime) or ingress (kubernetes only)", cfg.routing, cfg.runtime)
		}
		// Everything this installation makes on the runtime and the
		// PostgreSQL server carries its ID: installations sharing them
		// keep apart.
		inst, err := st.Installation(ctx)
		if err != nil {
			return err
		}
		logger.Info("installation", "id", inst)
		var drv runtime.Driver
		var ingress runtime.Ingresser
		if cfg.runtime == "docker" {
			dd, err := docker.New(logger.With("component", "docker"), docker.WithInstallation(inst))
			if err != nil {
				return err
			}
			if err := dd.Ping(ctx); err != nil {
				return err
			}
			drv = dd
		} else {
			kc := kubernetes.Config{Kubeconfig: cfg.kubeconfig, Context: cfg.kubeContext, IngressClass: cfg.ingressClass,
				Domain: cfg.router.domain, HostAddress: cfg.kubeHostAddr, Installation: inst, ImagePullSecret: cfg.pullSecret,
				Isolation: cfg.isolation, AllowFrom: cfg.allowFrom, IngressTLS: cfg.ingressTLS, IngressAnnotations: cfg.ingressAnn, Logger: logger.With("component", "kubernetes")}
			if routing == "router" {
				kc.NodeAddress = cfg.kubeNodeAddr
				if cfg.isolation {
					logger.Warn("--kubernetes-isolation with --routing router: the network policies admit no traffic from nodes, so the edge router reaches environments only where the network plugin exempts node traffic")
				}
				if kc.NodeAddress == "" {
					logger.Warn("--routing router on kubernetes without --kubernetes-node-address: the edge router targets Services by ClusterIP, which routes only on a cluster node or in a pod; elsewhere set --kubernetes-node-address")
				}
			}
			kd, err := kubernetes.New(kc)
			if err != nil {
				return err
			}
			if err := kd.Ping(ctx); err != nil {
				return err
			}
			drv = kd
			if routing == "ingress" {
				ingress = kd
			}
		}
		podSvc = &pods.Service{Store: st, Catalog: cat, Driver: drv, DefaultTTL: cfg.defaultTTL, Logger: logger.With("component", "pods")}
		engine = &deploy.Engine{Store: st, Catalog: cat, Driver: drv, Ingress: ingress, Config: cfgSvc, Domain: cfg.router.domain, Logger: logger.With("component", "deploy")}
		if ingress == nil {
			rc := cfg.router
			_, port, _ := net.SplitHostPort(rc.listen)
			if dd, ok := drv.(*docker.Driver); ok {
				// Apps call their dependencies through the router too, at
				// the default bridge's gateway, which every container reaches.
				gw, err := dd.BridgeGateway(ctx)
				if err != nil {
					return err
				}
				rc.internal = net.JoinHostPort(gw, port)
			}
			rt, err := startRouter(ctx, g.dataDir, rc, logger)
			if err != nil {
				return err
			}
			podSvc.Router, engine.Router = rt, rt
			engine.RouterPort = port
			info, err := rt.Info(ctx)
			if err != nil {
				return err
			}
			engine.InternalRouter = info.Internal
			if rc.internal != "" && info.Internal != rc.internal {
				logger.Warn("the running edge router has no internal listener at "+rc.internal+": apps reach their dependencies by network alias until it is restarted (stop it by its PID in <data-dir>/router/router.pid, then restart the server)",
					"router_pid", info.PID, "router_internal", info.Internal)
			}
		} else {
			logger.Info("routing: an Ingress per app host; the built-in edge router is not started", "ingress_class", cfg.ingressClass, "domain", cfg.router.domain, "tls", cfg.ingressTLS)
			if cfg.ingressTLS {
				engine.Scheme = "https"
			}
		}
		adminURL := cfg.postgresURL
		if adminURL == "" {
			logger.Info("starting the local PostgreSQL cluster for pod databases", "dir", filepath.Join(g.dataDir, "postgres"))
			cl, err := databases.StartLocal(ctx, filepath.Join(g.dataDir, "postgres"), logger.With("component", "postgres"))
			if err != nil {
				return err
			}
			adminURL = cl.AdminURL()
		}
		dbs, err := databases.Open(ctx, adminURL, logger.With("component", "databases"), databases.WithInstallation(inst))
		if err != nil {
			return err
		}
		defer dbs.Close()
		podSvc.Databases, engine.DatabaseURL = dbs, podSvc.DatabaseURL
		if v := os.Getenv("SPACEPODS_TEST_DEPLOY_PAUSE"); v != "" {
			step, dur, _ := strings.Cut(v, "=")
			d, err := time.ParseDuration(dur)
			if err != nil {
				return spacepods.Errorf(spacepods.EINVALID, "SPACEPODS_TEST_DEPLOY_PAUSE=%q: write STEP=DURATION, e.g. migrate=5s", v)
			}
			engine.Options.PauseAt, engine.Options.PauseFor = step, d
			logger.Warn("fault injection: deploys pause in a step", "step", step, "for", d)
		}
		podSvc.Engine = engine
		if err := engine.Start(ctx); err != nil {
			return err
		}
		if err := podSvc.Start(ctx, cfg.reapInterval); err != nil {
			return err
		}
		srv.Pods, srv.Deploys = podSvc, engine
		srv.Runtime, srv.Routing, srv.Installation = cfg.runtime, routing, inst
	default:
		return spacepods.Errorf(spacepods.EINVALID, "--runtime %q: use docker, kubernetes (with --kubeconfig, or in a cluster) or none (ecs is planned)", cfg.runtime)
	}
	webUI := ui.New(ui.Config{Catalog: cat, Auth: authSvc, Config: cfgSvc, Pods: podSvc, Deploys: engine, Store: st, Logger: logger.With("component", "ui"), Version: Version})
	srv.UI = webUI

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return spacepods.Errorf(spacepods.EINVALID, "cannot listen on %s: %v (is another server running? choose another with --listen)", cfg.listen, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	hs.RegisterOnShutdown(webUI.Close) // end the UI's live streams, or Shutdown waits for them
	logger.Info("spacepods server started", "api", "http://"+ln.Addr().String(), "store", st.Dialect(), "data_dir", g.dataDir, "version", Version)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down (the edge router keeps serving)")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	if engine != nil {
		engine.Wait()
		podSvc.Wait()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
