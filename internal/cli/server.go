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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/streams"
	"github.com/spacepods/spacepods/internal/ui"
)

type serverConfig struct {
	listen       string
	databaseURL  string
	postgresURL  string
	runtime      string
	defaultTTL   time.Duration
	reapInterval time.Duration
	idleTimeout  time.Duration
	logLevel     string
	logFormat    string
	router       routerConfig
	registry     registryConfig
	secretStore  string
	vault        secrets.VaultConfig
	aws          awsFlags
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
	builder        builderConfig
	forge          forgeConfig
	oidc           oidcConfig
	notify         notifyConfig
	// notifier is what the domain services tell (built by runServer).
	notifier spacepods.Notifier
	pipeline pipelineConfig
}

// envFlags are the flags that take their SPACEPODS_* variable in RunE
// (typed flags: a bad value is an error, not a silent default).
var envFlags = []string{"trusted-proxy", "http-read-timeout", "http-write-timeout", "http-idle-timeout", "max-streams", "max-streams-per-user", "pod-quota", "build-concurrency", "default-ttl", "reap-interval", "idle-timeout", "router-internal-port", "registry-port"}

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
	cmd := &cobra.Command{ //nolint:gosec // the 'password in URL' is help text with placeholder URLs
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

Images are pushed to a registry: by default an embedded docker-registry on
loopback with its storage in <data-dir>/registry (started as its own
process, or adopted), whose push notifications record builds; or an existing
registry with --registry HOST (docs/registry.md). Each release runs its image
by digest, pulled when the Docker host lacks it.

With --runtime kubernetes it runs environments on a cluster instead: a
namespace per environment, Deployments, Services and Jobs (see
docs/kubernetes.md). App hosts are then routed by an Ingress each, served by
the cluster's ingress controller (--ingress-class), and no edge router is
started; --routing router keeps the built-in router in front of the
cluster, targeting each release's Service (by node port with
--kubernetes-node-address, else by ClusterIP from inside the cluster).
Pods reach PostgreSQL at --kubernetes-host-address.

With --databases rds-instance, masters' apps use RDS instances of their own
(--rds-master-instance-pattern), snapshot create of one is an RDS snapshot, and
a pod cloning it gets an RDS instance restored from it, deleted with the pod;
other databases stay on the PostgreSQL server (see docs/aws.md).

With --forge github|gitea it takes the code forge's webhooks at
POST /api/v1/hooks/forge (signed with --forge-webhook-secret-file), keeps a
delivery log, and talks back to the forge with --forge-token-file (or a
GitHub App); with --oidc-issuer people sign in to the web UI with their forge
account (see docs/forges.md).

On first start it creates an admin token and writes it to
<data-dir>/admin.token (mode 0600); the CLI on this machine picks it up.

