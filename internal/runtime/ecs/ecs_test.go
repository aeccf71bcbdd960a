package ecs_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/spacepods/spacepods/internal/awsclient/awstest"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/drivertest"
	"github.com/spacepods/spacepods/internal/runtime/ecs"
	"github.com/spacepods/spacepods/internal/secrets/awssecrets"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// These run against moto's server, which answers the ECS and CloudWatch
// Logs APIs but runs no containers: they check what the API shows.

const image = "registry.internal/testapp:1"

// Both AWS secret stores name their secrets for task definitions; the
// server hands the configured one to the driver.
var (
	_ ecs.SecretReferencer = (*awssecrets.SSM)(nil)
	_ ecs.SecretReferencer = (*awssecrets.SecretsManager)(nil)
)

// open opens an ecs driver through the runtime registry. With a network it
// runs Fargate tasks in it (awsvpc); without, EC2 tasks in bridge mode,
// which is what moto 5.2.5 can run a task of: its RunTask fails on an awsvpc
// network interface (no private_dns_name), while services are fine.
func open(t *testing.T, net *awstest.Network, cluster, installation string, secrets ecs.SecretReferencer) *ecs.Driver {
	t.Helper()
	cfg := ecs.Config{AWS: awstest.Config(t), Cluster: cluster, PollInterval: 20 * time.Millisecond, Secrets: secrets}
	if net != nil {
		cfg.Subnets, cfg.SecurityGroups = net.Subnets, net.SecurityGroups
	} else {
		cfg.LaunchType, cfg.NetworkMode = "EC2", "bridge"
	}
	d, err := runtime.Open(context.Background(), ecs.ID, runtime.Config{Installation: installation, Settings: map[string]any{ecs.ID: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	return d.(*ecs.Driver)
}

func sdk(t *testing.T) (*awsecs.Client, *cloudwatchlogs.Client) {
	t.Helper()
	ac := awstest.SDK(t)
	return awsecs.NewFromConfig(ac), cloudwatchlogs.NewFromConfig(ac)
}

func TestECS_Conformance(t *testing.T) {
	cluster := awstest.ECSClusterWithInstances(t, 4)
	drivertest.RunWithOptions(t, func(t *testing.T) runtime.Driver { return open(t, nil, cluster, "", nil) },
		drivertest.Images{TestApp: image},
		drivertest.Options{
			NoDataPlane: "moto answers the ECS API but runs no containers; the Docker and Kubernetes drivers prove the data plane",
			Installation: func(t *testing.T, id string) runtime.Driver {
				return open(t, nil, cluster, id, nil)
			},
		})
}

// A release is a task definition (image, port, env, secrets by reference,
// awslogs) and a service (desired count, deployment configuration), all
// tagged with the runtime labels.
func TestECS_ReleaseIsATaskDefinitionAndAService(t *testing.T) {
	ctx := context.Background()
	cluster := testenv.AWSName("sp")
	secretCfg := awssecrets.Config{AWS: awstest.Config(t), Prefix: testenv.AWSName("sp")}
	store, err := awssecrets.NewSSM(ctx, secretCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, "apps/catalog-api/qa/API_TOKEN", []byte("tok")); err != nil {
		t.Fatal(err)
	}
	net := awstest.NewNetwork(t)
	d := open(t, &net, cluster, "inst1", store)
	env := testenv.AWSName("qa")
	if err := d.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.DestroyEnvironment(context.Background(), env) }) // best effort; the test checks destroy itself
	spec := runtime.ServiceSpec{
		Name: "catalog-api-r3", Environment: env, App: "catalog-api", Release: 3, Role: runtime.RoleWeb, Image: image,
		Args: []string{"serve"}, Env: map[string]string{"GREETING": "hi"}, Secrets: map[string]string{"API_TOKEN": "apps/catalog-api/qa/API_TOKEN"},
		Port: 8080, Replicas: 2,
	}
	if err := d.CreateService(ctx, spec); err != nil {
		t.Fatal(err)
	}
	ec, lc := sdk(t)
	svc, err := ec.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{env + "_catalog-api-r3"}, Include: []types.ServiceField{types.ServiceFieldTags}})
	if err != nil || len(svc.Services) != 1 {
		t.Fatalf("DescribeServices: %v %v", svc, err)
	}
	s := svc.Services[0]
	// (moto keeps no deploymentConfiguration: that part is not checked.)
	if s.DesiredCount != 2 || s.LaunchType != types.LaunchTypeFargate || s.NetworkConfiguration == nil ||
		!slices.Equal(s.NetworkConfiguration.AwsvpcConfiguration.Subnets, d.Subnets()) {
		t.Errorf("service: desired %d, launch type %s, network %+v; want 2, FARGATE, the driver's subnets", s.DesiredCount, s.LaunchType, s.NetworkConfiguration)
	}
	wantTags := map[string]string{
		runtime.LabelManaged: "true", runtime.LabelInstallation: "inst1", runtime.LabelEnvironment: env,
		runtime.LabelApp: "catalog-api", runtime.LabelRelease: "3", runtime.LabelRole: runtime.RoleWeb, runtime.LabelService: "catalog-api-r3",
	}
	checkTags(t, "service", s.Tags, wantTags)

	td, err := ec.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: s.TaskDefinition, Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	checkTags(t, "task definition", td.Tags, wantTags)
	c := td.TaskDefinition.ContainerDefinitions[0]
	if aws.ToString(c.Image) != image || !slices.Equal(c.Command, []string{"serve"}) || len(c.PortMappings) != 1 || aws.ToInt32(c.PortMappings[0].ContainerPort) != 8080 {
		t.Errorf("container: image %s, command %v, ports %+v", aws.ToString(c.Image), c.Command, c.PortMappings)
	}
	if len(c.Environment) != 1 || aws.ToString(c.Environment[0].Name) != "GREETING" || aws.ToString(c.Environment[0].Value) != "hi" {
		t.Errorf("container env %+v, want only GREETING=hi (the secret never as plain env)", c.Environment)
	}
	param, _ := store.ParameterName("apps/catalog-api/qa/API_TOKEN")
	if len(c.Secrets) != 1 || aws.ToString(c.Secrets[0].Name) != "API_TOKEN" || aws.ToString(c.Secrets[0].ValueFrom) != param {
		t.Errorf("container secrets %+v, want API_TOKEN from %s", c.Secrets, param)
	}
	if lcfg := c.LogConfiguration; lcfg == nil || lcfg.LogDriver != types.LogDriverAwslogs || lcfg.Options["awslogs-group"] != d.LogGroup(env) {
		t.Errorf("log configuration %+v, want awslogs to %s", c.LogConfiguration, d.LogGroup(env))
	}

	// Scale, another spec, status.
	if err := d.ScaleService(ctx, env, spec.Name, 4); err != nil {
		t.Fatal(err)
	}
	st, err := d.ServiceStatus(ctx, env, spec.Name)
	if err != nil || st.Desired != 4 || st.App != "catalog-api" || st.Release != 3 || st.Role != runtime.RoleWeb {
		t.Fatalf("status after scaling to 4: %+v, %v", st, err)
	}
	other := spec
	other.Image = image + "-other"
	if err := d.CreateService(ctx, other); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
		t.Fatalf("CreateService with another spec: %v, want ECONFLICT", err)
	}

	// A task: the exit code comes from DescribeTasks (moto's containers
	// always exit 0), its task definition is gone afterwards. (On EC2 in
	// bridge mode: see open.)
	ec2d := open(t, nil, awstest.ECSClusterWithInstances(t, 1), "inst1", store)
	res, err := ec2d.RunTask(ctx, runtime.TaskSpec{Name: "migrate", Environment: env, App: "catalog-api", Release: 3, Image: image, Args: []string{"migrate"}, Timeout: time.Minute})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("RunTask: %+v, %v", res, err)
	}
	if fams := families(t, ec, env+"_migrate_task"); len(fams) != 0 {
		t.Errorf("task definitions of the task left: %v", fams)
	}

	// Destroy leaves nothing: no service, no task definition, no log group.
	if err := d.DestroyEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	if svcs, err := d.ListServices(ctx, env); err != nil || len(svcs) != 0 {
		t.Errorf("services after destroy: %v, %v", svcs, err)
	}
	if fams := families(t, ec, env+"_"); len(fams) != 0 {
		t.Errorf("task definitions after destroy: %v", fams)
	}
	groups, err := lc.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(d.LogGroup(env))})
	if err != nil || len(groups.LogGroups) != 0 {
		t.Errorf("log groups after destroy: %v, %v", groups.LogGroups, err)
	}
}

