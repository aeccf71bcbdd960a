package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
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
	// The web and API's limits (issue 11 §4).
	trustedProxies []string
	timeouts       server.Timeouts
	maxStreams     int
	maxUserStreams int
	podQuota       int
}

// envFlags are the flags that take their SPACEPODS_* variable in RunE
// (typed flags: a bad value is an error, not a silent default).
var envFlags = []string{"trusted-proxy", "http-read-timeout", "http-write-timeout", "http-idle-timeout", "max-streams", "max-streams-per-user", "pod-quota", "default-ttl", "reap-interval", "router-internal-port"}

// applyEnv sets each of names that is not on the command line from its
// environment variable, SPACEPODS_ + the name in upper case with '-' as '_'.
func applyEnv(cmd *cobra.Command, names []string) error {
	for _, name := range names {
		key := "SPACEPODS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		v, ok := os.LookupEnv(key)
		if !ok || v == "" || cmd.Flags().Changed(name) {
			continue
		}
		if err := cmd.Flags().Set(name, v); err != nil {
			return spacepods.Errorf(spacepods.EINVALID, "%s=%q: %v (see `spacepods server --help` for --%s)", key, v, err, name)
		}
	}
	return nil
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
			if err := applyEnv(cmd, envFlags); err != nil {
				return err
			}
			return runServer(cmd.Context(), g, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.listen, "listen", envOr("SPACEPODS_LISTEN", "127.0.0.1:7070"), "API address (env SPACEPODS_LISTEN)")
	f.StringVar(&cfg.databaseURL, "database-url", envOr("SPACEPODS_DATABASE_URL", ""), "empty = embedded SQLite in the data dir; postgres://... = PostgreSQL (env SPACEPODS_DATABASE_URL)")
	f.StringVar(&cfg.postgresURL, "postgres-admin-url", envOr("SPACEPODS_POSTGRES_ADMIN_URL", ""), "PostgreSQL server for pod databases (superuser URL); empty = start a local cluster (env SPACEPODS_POSTGRES_ADMIN_URL)")
	f.StringVar(&cfg.runtime, "runtime", envOr("SPACEPODS_RUNTIME", "docker"), "docker, kubernetes, or none for a catalog-only server (env SPACEPODS_RUNTIME)")
	f.DurationVar(&cfg.defaultTTL, "default-ttl", 24*time.Hour, "TTL of pods created without --ttl (env SPACEPODS_DEFAULT_TTL)")
	f.DurationVar(&cfg.reapInterval, "reap-interval", 30*time.Second, "how often expired pods are destroyed (env SPACEPODS_REAP_INTERVAL)")
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
	f.StringSliceVar(&cfg.trustedProxies, "trusted-proxy", nil, "address or CIDR of a reverse proxy whose X-Forwarded-Proto is believed, so that session cookies are Secure behind HTTPS (repeat or comma-separate; env SPACEPODS_TRUSTED_PROXY)")
	f.DurationVar(&cfg.timeouts.Read, "http-read-timeout", server.DefaultTimeouts.Read, "the whole request, body included, must arrive within this (env SPACEPODS_HTTP_READ_TIMEOUT)")
	f.DurationVar(&cfg.timeouts.Write, "http-write-timeout", server.DefaultTimeouts.Write, "a response must be written within this; live streams and log follows are exempt (env SPACEPODS_HTTP_WRITE_TIMEOUT)")
	f.DurationVar(&cfg.timeouts.Idle, "http-idle-timeout", server.DefaultTimeouts.Idle, "how long a kept-alive connection waits for its next request (env SPACEPODS_HTTP_IDLE_TIMEOUT)")
	f.IntVar(&cfg.maxStreams, "max-streams", server.DefaultMaxStreams, "live streams (UI live pages, log follows) open at once, in total (env SPACEPODS_MAX_STREAMS)")
	f.IntVar(&cfg.maxUserStreams, "max-streams-per-user", server.DefaultMaxStreamsPerUser, "live streams open at once per user (token) (env SPACEPODS_MAX_STREAMS_PER_USER)")
	f.IntVar(&cfg.podQuota, "pod-quota", 5, "pods one user (token) may have at once; admins are exempt; 0 = no limit (env SPACEPODS_POD_QUOTA)")
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

func runServer(parent context.Context, g *globals, cfg serverConfig) error {
	logger, err := newLogger(cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	lock, err := lockDataDir(g.dataDir, cfg.listen)
	if err != nil {
		return err
	}
	defer lock.Close()
	// Take the API's address first: a second server on the same port fails
	// here, before it starts anything.
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "the API cannot listen on %s: %v: another program (another Spacepods server?) has it; choose another address with --listen", cfg.listen, err)
	}
	defer ln.Close()

	st, err := store.Open(ctx, cfg.databaseURL, g.dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	proxies, err := auth.ParseTrustedProxies(cfg.trustedProxies)
	if err != nil {
		return err
	}
	if cfg.maxStreams < 1 || cfg.maxUserStreams < 1 || cfg.podQuota < 0 {
		return spacepods.Errorf(spacepods.EINVALID, "--max-streams and --max-streams-per-user must be at least 1, --pod-quota at least 0 (0 = no limit)")
	}
	authSvc := &auth.Service{Store: st, TrustedProxies: proxies}
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
		if n, err := l.UnderPreviousKey(ctx); err == nil && n > 0 {
			logger.Warn("secrets are still wrapped by the previous master key: run `spacepods secrets rotate-key`, then remove "+secrets.PreviousMasterKeyEnv,
				"secrets", n, "previous_key", l.PreviousKeyID(), "key", l.KeyID())
		}
		srv.RotateKey = func(ctx context.Context) (server.RotateKeyResponse, error) {
			r, err := secrets.RotateMasterKey(ctx, l, g.dataDir)
			return server.RotateKeyResponse{KeyID: r.KeyID, Next: r.Next}, err
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
			dd, err := docker.New(logger.With("component", "docker"), docker.WithInstallation(inst), docker.WithSecrets(cfgSvc))
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
				Isolation: cfg.isolation, AllowFrom: cfg.allowFrom, IngressTLS: cfg.ingressTLS, IngressAnnotations: cfg.ingressAnn, Logger: logger.With("component", "kubernetes"),
				Secrets: cfgSvc}
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
		podSvc = &pods.Service{Store: st, Catalog: cat, Driver: drv, DefaultTTL: cfg.defaultTTL, PodQuota: cfg.podQuota, Logger: logger.With("component", "pods")}
		engine = &deploy.Engine{Store: st, Catalog: cat, Driver: drv, Ingress: ingress, Config: cfgSvc, Domain: cfg.router.domain, Logger: logger.With("component", "deploy")}
		if ingress == nil {
			rc := cfg.router
			_, port, _ := net.SplitHostPort(rc.listen)
			var gateway string
			if dd, ok := drv.(*docker.Driver); ok {
				// Apps call their dependencies through the router too, at
				// the default bridge's gateway, which every container reaches.
				if gateway, err = dd.BridgeGateway(ctx); err != nil {
					return err
				}
			}
			rt, err := startRouter(ctx, g.dataDir, &rc, gateway, logger)
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
		// Containers reach PostgreSQL on this host at the default bridge's
		// gateway; the local cluster listens there, and admits pods' roles
		// from Docker's address pools only. Pods on Kubernetes come from
		// addresses this host cannot know.
		pgNet := []databases.LocalOption{databases.ListenOn("*"), databases.AdmitPods("0.0.0.0/0", "::/0")}
		var dbHost string
		if dd, ok := drv.(*docker.Driver); ok {
			if dbHost, err = dd.BridgeGateway(ctx); err != nil {
				return err
			}
			pgNet = []databases.LocalOption{databases.ListenOn(dbHost)}
			if adminURL == "" {
				subnets, err := dd.ContainerSubnets(ctx)
				if err != nil {
					return err
				}
				pgNet = append(pgNet, databases.AdmitPods(subnets...))
			}
		}
		if adminURL == "" {
			logger.Info("starting the local PostgreSQL cluster for pod databases", "dir", filepath.Join(g.dataDir, "postgres"))
			cl, err := databases.StartLocal(ctx, filepath.Join(g.dataDir, "postgres"), logger, pgNet...)
			if err != nil {
				return err
			}
			adminURL = cl.AdminURL()
		}
		dbs, err := databases.Open(ctx, adminURL, logger, databases.WithInstallation(inst))
		if err != nil {
			return err
		}
		defer dbs.Close()
		// The engine makes the apps' databases; pods only snapshot, list
		// and drop them.
		provider := &databases.Provider{Manager: dbs, LocalHost: dbHost}
		if g, ok := drv.(runtime.Gatewayer); ok {
			provider.Gateway = g.HostAddress
		}
		podSvc.Databases, engine.Databases = dbs, provider
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
	streams := &server.Streams{Total: cfg.maxStreams, PerUser: cfg.maxUserStreams}
	webUI := ui.New(ui.Config{Catalog: cat, Auth: authSvc, Config: cfgSvc, Pods: podSvc, Deploys: engine, Store: st, Streams: streams, Logger: logger.With("component", "ui"), Version: Version})
	srv.UI, srv.Streams = webUI, streams

	hs := server.HTTPServer(srv.Handler(), cfg.timeouts)
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
