package aws_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	awsrds "github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/spacepods/spacepods/internal/aws/rds"
	"github.com/spacepods/spacepods/internal/awsclient/awstest"
	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/testenv"
)

// The dedicated-instance mode (--databases rds-instance) through the pods
// service and the deploy engine, on moto: the master's catalog-api uses
// the master's own RDS instance; `snapshot create` of it is
// CreateDBSnapshot, recorded with kind rds; a pod whose catalog-api names
// that snapshot gets an instance of its own restored from it (tagged, its
// status as the pod's events) and its endpoint as DATABASE_URL, while
// pricing-api's seedless database and the pod's stay on the shared
// PostgreSQL server; destroying the pod deletes its instance, never the
// master's; the leak audit finds an instance of an environment that is
// gone. moto creates no database server: no instance here holds data or
// answers on its endpoint, so what is asserted is what the RDS API shows.
func TestAWSPod_DedicatedRDSInstanceFromMasterSnapshot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ac := awstest.SDK(t)
	stk := newAWSStack(t, ctx, 2)
	inst, mover, st, cat, dbs, root, cluster := stk.inst, stk.mover, stk.st, stk.cat, stk.dbs, stk.root, stk.cluster
	snapName := testenv.AWSName("prod-copy")
	register(t, ctx, cat, root, "pricing-api", nil)
	// catalog-api's database comes from the master's snapshot, not its seed.
	register(t, ctx, cat, root, "catalog-api", func(m string) string {
		return strings.Replace(m, "seed: db/seed.sql", "snapshot: "+snapName, 1)
	})
	key := make([]byte, 32)
	local, err := secrets.NewLocal(st, key)
	if err != nil {
		t.Fatal(err)
	}
	cfgSvc := &config.Service{Store: st, Secrets: local}

	rc, err := rds.New(ctx, rds.Config{AWS: awstest.Config(t), Installation: inst, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	shared := &databases.Provider{Manager: dbs, LocalHost: "127.0.0.1"}
	rdb := &rds.Databases{Client: rc, Shared: shared, Store: st, Secrets: local, Masters: rds.Masters{Pattern: "{env}-{app}"}}
	podSvc, engine := stk.start(t, mover, rdb, rdb)

	// The master and its catalog-api's own instance (the team's: made
	// here through the API), named by the pattern, and its password kept
	// as the app's secret in the master's scope.
	master := testenv.AWSName("prod")
	if _, err := podSvc.CreateMaster(ctx, master, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = podSvc.Destroy(context.Background(), master) }) // best effort; the test checks destroy itself
	api := awsrds.NewFromConfig(ac)
	masterDB := master + "-catalog-api"
	// (moto's server may drop a kept-alive connection after answering; the
	// SDK's retry then finds the instance made: that is success.)
	if _, err := api.CreateDBInstance(ctx, &awsrds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(masterDB), Engine: aws.String("postgres"), DBName: aws.String("catalog"),
		DBInstanceClass: aws.String("db.t4g.micro"), MasterUsername: aws.String("catalog"), MasterUserPassword: aws.String("not-a-real-password"), AllocatedStorage: aws.Int32(20)}); err != nil &&
		!strings.Contains(err.Error(), "DBInstanceAlreadyExists") {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = api.DeleteDBInstance(context.Background(), &awsrds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(masterDB), SkipFinalSnapshot: aws.Bool(true)}) // best effort
	})
	catApp, err := cat.Get(ctx, "catalog-api")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfgSvc.Set(ctx, catApp, spacepods.SetConfigRequest{Scope: spacepods.EnvScope(master), Vars: map[string]string{rds.PasswordVar: "not-a-real-password"}, Secret: true}); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"pricing-api", "catalog-api"} {
		d, err := engine.Submit(ctx, deploy.Request{Env: master, App: app, Build: 1})
		if err == nil {
			d, err = engine.WaitDeploy(ctx, d.ID)
		}
		if err != nil || d.Status != spacepods.DeployCompleted {
			t.Fatalf("deploy of %s to the master: %+v, %v", app, d, err)
		}
	}
	ec := awsecs.NewFromConfig(ac)
	masterInst, err := rc.Describe(ctx, masterDB)
	if err != nil {
		t.Fatal(err)
	}
	if u := databaseURL(t, ctx, ec, cluster, master, "catalog-api"); u.Host != masterInst.Endpoint || u.User.Username() != "catalog" || u.Path != "/catalog" || u.Query().Get("sslmode") != "require" {
		t.Errorf("the master's catalog-api DATABASE_URL %s, want its instance's endpoint %s, user catalog, database catalog, TLS", u.Redacted(), masterInst.Endpoint)
	}

	// snapshot create on the master: CreateDBSnapshot of its instance,
	// waited on, recorded with its kind, its progress as the master's events.
	snap, err := podSvc.Snapshot(ctx, master, "catalog-api", snapName)
	if err != nil {
		t.Fatal(err)
	}
	snapID := rds.SnapshotID(inst, snapName)
	if snap.Kind != spacepods.SnapshotRDS || snap.Database != snapID || snap.Incomplete {
		t.Errorf("snapshot %+v, want kind rds, RDS snapshot %s, complete", snap, snapID)
	}
	got, err := api.DescribeDBSnapshots(ctx, &awsrds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(snapID)})
	if err != nil || len(got.DBSnapshots) != 1 || aws.ToString(got.DBSnapshots[0].DBInstanceIdentifier) != masterDB || aws.ToString(got.DBSnapshots[0].Status) != "available" {
		t.Fatalf("DescribeDBSnapshots %s: %+v, %v; want an available snapshot of %s", snapID, got, err, masterDB)
	}
	if rec, ok, err := st.GetExternalSnapshot(ctx, snapName); err != nil || !ok || rec.Kind != spacepods.SnapshotRDS || rec.Source != masterDB || rec.Status != store.ExternalAvailable {
		t.Errorf("the store's record of %s: %+v, %v, %v", snapName, rec, ok, err)
	}
	if list, err := podSvc.Snapshots(ctx); err != nil || !slices.ContainsFunc(list, func(s spacepods.Snapshot) bool { return s.Name == snapName && s.Kind == spacepods.SnapshotRDS }) {
		t.Errorf("snapshot list: %+v, %v; want %s of kind rds", list, err, snapName)
	}
	if !hasEvent(t, ctx, st, master, "snapshot "+snapID+": available") {
		t.Errorf("the master's events have no progress of snapshot %s", snapID)
	}

	// A pod of catalog-api (and pricing-api, its dependency).
	pod := testenv.AWSName("pod")
	if _, _, err := podSvc.Create(ctx, spacepods.CreatePodRequest{Name: pod, Apps: []string{"catalog-api"}, TTL: "1h"}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, st, pod, spacepods.StatusReady)
	podDB := rds.InstanceID(pod, "catalog-api")
	out, err := api.DescribeDBInstances(ctx, &awsrds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(podDB)})
	if err != nil || len(out.DBInstances) != 1 {
		t.Fatalf("the pod's instance %s: %+v, %v", podDB, out, err)
	}
	tags := map[string]string{}
	for _, tg := range out.DBInstances[0].TagList {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	want := map[string]string{runtime.LabelInstallation: inst, runtime.LabelEnvironment: pod, runtime.LabelApp: "catalog-api", rds.TagRestoredFrom: snapID}
	if !hasTags(tags, want) {
		t.Errorf("the pod's instance's tags %v, want %v", tags, want)
	}
	podInst, err := rc.Describe(ctx, podDB)
	if err != nil {
		t.Fatal(err)
	}
	if u := databaseURL(t, ctx, ec, cluster, pod, "catalog-api"); u.Host != podInst.Endpoint || u.Host == masterInst.Endpoint || u.User.Username() != "catalog" || u.Path != "/catalog" {
		t.Errorf("the pod's catalog-api DATABASE_URL %s, want its own instance's endpoint %s with the master's user", u.Redacted(), podInst.Endpoint)
	}
	for _, line := range []string{"restoring RDS instance " + podDB + " from snapshot " + snapName, "instance " + podDB + ": available", "database ready in"} {
		if !hasEvent(t, ctx, st, pod, line) {
			t.Errorf("the pod's events have no line with %q", line)
		}
	}
	// pricing-api has no snapshot: its database (none here) and any
	// seeded one stay on the shared server; the master's catalog-api made
	// none there, nor the pod's.
	if list, err := dbs.List(ctx); err != nil || slices.ContainsFunc(list, func(d databases.Database) bool { return d.App == "catalog-api" }) {
		t.Errorf("databases on the shared server: %v, %v; want none of catalog-api", list, err)
	}

	// A leaked instance: restored for an environment that does not exist.
	gone := testenv.AWSName("gone")
	if _, err := rc.Restore(ctx, gone, "catalog-api", snapID, nil); err != nil {
		t.Fatal(err)
	}
	leaks, err := podSvc.Leaks(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	leaked := spacepods.Leak{Kind: pods.LeakRDSInstance, Environment: gone, Name: rds.InstanceID(gone, "catalog-api")}
	if !slices.Contains(leaks, leaked) || slices.ContainsFunc(leaks, func(l spacepods.Leak) bool { return l.Name == podDB || l.Name == masterDB }) {
		t.Errorf("leaks %+v, want %+v and neither the pod's nor the master's instance", leaks, leaked)
	}
	if leaks, err := podSvc.Leaks(ctx, true); err != nil || !slices.ContainsFunc(leaks, func(l spacepods.Leak) bool { return l.Name == leaked.Name && l.Removed }) {
		t.Errorf("removing leaks: %+v, %v", leaks, err)
	}
	if _, err := rc.Describe(ctx, leaked.Name); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Errorf("the leaked instance after removal: %v, want ENOTFOUND", err)
	}

	// Destroy: the pod's instance goes; the master's stays.
	if err := podSvc.Destroy(ctx, pod); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, st, pod, spacepods.StatusDestroyed)
	if _, err := rc.Describe(ctx, podDB); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Errorf("the pod's instance after destroy: %v, want ENOTFOUND", err)
	}
	if err := podSvc.Destroy(ctx, master); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, st, master, spacepods.StatusDestroyed)
	if in, err := rc.Describe(ctx, masterDB); err != nil || in.Status != "available" {
		t.Errorf("the master's instance after destroying the master: %+v, %v; want it untouched", in, err)
	}
}