Every flag can also be set with an environment variable: SPACEPODS_ + the flag
name in upper case with '-' as '_' (e.g. SPACEPODS_DATABASE_URL).`,
		Example: `  spacepods server
  spacepods server --database-url postgres://spacepods:pw@127.0.0.1/spacepods --postgres-admin-url postgres://postgres:pw@127.0.0.1:5432/postgres
  spacepods server --runtime kubernetes --kubeconfig ~/.kube/spacepods.yaml --ingress-class nginx \
      --domain dev.example.com --kubernetes-host-address 10.0.12.5 --postgres-admin-url postgres://postgres:pw@10.0.12.5:5432/postgres
  spacepods server --registry registry.example.com --registry-username spacepods --registry-password-file /etc/spacepods/registry.pw
  spacepods server --runtime none      # catalog, builds and tokens only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd, append(envFlags, forgeEnvFlags...)); err != nil {
				return err
			}
			return runServer(cmd.Context(), g, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.listen, "listen", envOr("SPACEPODS_LISTEN", "127.0.0.1:7070"), "API address (env SPACEPODS_LISTEN)")
	f.StringVar(&cfg.databaseURL, "database-url", envOr("SPACEPODS_DATABASE_URL", ""), "empty = embedded SQLite in the data dir; postgres://... = PostgreSQL (env SPACEPODS_DATABASE_URL)")
	f.StringVar(&cfg.postgresURL, "postgres-admin-url", envOr("SPACEPODS_POSTGRES_ADMIN_URL", ""), "PostgreSQL server for pod databases (superuser URL); empty = start a local cluster (env SPACEPODS_POSTGRES_ADMIN_URL)")
	f.StringVar(&cfg.runtime, "runtime", envOr("SPACEPODS_RUNTIME", "docker"), "docker, kubernetes, ecs (Amazon ECS; docs/aws.md), or none for a catalog-only server (env SPACEPODS_RUNTIME)")
	f.DurationVar(&cfg.defaultTTL, "default-ttl", 24*time.Hour, "TTL of pods created without --ttl (env SPACEPODS_DEFAULT_TTL)")
	f.DurationVar(&cfg.reapInterval, "reap-interval", 30*time.Second, "how often expired pods are destroyed (env SPACEPODS_REAP_INTERVAL)")
	f.DurationVar(&cfg.idleTimeout, "idle-timeout", 30*time.Minute, "how long a pod's web apps may go without a request before they sleep, for pods created without --idle-timeout; 0 = those never sleep; masters never do (env SPACEPODS_IDLE_TIMEOUT; docs/sleep.md)")
	f.StringVar(&cfg.logLevel, "log-level", envOr("SPACEPODS_LOG_LEVEL", "info"), "debug, info, warn or error (env SPACEPODS_LOG_LEVEL)")
	f.StringVar(&cfg.logFormat, "log-format", envOr("SPACEPODS_LOG_FORMAT", "text"), "text or json (env SPACEPODS_LOG_FORMAT)")
	f.StringVar(&cfg.secretStore, "secret-store", envOr("SPACEPODS_SECRET_STORE", "local"), "where secrets live: local (encrypted in the store, master key <data-dir>/secrets.key or SPACEPODS_MASTER_KEY), vault, ssm (AWS Parameter Store) or secretsmanager (AWS Secrets Manager; see docs/aws.md) (env SPACEPODS_SECRET_STORE)")
	f.StringVar(&cfg.vault.Address, "vault-addr", envOr("SPACEPODS_VAULT_ADDR", ""), "Vault address, e.g. https://vault.example:8200 (env SPACEPODS_VAULT_ADDR)")
	f.StringVar(&cfg.vault.Token, "vault-token", envOr("SPACEPODS_VAULT_TOKEN", ""), "Vault token (env SPACEPODS_VAULT_TOKEN); or use AppRole")
	f.StringVar(&cfg.vault.RoleID, "vault-role-id", envOr("SPACEPODS_VAULT_ROLE_ID", ""), "Vault AppRole role_id (env SPACEPODS_VAULT_ROLE_ID)")
	f.StringVar(&cfg.vault.SecretID, "vault-secret-id", envOr("SPACEPODS_VAULT_SECRET_ID", ""), "Vault AppRole secret_id (env SPACEPODS_VAULT_SECRET_ID)")
	f.StringVar(&cfg.vault.Mount, "vault-mount", envOr("SPACEPODS_VAULT_MOUNT", "secret"), "Vault KV v2 mount (env SPACEPODS_VAULT_MOUNT)")
	f.StringVar(&cfg.vault.Namespace, "vault-namespace", envOr("SPACEPODS_VAULT_NAMESPACE", ""), "Vault namespace (env SPACEPODS_VAULT_NAMESPACE)")
	f.StringVar(&cfg.vault.PathPrefix, "vault-prefix", envOr("SPACEPODS_VAULT_PREFIX", "spacepods"), "path prefix of Spacepods' secrets in the mount (env SPACEPODS_VAULT_PREFIX)")
	addAWSFlags(f, &cfg.aws)
	f.StringVar(&cfg.kubeconfig, "kubeconfig", envOr("SPACEPODS_KUBECONFIG", ""), "kubernetes runtime: kubeconfig file; empty = in-cluster config (env SPACEPODS_KUBECONFIG)")
	f.StringVar(&cfg.kubeContext, "kube-context", envOr("SPACEPODS_KUBE_CONTEXT", ""), "kubernetes runtime: kubeconfig context (env SPACEPODS_KUBE_CONTEXT)")
	f.StringVar(&cfg.ingressClass, "ingress-class", envOr("SPACEPODS_INGRESS_CLASS", ""), "kubernetes runtime: ingressClassName of app Ingresses (env SPACEPODS_INGRESS_CLASS)")
	f.StringVar(&cfg.routing, "routing", envOr("SPACEPODS_ROUTING", ""), "how app hosts are routed: router (the built-in edge router), ingress (a Kubernetes Ingress per app host, served by the cluster's ingress controller) or alb (a rule per app host on an AWS load balancer listener, weighted between releases; --alb-listener, --alb-vpc, --route53-zone); default router on docker, ingress on kubernetes (env SPACEPODS_ROUTING)")
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
	f.IntVar(&cfg.maxStreams, "max-streams", streams.DefaultMax, "live streams (UI live pages, log follows) open at once, in total (env SPACEPODS_MAX_STREAMS)")
	f.IntVar(&cfg.maxUserStreams, "max-streams-per-user", streams.DefaultMaxPerUser, "live streams open at once per user (token) (env SPACEPODS_MAX_STREAMS_PER_USER)")
	f.IntVar(&cfg.podQuota, "pod-quota", 5, "pods one user (token) may have at once; admins are exempt; 0 = no limit (env SPACEPODS_POD_QUOTA)")
	f.IntVar(&cfg.builder.concurrency, "build-concurrency", 1, "built-in builder: builds run at once; more wait in its queue (env SPACEPODS_BUILD_CONCURRENCY)")
	cfg.router.flags(cmd, "router-")
	cfg.registry.flags(cmd)
	cfg.forge.flags(cmd)
	cfg.oidc.flags(cmd)
	cfg.notify.flags(cmd)
	cfg.pipeline.flags(cmd)
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

