package cli

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/ecs"
	"github.com/spacepods/spacepods/internal/runtime/kubernetes"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// runningRuntime is what runs pods and deploys once startRuntime is done.
type runningRuntime struct {
	engine *deploy.Engine
	pods   *pods.Service
	tests  *gatekeeper.Service
	dbs    *databases.Manager
}

// wait returns once the deploy engine and the pod service have stopped
// (their context ended).
func (rt *runningRuntime) wait() {
	rt.engine.Wait()
	rt.pods.Wait()
	rt.tests.Wait()
}

func (rt *runningRuntime) close() { rt.dbs.Close() }

// startRuntime opens the --runtime driver and starts what runs on it: the
// routing of app hosts, PostgreSQL for app databases, the deploy engine and
// the pod service, which it gives to srv.
func startRuntime(ctx context.Context, dataDir string, cfg serverConfig, st *store.Store, srv *server.Server, pullLogin runtime.RegistryLogin, logger *slog.Logger) (*runningRuntime, error) {
	// Everything this installation makes on the runtime and the
	// PostgreSQL server carries its ID: installations sharing them keep
	// apart.
	inst, err := st.Installation(ctx)
	if err != nil {
		return nil, err
	}
	logger.Info("installation", "id", inst)
	settings := cfg.runtimeSettings()
	if ref, ok := srv.Config.Secrets.(ecs.SecretReferencer); ok {
		// ECS reads secrets itself: its task definitions name them.
		ec := settings[ecs.ID].(ecs.Config)
		ec.Secrets = ref
		settings[ecs.ID] = ec
	}
	drv, err := runtime.Open(ctx, cfg.runtime, runtime.Config{Installation: inst, Domain: cfg.router.domain, Routing: cfg.routing,
		Secrets: srv.Config, Registry: pullLogin, Logger: logger.With("component", cfg.runtime), Settings: settings})
	if err != nil {
		return nil, err
	}
	routing, ingress, err := routingOf(cfg, drv)
	if err != nil {
		return nil, err
	}
	// Where every container reaches this host (Docker's default bridge),
	// for the router's internal listener and the local PostgreSQL.
	gateway := ""
	if bg, ok := drv.(runtime.BridgeGatewayer); ok {
		if gateway, err = bg.BridgeGateway(ctx); err != nil {
			return nil, err
		}
	}
	podSvc := &pods.Service{Store: st, Catalog: srv.Catalog, Driver: drv, DefaultTTL: cfg.defaultTTL, PodQuota: cfg.podQuota, Logger: logger.With("component", "pods"), Notifier: cfg.notifier}
	engine := &deploy.Engine{Store: st, Catalog: srv.Catalog, Driver: drv, Ingress: ingress, Config: srv.Config, Domain: cfg.router.domain, Logger: logger.With("component", "deploy"), Notifier: cfg.notifier,
		Images: pinner(srv, drv)}
	switch {
	case routing == runtime.RoutingALB:
		mover, err := cfg.aws.openALB(ctx, inst, cfg.router.domain, logger)
		if err != nil {
			return nil, err
		}
		engine.Weighted, podSvc.Routes = mover, mover
		logger.Info("routing: a rule per app host on an AWS load balancer listener; the built-in edge router is not started", "listener", cfg.aws.alb.ListenerARN, "zone", cfg.aws.alb.HostedZoneID)
	case ingress == nil:
		if err := useEdgeRouter(ctx, dataDir, cfg.router, gateway, engine, podSvc, logger); err != nil {
			return nil, err
		}
	default:
		logger.Info("routing: an Ingress per app host; the built-in edge router is not started", "ingress_class", cfg.ingressClass, "domain", cfg.router.domain, "tls", cfg.ingressTLS)
		if cfg.ingressTLS {
			engine.Scheme = "https"
		}
	}
	dbs, err := openDatabases(ctx, dataDir, cfg.postgresURL, drv, gateway, inst, logger)
	if err != nil {
		return nil, err
	}
	// The engine makes the apps' databases; pods only snapshot, list and
	// drop them.
	provider := &databases.Provider{Manager: dbs, LocalHost: gateway}
	if g, ok := drv.(runtime.Gatewayer); ok {
		provider.Gateway = g.HostAddress
	}
	podSvc.Databases, engine.Databases = dbs, provider
	if rdb, err := cfg.aws.rdsDatabases(ctx, inst, provider, st, srv.Config.Secrets, logger); err != nil || rdb != nil {
		if err != nil {
			dbs.Close()
			return nil, err
		}
		engine.Databases, podSvc.Dedicated = rdb, rdb
		logger.Info("databases: masters' RDS instances, pods' instances restored from their snapshots, others on the PostgreSQL server", "pattern", cfg.aws.masters.Pattern)
	}
	if engine.Options.PauseAt, engine.Options.PauseFor, err = deployPause(logger); err != nil {
		dbs.Close()
		return nil, err
	}
	podSvc.Engine = engine
	if err := engine.Start(ctx); err != nil {
		dbs.Close()
		return nil, err
	}
	if err := podSvc.Start(ctx, cfg.reapInterval); err != nil {
		dbs.Close()
		return nil, err
	}
	startSleeper(ctx, podSvc, cfg.idleTimeout, logger)
	tests := &gatekeeper.Service{Store: st, Catalog: srv.Catalog, Driver: drv, Endpoints: engine, Logger: logger.With("component", "gatekeeper"), Notifier: cfg.notifier}
	if err := tests.Start(ctx); err != nil {
		dbs.Close()
		return nil, err
	}
	srv.Pods, srv.Deploys, srv.Tests = podSvc, engine, tests
	srv.Runtime, srv.Routing, srv.Installation = cfg.runtime, routing, inst
	return &runningRuntime{engine: engine, pods: podSvc, tests: tests, dbs: dbs}, nil
}