// databaseURL returns the DATABASE_URL of env's app as its task definition
// holds it, read back through the SDK.
func databaseURL(t *testing.T, ctx context.Context, ec *awsecs.Client, cluster, env, app string) *url.URL {
	t.Helper()
	out, err := ec.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{env + "_" + deploy.ServiceName(app, 1, "")}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("%s's service in %s: %+v, %v", app, env, out, err)
	}
	td, err := ec.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: out.Services[0].TaskDefinition})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range td.TaskDefinition.ContainerDefinitions[0].Environment {
		if aws.ToString(kv.Name) == "DATABASE_URL" {
			u, err := url.Parse(aws.ToString(kv.Value))
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
	}
	t.Fatalf("%s in %s has no DATABASE_URL: %+v", app, env, envNames(td.TaskDefinition.ContainerDefinitions[0].Environment))
	return nil
}

func envNames(env []ecstypes.KeyValuePair) []string {
	var names []string
	for _, kv := range env {
		names = append(names, aws.ToString(kv.Name))
	}
	return names
}

// hasEvent reports whether one of env's events holds part.
func hasEvent(t *testing.T, ctx context.Context, st *store.Store, env, part string) bool {
	t.Helper()
	evs, err := st.Events(ctx, env, 0, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(evs, func(e spacepods.Event) bool { return strings.Contains(e.Message, part) })
}