// Without a store that names secrets by reference, a secret cannot reach an
// ECS container: the driver refuses rather than put it in plain env.
func TestECS_SecretsNeedAnAWSSecretStore(t *testing.T) {
	ctx := context.Background()
	d := open(t, nil, testenv.AWSName("sp"), "", nil)
	env := testenv.AWSName("qa")
	if err := d.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.DestroyEnvironment(context.Background(), env) }) // best effort
	err := d.CreateService(ctx, runtime.ServiceSpec{Name: "web-r1", Environment: env, App: "web", Release: 1, Role: runtime.RoleWeb, Image: image, Port: 8080, Replicas: 1,
		Secrets: map[string]string{"TOKEN": "apps/web/qa/TOKEN"}})
	if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), "--secret-store ssm") {
		t.Fatalf("CreateService with secrets and no AWS store: %v", err)
	}
}

func families(t *testing.T, ec *awsecs.Client, prefix string) []string {
	t.Helper()
	var arns []string
	for _, status := range []types.TaskDefinitionStatus{types.TaskDefinitionStatusActive, types.TaskDefinitionStatusInactive} {
		out, err := ec.ListTaskDefinitions(context.Background(), &awsecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(prefix), Status: status})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, out.TaskDefinitionArns...)
	}
	return arns
}

func checkTags(t *testing.T, what string, tags []types.Tag, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, tg := range tags {
		got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s tag %s = %q, want %q (tags %v)", what, k, got[k], v, got)
		}
	}
}
