// Package aws_test runs the example system on the AWS side as a whole:
// the deploy engine and the pods service with the ECS driver, the ALB
// mover and the databases manager, against moto.
package aws_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	awsrds "github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/spacepods/spacepods/internal/aws/alb"
	"github.com/spacepods/spacepods/internal/aws/rds"
	"github.com/spacepods/spacepods/internal/awsclient/awstest"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/databases"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/testenv"
)

// unhealthyBuild is the build of which the fake data plane reports only
// the first replica healthy: a rollout of it passes its first stage and
// fails its second.
const unhealthyBuild = 92

// noDataPlane stands in for the containers moto never runs: a service's
// replicas are its desired count, running, at made-up addresses, healthy
// unless its image is of unhealthyBuild (see there). Everything else (task
// definitions, services, tasks, destroy) is the real ECS driver on moto.
type noDataPlane struct {
	runtime.Driver
	mu     sync.Mutex
	images map[string]string // env/service → image
}

func (d *noDataPlane) CreateService(ctx context.Context, spec runtime.ServiceSpec) error {
	d.mu.Lock()
	d.images[spec.Environment+"/"+spec.Name] = spec.Image
	d.mu.Unlock()
	return d.Driver.CreateService(ctx, spec)
}

func (d *noDataPlane) fill(st runtime.ServiceStatus) runtime.ServiceStatus {
	d.mu.Lock()
	image := d.images[st.Environment+"/"+st.Name]
	d.mu.Unlock()
	bad := strings.HasSuffix(image, fmt.Sprintf(":%d", unhealthyBuild))
	st.Replicas, st.Running, st.Healthy = nil, st.Desired, 0
	for i := range st.Desired {
		healthy := !bad || i == 0
		st.Replicas = append(st.Replicas, runtime.Replica{ID: fmt.Sprintf("%s-%d", st.Name, i), Addr: fmt.Sprintf("10.%d.%d.%d:8080", len(st.Environment)%200, (st.Release*7+len(st.Name))%250, i+1), Running: true, Healthy: healthy})
		if healthy {
			st.Healthy++
		}
	}
	return st
}

func (d *noDataPlane) ServiceStatus(ctx context.Context, env, name string) (runtime.ServiceStatus, error) {
	st, err := d.Driver.ServiceStatus(ctx, env, name)
	if err != nil {
		return st, err
	}
	return d.fill(st), nil
}

func (d *noDataPlane) ListServices(ctx context.Context, env string) ([]runtime.ServiceStatus, error) {
	list, err := d.Driver.ListServices(ctx, env)
	for i := range list {
		list[i] = d.fill(list[i])
	}
	return list, err
}

// readBack records the rule's weights, read back through the SDK, after
// every change of them the engine makes.
type readBack struct {
	*alb.Mover
	mu   sync.Mutex
	seen map[string][]map[int]int // env/app → weights after each SetWeights
}

func (r *readBack) SetWeights(ctx context.Context, env, app string, weights map[int]int) error {
	if err := r.Mover.SetWeights(ctx, env, app, weights); err != nil {
		return err
	}
	got, err := r.Weights(ctx, env, app)
	if err != nil {
		return fmt.Errorf("reading the weights back: %w", err)
	}
	r.mu.Lock()
	r.seen[env+"/"+app] = append(r.seen[env+"/"+app], got)
	r.mu.Unlock()
	return nil
}