// runServer is the composition root: each step below builds one part of
// the control plane from the flags and hands it to the next.
func runServer(parent context.Context, g *globals, cfg serverConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
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
	defer func() { _ = lock.Close() }() // best-effort cleanup; nothing useful to do on failure
	ln, err := listenAPI(cfg.listen)
	if err != nil {
		return err
	}
	defer func() { _ = ln.Close() }() // best-effort cleanup; nothing useful to do on failure
	st, err := store.Open(ctx, cfg.databaseURL, g.dataDir)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }() // best-effort cleanup; nothing useful to do on failure
	srv, err := newAPI(ctx, g.dataDir, cfg, st, logger)
	if err != nil {
		return err
	}
	publicURL := cfg.forge.publicURL
	if publicURL == "" {
		publicURL = "http://" + cfg.listen
	}
	nt, err := newNotifier(cfg.notify, publicURL, st, logger)
	if err != nil {
		return err
	}
	cfg.notifier = nt.notifier()
	bridge := &pipelineBridge{notifier: cfg.notifier, publicURL: publicURL}
	nt.Approver = bridge
	var pullLogin runtime.RegistryLogin
	if srv.Registry, pullLogin, err = startRegistry(ctx, g.dataDir, ln.Addr().String(), cfg.registry, st, logger); err != nil {
		return err
	}
	var rt *runningRuntime
	if cfg.runtime == runtimeNone {
		logger.Info("runtime none: pods and deploys are off")
		srv.Runtime = runtimeNone
	} else {
		if rt, err = startRuntime(ctx, g.dataDir, cfg, st, srv, pullLogin, logger); err != nil {
			return err
		}
		defer rt.close()
	}
	nt.start(ctx, srv, st, logger)
	defer nt.stop()
	fgc, err := openForge(&cfg.forge)
	if err != nil {
		return err
	}
	waitBuilder, err := startBuilder(ctx, g.dataDir, cfg.builder, st, srv, fgc, logger)
	if err != nil {
		return err
	}
	defer waitBuilder()
	if cfg.forge.publicURL == "" {
		cfg.forge.publicURL = "http://" + cfg.listen
	}
	fg, err := startForge(ctx, cfg.forge, fgc, srv, st, logger)
	if err != nil {
		return err
	}
	defer fg.stop()
	waitPipeline, err := startPipeline(ctx, cfg.pipeline, g.dataDir, srv, st, fg.client(), cfg.forge.publicURL, bridge, logger)
	if err != nil {
		return err
	}
	bridge.p.Store(srv.Pipeline)
	defer waitPipeline()
	oidc, err := newOIDC(cfg.oidc, srv.Auth, st)
	if err != nil {
		return err
	}
	webUI := attachUI(srv, cfg, oidc, logger)
	logger.Info("spacepods server started", "api", "http://"+ln.Addr().String(), "store", st.Dialect(), "data_dir", g.dataDir, "version", Version)
	return serve(ctx, ln, srv, webUI, cfg.timeouts, rt, logger)
}

// runtimeNone is --runtime none: a catalog-only server.
const runtimeNone = "none"

// validate checks the flags that need nothing started, so that a typo fails
// before the server takes its data dir, its ports or its store.
func (cfg serverConfig) validate() error {
	if _, err := newLogger(cfg.logLevel, cfg.logFormat); err != nil {
		return err
	}
	if cfg.maxStreams < 1 || cfg.maxUserStreams < 1 || cfg.podQuota < 0 {
		return spacepods.Errorf(spacepods.EINVALID, "--max-streams and --max-streams-per-user must be at least 1, --pod-quota at least 0 (0 = no limit)")
	}
	if cfg.builder.concurrency < 1 {
		return spacepods.Errorf(spacepods.EINVALID, "--build-concurrency must be at least 1 (builds run at once), got %d", cfg.builder.concurrency)
	}
	if cfg.runtime != runtimeNone && !slices.Contains(runtime.Drivers(), cfg.runtime) {
		return spacepods.Errorf(spacepods.EINVALID, "--runtime %q: use %s (with --kubeconfig, or in a cluster), or none for a catalog-only server", cfg.runtime, strings.Join(runtime.Drivers(), ", "))
	}
	if err := cfg.aws.client.Validate(); err != nil {
		return err
	}
	if err := cfg.aws.validateDatabases(); err != nil {
		return err
	}
	if err := cfg.registry.validate(); err != nil {
		return err
	}
	switch cfg.routing {
	case "", runtime.RoutingRouter, runtime.RoutingIngress:
	case runtime.RoutingALB:
		if cfg.aws.alb.ListenerARN == "" || cfg.aws.alb.VPCID == "" {
			return spacepods.Errorf(spacepods.EINVALID, "--routing alb needs --alb-listener (the listener ARN) and --alb-vpc (the target groups' VPC); see docs/aws.md")
		}
	default:
		return spacepods.Errorf(spacepods.EINVALID, "--routing %q: use router (any runtime), ingress (kubernetes only) or alb (an AWS load balancer; docs/aws.md)", cfg.routing)
	}
	return cfg.forge.validate()
}