// pinner pins releases' images: by digest on the registry (with the
// server's registry login), by image ID for images only on a Docker host.
func pinner(srv *server.Server, drv runtime.Driver) *builds.Pinner {
	p := &builds.Pinner{Images: &builds.Client{}}
	if srv.Registry != nil {
		p.Images = srv.Registry.Images
	}
	if h, ok := drv.(runtime.ImageHost); ok {
		p.Host = h
	}
	return p
}

// runtimeSettings are the drivers' own settings from their flags; each
// driver reads its own (runtime.Config.Settings).
func (cfg serverConfig) runtimeSettings() map[string]any {
	return map[string]any{
		ecs.ID: cfg.aws.ecsSettings(),
		kubernetes.ID: kubernetes.Config{Kubeconfig: cfg.kubeconfig, Context: cfg.kubeContext, IngressClass: cfg.ingressClass,
			HostAddress: cfg.kubeHostAddr, NodeAddress: cfg.kubeNodeAddr, ImagePullSecret: cfg.pullSecret,
			Isolation: cfg.isolation, AllowFrom: cfg.allowFrom, IngressTLS: cfg.ingressTLS, IngressAnnotations: cfg.ingressAnn},
	}
}

// routingOf returns how app hosts are routed: --routing, by default the
// runtime's own routes when it has them (runtime.Ingresser), else the edge
// router. ingress is the driver when it routes.
func routingOf(cfg serverConfig, drv runtime.Driver) (routing string, ingress runtime.Ingresser, err error) {
	in, canRoute := drv.(runtime.Ingresser)
	routing = cfg.routing
	if routing == "" {
		routing = runtime.RoutingRouter
		if canRoute {
			routing = runtime.RoutingIngress
		}
	}
	if routing == runtime.RoutingRouter || routing == runtime.RoutingALB {
		return routing, nil, nil
	}
	if !canRoute {
		return "", nil, spacepods.Errorf(spacepods.EINVALID, "--routing %q with --runtime %s: use router (any runtime) or ingress (kubernetes only)", cfg.routing, cfg.runtime)
	}
	return routing, in, nil
}

// useEdgeRouter adopts or starts the edge router process and gives it to
// the engine and the pods. gateway, when set, is where the router's
// internal listener goes: apps call their dependencies through it.
func useEdgeRouter(ctx context.Context, dataDir string, rc routerConfig, gateway string, engine *deploy.Engine, podSvc *pods.Service, logger *slog.Logger) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	proc, err := router.StartProcess(ctx, router.ProcessOptions{Executable: exe, DataDir: dataDir, Listen: rc.listen, Control: rc.control,
		Domain: rc.domain, Gateway: gateway, InternalPort: rc.internalPort, Logger: logger})
	if err != nil {
		return err
	}
	rt := proc.Client
	podSvc.Router, engine.Router = rt, rt
	_, engine.RouterPort, _ = net.SplitHostPort(rc.listen)
	info, err := rt.Info(ctx)
	if err != nil {
		return err
	}
	engine.InternalRouter = info.Internal
	if proc.Internal != "" && info.Internal != proc.Internal {
		logger.Warn("the running edge router has no internal listener at "+proc.Internal+": apps reach their dependencies by network alias until it is restarted (stop it by its PID in <data-dir>/router/router.pid, then restart the server)",
			"router_pid", info.PID, "router_internal", info.Internal)
	}
	return nil
}

// openDatabases opens the PostgreSQL server of app databases: the one
// --postgres-admin-url names, else a local cluster in <data-dir>/postgres.
// Containers reach PostgreSQL on this host at gateway (Docker's default
// bridge), where the local cluster listens, admitting pods' roles from the
// runtime's container subnets only. Pods on Kubernetes come from addresses
// this host cannot know.
func openDatabases(ctx context.Context, dataDir, adminURL string, drv runtime.Driver, gateway, inst string, logger *slog.Logger) (*databases.Manager, error) {
	if adminURL == "" {
		listen, admit := "*", []string{"0.0.0.0/0", "::/0"}
		if gateway != "" {
			listen = gateway
		}
		if cs, ok := drv.(runtime.ContainerSubnetter); ok {
			subnets, err := cs.ContainerSubnets(ctx)
			if err != nil {
				return nil, err
			}
			admit = subnets
		}
		pgNet := []databases.LocalOption{databases.ListenOn(listen), databases.AdmitPods(admit...)}
		dir := filepath.Join(dataDir, "postgres")
		logger.Info("starting the local PostgreSQL cluster for pod databases", "dir", dir)
		cl, err := databases.StartLocal(ctx, dir, logger, pgNet...)
		if err != nil {
			return nil, err
		}
		adminURL = cl.AdminURL()
	}
	return databases.Open(ctx, adminURL, logger, databases.WithInstallation(inst))
}