func (r *readBack) take(env, app string) []map[int]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen[env+"/"+app]
	delete(r.seen, env+"/"+app)
	return out
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for !fileExists(filepath.Join(dir, "go.mod")) {
		if parent := filepath.Dir(dir); parent != dir {
			dir = parent
		} else {
			t.Fatal("no go.mod above the test's directory")
		}
	}
	return dir
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// register registers an example app's manifest (edited by edit, if set)
// with its seed and records build 1 and the unhealthy build of it.
func register(t *testing.T, ctx context.Context, cat *catalog.Service, root, app string, edit func(string) string) {
	t.Helper()
	m, err := os.ReadFile(filepath.Join(root, "examples", app, "spacepods.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	manifest := string(m)
	if edit != nil {
		manifest = edit(manifest)
	}
	parsed, err := catalog.ParseManifest([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	seed := ""
	if parsed.Database != nil && parsed.Database.Seed != "" {
		b, err := os.ReadFile(filepath.Join(root, "examples", app, parsed.Database.Seed))
		if err != nil {
			t.Fatal(err)
		}
		seed = string(b)
	}
	if _, _, err := cat.Register(ctx, []byte(manifest), seed); err != nil {
		t.Fatalf("register %s: %v", app, err)
	}
	for _, n := range []int{1, unhealthyBuild} {
		if _, err := cat.RecordBuild(ctx, spacepods.Build{App: app, Number: n, GitSHA: "0123456789abcdef0123456789abcdef01234567", Branch: spacepods.DefaultBranch,
			Image: fmt.Sprintf("registry.internal/%s:%d", app, n)}); err != nil {
			t.Fatal(err)
		}
	}
}

// The example system on ECS + ALB + Route 53, databases on the local
// PostgreSQL (the shared-instance mode: the same manager an RDS instance's
// endpoint would be given), and a pod's dedicated RDS instance restored
// from the master's snapshot at the API level. moto runs no containers and
// serves no traffic: the replicas' health comes from noDataPlane, and what
// is asserted is what the AWS APIs show, read back through the SDK.
func TestAWSPod_ExampleSystemOnECSWithALBAndRDS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ac := awstest.SDK(t)
	stk := newAWSStack(t, ctx, 4)
	inst, lb, mover, st, cat, dbs, root, cluster := stk.inst, stk.lb, stk.mover, stk.st, stk.cat, stk.dbs, stk.root, stk.cluster
	routes := &readBack{Mover: mover, seen: map[string][]map[int]int{}}
	for _, app := range []string{"pricing-api", "catalog-api"} {
		register(t, ctx, cat, root, app, nil)
	}
	// storefront with 4 replicas, so that its stages are 1, 2 and 4.
	register(t, ctx, cat, root, "storefront", func(m string) string {
		return strings.Replace(m, "replicas: {default: 1,", "replicas: {default: 4,", 1)
	})
	podSvc, engine := stk.start(t, routes, &databases.Provider{Manager: dbs, LocalHost: "127.0.0.1"}, nil)

	master := testenv.AWSName("prod")
	if _, err := podSvc.CreateMaster(ctx, master, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = podSvc.Destroy(context.Background(), master) }) // best effort; the test checks destroy itself
	deployAndWait := func(app string, build int) spacepods.Deploy {
		t.Helper()
		d, err := engine.Submit(ctx, deploy.Request{Env: master, App: app, Build: build})
		if err != nil {
			t.Fatal(err)
		}
		if d, err = engine.WaitDeploy(ctx, d.ID); err != nil {
			t.Fatalf("deploy %d of %s: %v", d.ID, app, err)
		}
		return d
	}
	for _, app := range []string{"pricing-api", "catalog-api", "storefront"} {
		if d := deployAndWait(app, 1); d.Status != spacepods.DeployCompleted {
			t.Fatalf("first deploy of %s: %s (%s)", app, d.Status, d.Error)
		}
	}
	if got := routes.take(master, "storefront"); len(got) == 0 || !maps.Equal(got[len(got)-1], map[int]int{1: 4}) {
		t.Fatalf("storefront's weights after its first deploy: %v, want release 1 with 4", got)
	}

	// What a release is on ECS: task definition and service, tagged.
	ec := awsecs.NewFromConfig(ac)
	svcName := master + "_" + deploy.ServiceName("storefront", 1, "")
	out, err := ec.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{svcName}, Include: []ecstypes.ServiceField{ecstypes.ServiceFieldTags}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("DescribeServices %s: %+v, %v", svcName, out, err)
	}
	svc := out.Services[0]
	wantTags := map[string]string{runtime.LabelManaged: "true", runtime.LabelInstallation: inst, runtime.LabelEnvironment: master, runtime.LabelApp: "storefront", runtime.LabelRelease: "1", runtime.LabelRole: runtime.RoleWeb}
	if svc.DesiredCount != 4 || !hasTags(ecsTags(svc.Tags), wantTags) {
		t.Errorf("storefront's service: desired %d, tags %v; want 4 and %v", svc.DesiredCount, ecsTags(svc.Tags), wantTags)
	}
	td, err := ec.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: svc.TaskDefinition, Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	c := td.TaskDefinition.ContainerDefinitions[0]
	env := map[string]string{}
	for _, kv := range c.Environment {
		env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	if aws.ToString(c.Image) != "registry.internal/storefront:1" || !slices.Equal(c.EntryPoint, []string{"/app", "serve"}) || env["STORE_NAME"] != "Spacepods Store" || !hasTags(ecsTags(td.Tags), wantTags) {
		t.Errorf("storefront's task definition: image %s, entry point %v, env %v, tags %v", aws.ToString(c.Image), c.EntryPoint, env, ecsTags(td.Tags))
	}
	// catalog-api's database on the local PostgreSQL: its URL reaches the
	// container as plain env (no secret store is configured here).
	catOut, err := ec.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{master + "_" + deploy.ServiceName("catalog-api", 1, "")}})
	if err != nil || len(catOut.Services) != 1 {
		t.Fatalf("catalog-api's service: %+v, %v", catOut, err)
	}
	catTD, err := ec.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: catOut.Services[0].TaskDefinition})
	if err != nil {
		t.Fatal(err)
	}
	if !hasEnvContaining(catTD.TaskDefinition.ContainerDefinitions[0].Environment, "DATABASE_URL", "127.0.0.1") {
		t.Errorf("catalog-api's env %+v, want DATABASE_URL on the local PostgreSQL", catTD.TaskDefinition.ContainerDefinitions[0].Environment)
	}
	if list, err := dbs.List(ctx); err != nil || !containsDB(list, master) {
		t.Errorf("databases on the PostgreSQL server: %v, %v; want one of %s", list, err, master)
	}

	// A staged rollout: the weights follow the stages 25/50/100 % of 4.
	if d := deployAndWait("storefront", 1); d.Status != spacepods.DeployCompleted {
		t.Fatalf("redeploy of storefront: %s (%s)", d.Status, d.Error)
	}
	stages := routes.take(master, "storefront")
	t.Logf("weights through the rollout of release 2, read back after each change: %v", stages)
	// Each stage raises the new release's weight once its replicas are
	// admitted, then lowers the old one's as its surplus replicas retire.
	want := []map[int]int{{1: 4}, {1: 4, 2: 1}, {1: 3, 2: 1}, {1: 3, 2: 2}, {1: 2, 2: 2}, {1: 2, 2: 4}, {2: 4}}
	if !slices.EqualFunc(stages, want, maps.Equal) {
		t.Errorf("weights through the rollout of release 2: %v, want %v", stages, want)
	}

	// A failed rollout (its second stage's replicas never become healthy)
	// routes the old release alone again.
	if d := deployAndWait("storefront", unhealthyBuild); d.Status == spacepods.DeployCompleted {
		t.Fatalf("deploy of the unhealthy build completed")
	}
	failed := routes.take(master, "storefront")
	t.Logf("weights through the failed rollout of release 3: %v", failed)
	if want := []map[int]int{{2: 3, 3: 1}, {2: 4}}; !containsInOrder(failed, want) {
		t.Errorf("weights through the failed rollout of release 3: %v, want in order %v", failed, want)
	}
	if got, err := mover.Weights(ctx, master, "storefront"); err != nil || !maps.Equal(got, map[int]int{2: 4}) {
		t.Fatalf("weights after the failed rollout: %v, %v; want release 2 alone with 4", got, err)
	}
	if groups := targetGroups(t, ctx, ac, inst); slices.ContainsFunc(slices.Collect(maps.Values(groups)), func(tags map[string]string) bool {
		return tags[runtime.LabelApp] == "storefront" && tags[runtime.LabelRelease] == "3"
	}) {
		t.Errorf("release 3's target group is left after the rollback: %v", groups)
	}

	// Route 53 records and target groups, tagged.
	host := "storefront." + master + "." + lb.Domain
	if recs := records(t, ctx, ac, lb.ZoneID); !slices.Contains(recs, host+".") {
		t.Errorf("Route 53 records %v, want %s", recs, host)
	}
	if groups := targetGroups(t, ctx, ac, inst); len(groups) == 0 || !allTagged(groups, runtime.LabelEnvironment, master) {
		t.Errorf("target groups of installation %s: %v, want the master's, tagged with it", inst, groups)
	}

	// A pod of storefront (and, as its dependencies, catalog-api and
	// pricing-api): its own services, rules and records beside the
	// master's, and its databases on the PostgreSQL server.
	pod := testenv.AWSName("pod")
	if _, _, err := podSvc.Create(ctx, spacepods.CreatePodRequest{Name: pod, Apps: []string{"storefront"}, TTL: "1h"}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, st, pod, spacepods.StatusReady)
	podHost := "storefront." + pod + "." + lb.Domain
	if recs := records(t, ctx, ac, lb.ZoneID); !slices.Contains(recs, podHost+".") {
		t.Errorf("Route 53 records %v, want the pod's %s", recs, podHost)
	}
	if got, err := mover.Weights(ctx, pod, "storefront"); err != nil || len(got) != 1 {
		t.Errorf("the pod's storefront weights: %v, %v; want its one release", got, err)
	}
	svcs, err := stk.drv.Driver.ListServices(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	var webs []string
	for _, svc := range svcs {
		if svc.Role == runtime.RoleWeb {
			webs = append(webs, svc.Name)
		}
	}
	slices.Sort(webs)
	if want := []string{deploy.ServiceName("catalog-api", 1, ""), deploy.ServiceName("pricing-api", 1, ""), deploy.ServiceName("storefront", 1, "")}; !slices.Equal(webs, want) {
		t.Errorf("the pod's ECS web services: %v, want %v", webs, want)
	}
	if list, err := dbs.List(ctx); err != nil || !containsDB(list, pod) {
		t.Errorf("databases: %v, %v; want one of the pod %s", list, err, pod)
	}

	// The pod's dedicated instance from the master's snapshot, through the
	// RDS client directly (the rds-instance mode through the pods service
	// is TestAWSPod_DedicatedRDSInstanceFromMasterSnapshot).
	rdsAPI := awsrds.NewFromConfig(ac)
	masterDB := testenv.AWSName("prod-db")
	if _, err := rdsAPI.CreateDBInstance(ctx, &awsrds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(masterDB), Engine: aws.String("postgres"),
		DBInstanceClass: aws.String("db.t4g.micro"), MasterUsername: aws.String("spacepods"), MasterUserPassword: aws.String("not-a-real-password"), AllocatedStorage: aws.Int32(20)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = rdsAPI.DeleteDBInstance(context.Background(), &awsrds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(masterDB), SkipFinalSnapshot: aws.Bool(true)}) // best effort
	})
	rc, err := rds.New(ctx, rds.Config{AWS: awstest.Config(t), Installation: inst, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	snap := testenv.AWSName("prod-snap")
	if err := rc.CreateSnapshot(ctx, master, "catalog-api", masterDB, snap, nil); err != nil {
		t.Fatal(err)
	}
	var progress []string
	in, err := rc.Restore(ctx, pod, "catalog-api", snap, func(l string) { progress = append(progress, l) })
	if err != nil || in.ID != rds.InstanceID(pod, "catalog-api") || len(progress) == 0 {
		t.Fatalf("restore: %+v, %v (progress %q)", in, err, progress)
	}

	// Destroy: nothing tagged with the installation is left.
	if err := podSvc.Destroy(ctx, master); err != nil {
		t.Fatal(err)
	}
	if err := podSvc.Destroy(ctx, pod); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ctx, st, master, spacepods.StatusDestroyed)
	waitStatus(t, ctx, st, pod, spacepods.StatusDestroyed)
	if err := rc.DestroyEnvironment(ctx, pod); err != nil {
		t.Fatal(err)
	}
	// Nothing tagged with the installation is left: no service, task
	// definition, log group (the driver's environments), rule, target
	// group, record or RDS instance.
	if envs, err := stk.drv.Driver.ListEnvironments(ctx); err != nil || len(envs) != 0 {
		t.Errorf("ECS environments after destroy: %v, %v", envs, err)
	}
	if svcs, err := stk.drv.Driver.ListServices(ctx, master); err != nil || len(svcs) != 0 {
		t.Errorf("ECS services after destroy: %v, %v", svcs, err)
	}
	if fams := families(t, ctx, ec, master+"_"); len(fams) != 0 {
		t.Errorf("task definitions after destroy: %v", fams)
	}
	if r, err := mover.Routes(ctx); err != nil || len(r) != 0 {
		t.Errorf("ALB routes after destroy: %v, %v", r, err)
	}
	if groups := targetGroups(t, ctx, ac, inst); len(groups) != 0 {
		t.Errorf("target groups after destroy: %v", groups)
	}
	if recs := records(t, ctx, ac, lb.ZoneID); slices.Contains(recs, host+".") || slices.Contains(recs, podHost+".") {
		t.Errorf("Route 53 records after destroy: %v", recs)
	}
	if list, err := rc.Instances(ctx); err != nil || len(list) != 0 {
		t.Errorf("RDS instances of installation %s after destroy: %v, %v", inst, list, err)
	}
	if list, err := dbs.List(ctx); err != nil || containsDB(list, master) || containsDB(list, pod) {
		t.Errorf("databases after destroy: %v, %v", list, err)
	}
}