// listenAPI takes the API's address first: a second server on the same
// port fails here, before it starts anything.
func listenAPI(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the API cannot listen on %s: %v: another program (another Spacepods server?) has it; choose another address with --listen", addr, err)
	}
	return ln, nil
}

// newAPI builds the services every runtime serves (tokens, catalog,
// secrets, config) and the API server over them.
func newAPI(ctx context.Context, dataDir string, cfg serverConfig, st *store.Store, logger *slog.Logger) (*server.Server, error) {
	proxies, err := auth.ParseTrustedProxies(cfg.trustedProxies)
	if err != nil {
		return nil, err
	}
	authSvc := &auth.Service{Store: st, TrustedProxies: proxies}
	tokenPath, created, err := authSvc.Bootstrap(ctx, dataDir)
	if err != nil {
		return nil, fmt.Errorf("create the first admin token: %w", err)
	}
	if created {
		logger.Info("created the first admin token", "file", tokenPath)
	}
	cat := catalog.NewService(st)
	secretStore, err := secrets.Open(ctx, cfg.secretStore, secrets.Config{Local: secrets.LocalConfig{DataDir: dataDir, Blobs: st}, Vault: cfg.vault, Settings: cfg.aws.secretSettings()})
	if err != nil {
		return nil, err
	}
	logger.Info("secret store ready", "backend", secretStore.Name())
	cfgSvc := &config.Service{Store: st, Secrets: secretStore}
	srv := &server.Server{Catalog: cat, Auth: authSvc, Store: st, Config: cfgSvc, Logger: logger, Version: Version}
	offerKeyRotation(ctx, srv, secretStore, dataDir, logger)
	return srv, nil
}

// offerKeyRotation serves `spacepods secrets rotate-key` when the secret
// store is the local one (Vault rotates its own keys), and warns while
// secrets are still wrapped by the previous master key.
func offerKeyRotation(ctx context.Context, srv *server.Server, secretStore secrets.Store, dataDir string, logger *slog.Logger) {
	l, ok := secretStore.(*secrets.Local)
	if !ok {
		return
	}
	if n, err := l.UnderPreviousKey(ctx); err == nil && n > 0 {
		logger.Warn("secrets are still wrapped by the previous master key: run `spacepods secrets rotate-key`, then remove "+secrets.PreviousMasterKeyEnv,
			"secrets", n, "previous_key", l.PreviousKeyID(), "key", l.KeyID())
	}
	srv.RotateKey = func(ctx context.Context) (spacepods.KeyRotation, error) {
		r, err := secrets.RotateMasterKey(ctx, l, dataDir)
		return spacepods.KeyRotation{KeyID: r.KeyID, Next: r.Next}, err
	}
}

// attachUI gives the API server the web UI and the live stream limits
// they share.
func attachUI(srv *server.Server, cfg serverConfig, oidc *auth.OIDC, logger *slog.Logger) *ui.UI {
	streams := &streams.Limiter{Total: cfg.maxStreams, PerUser: cfg.maxUserStreams}
	webUI := ui.New(ui.Config{Catalog: srv.Catalog, Auth: srv.Auth, OIDC: oidc, Config: srv.Config, Pods: srv.Pods, Deploys: srv.Deploys, Tests: srv.Tests, Pipeline: srv.Pipeline, Notes: srv.Notes, Builder: srv.Builder, Store: srv.Store, Streams: streams, Logger: logger.With("component", "ui"), Version: Version})
	srv.UI, srv.Streams = webUI, streams
	return webUI
}

// serve answers on ln until ctx ends, then shuts down: requests in flight
// get 10 s, deploys and pod work reach a safe point. The edge router and
// the local PostgreSQL cluster keep running.
func serve(ctx context.Context, ln net.Listener, srv *server.Server, webUI *ui.UI, timeouts server.Timeouts, rt *runningRuntime, logger *slog.Logger) error {
	hs := server.HTTPServer(srv.Handler(), timeouts)
	hs.RegisterOnShutdown(webUI.Close) // end the UI's live streams, or Shutdown waits for them
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
	err := hs.Shutdown(sctx)
	if rt != nil {
		rt.wait()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
