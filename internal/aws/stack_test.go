package aws_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/aws/alb"
	"github.com/spacepods/spacepods/internal/awsclient/awstest"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/ecs"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/testenv"
)

// awsStack is what the AWS pod tests share: an installation on the
// emulator's ECS (EC2 instances, bridge mode) behind an ALB listener and a
// Route 53 zone, a store and catalog, and databases on the local
// PostgreSQL. Each test registers its apps and starts the services with
// what it changes (routes, databases).
type awsStack struct {
	inst    string
	cluster string
	lb      awstest.LoadBalancer
	drv     *noDataPlane
	mover   *alb.Mover
	st      *store.Store
	cat     *catalog.Service
	dbs     *databases.Manager
	root    string
}

func newAWSStack(t *testing.T, ctx context.Context, ecsInstances int) *awsStack {
	t.Helper()
	pgURL := testenv.PostgresURL(t)
	s := &awsStack{inst: testenv.AWSName("inst"), root: repoRoot(t)}
	s.lb = awstest.NewLoadBalancer(t, testenv.AWSName("pods")+".example.test")
	s.cluster = awstest.ECSClusterWithInstances(t, ecsInstances)
	// moto 5.2.5 runs tasks (the migration) only with EC2 in bridge mode:
	// see internal/runtime/ecs's tests.
	raw, err := runtime.Open(ctx, ecs.ID, runtime.Config{Installation: s.inst, Domain: s.lb.Domain, Routing: runtime.RoutingALB,
		Settings: map[string]any{ecs.ID: ecs.Config{AWS: awstest.Config(t), Cluster: s.cluster, LaunchType: "EC2", NetworkMode: "bridge", PollInterval: 20 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	s.drv = &noDataPlane{Driver: raw, images: map[string]string{}}
	s.mover, err = alb.New(ctx, alb.Config{AWS: awstest.Config(t), ListenerARN: s.lb.ListenerARN, VPCID: s.lb.VPC, HostedZoneID: s.lb.ZoneID, Domain: s.lb.Domain, Installation: s.inst})
	if err != nil {
		t.Fatal(err)
	}
	s.st, err = store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.st.Close() })
	s.cat = catalog.NewService(s.st)
	s.dbs, err = databases.Open(ctx, pgURL, nil, databases.WithInstallation(s.inst))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.dbs.Close)
	return s
}

// awsRoutes is what moves traffic and removes routes: the ALB mover, or a
// test's wrapper of it.
type awsRoutes interface {
	pods.RouteRemover
	deploy.WeightedRouter
}

// start runs the pods service and the deploy engine until the test ends:
// routes through routes, apps' databases from dbs, and dedicated (nil: none)
// for the pods' databases on instances of their own.
func (s *awsStack) start(t *testing.T, routes awsRoutes, dbs deploy.Databases, dedicated pods.Dedicated) (*pods.Service, *deploy.Engine) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	podSvc := &pods.Service{Store: s.st, Catalog: s.cat, Driver: s.drv, Routes: routes, Databases: s.dbs, Dedicated: dedicated, Logger: logger}
	engine := &deploy.Engine{Store: s.st, Catalog: s.cat, Driver: s.drv, Weighted: routes, Databases: dbs,
		Domain: s.lb.Domain, Logger: logger, Options: deploy.Options{HealthTimeout: 3 * time.Second, Bake: -1, Poll: 50 * time.Millisecond}}
	podSvc.Engine = engine
	ectx, stop := context.WithCancel(context.Background())
	t.Cleanup(func() { stop(); engine.Wait(); podSvc.Wait() })
	if err := engine.Start(ectx); err != nil {
		t.Fatal(err)
	}
	if err := podSvc.Start(ectx, 0); err != nil {
		t.Fatal(err)
	}
	return podSvc, engine
}