// waitStatus waits until env's status is want (destroyed: or the
// environment is gone).
func waitStatus(t *testing.T, ctx context.Context, st *store.Store, env, want string) {
	t.Helper()
	for {
		e, err := st.GetEnvironment(ctx, env)
		switch {
		case spacepods.ErrorCode(err) == spacepods.ENOTFOUND && want == spacepods.StatusDestroyed || err == nil && e.Status == want:
			return
		case err != nil:
			t.Fatal(err)
		case e.Status == spacepods.StatusFailed:
			t.Fatalf("%s failed: %s", env, e.Reason)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s is %s, want %s", env, e.Status, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ecsTags(tags []ecstypes.Tag) map[string]string {
	m := map[string]string{}
	for _, tg := range tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

func hasTags(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func hasEnvContaining(env []ecstypes.KeyValuePair, name, part string) bool {
	for _, kv := range env {
		if aws.ToString(kv.Name) == name && strings.Contains(aws.ToString(kv.Value), part) {
			return true
		}
	}
	return false
}

func containsDB(list []databases.Database, env string) bool {
	return slices.ContainsFunc(list, func(d databases.Database) bool { return d.Env == env })
}

// containsInOrder reports whether want appears in got in order (other
// weights may come between: the engine also writes unchanged ones).
func containsInOrder(got, want []map[int]int) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && maps.Equal(g, want[i]) {
			i++
		}
	}
	return i == len(want)
}

func families(t *testing.T, ctx context.Context, ec *awsecs.Client, prefix string) []string {
	t.Helper()
	var arns []string
	for _, status := range []ecstypes.TaskDefinitionStatus{ecstypes.TaskDefinitionStatusActive, ecstypes.TaskDefinitionStatusInactive} {
		out, err := ec.ListTaskDefinitions(ctx, &awsecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(prefix), Status: status})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, out.TaskDefinitionArns...)
	}
	return arns
}

func records(t *testing.T, ctx context.Context, ac aws.Config, zone string) []string {
	t.Helper()
	out, err := route53.NewFromConfig(ac).ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range out.ResourceRecordSets {
		names = append(names, aws.ToString(r.Name))
	}
	return names
}

// targetGroups returns the tags of the target groups tagged with the
// installation, by ARN.
func targetGroups(t *testing.T, ctx context.Context, ac aws.Config, inst string) map[string]map[string]string {
	t.Helper()
	elb := elbv2.NewFromConfig(ac)
	out, err := elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]map[string]string{}
	for _, g := range out.TargetGroups {
		tags, err := elb.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{aws.ToString(g.TargetGroupArn)}})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, d := range tags.TagDescriptions {
			for _, tg := range d.Tags {
				m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
			}
		}
		if m[runtime.LabelInstallation] == inst {
			found[aws.ToString(g.TargetGroupArn)] = m
		}
	}
	return found
}

func allTagged(groups map[string]map[string]string, key, value string) bool {
	for _, tags := range groups {
		if tags[key] != value {
			return false
		}
	}
	return true
}
