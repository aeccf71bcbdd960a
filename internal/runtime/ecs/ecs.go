// Package ecs is the Amazon ECS runtime driver (`spacepods server --runtime
// ecs`). An installation's services run in one ECS cluster (given, or
// spacepods-<installation> made on first use); an environment is a
// CloudWatch Logs group (<log prefix>/<environment>) that its containers log
// to through awslogs; a release of an app is a task definition and a
// service; a task (migration, test) is RunTask, its exit code read from
// DescribeTasks. Everything carries the runtime labels as AWS tags
// (installation, environment, app, release), so leak audits and destroy
// find it by tag.
//
// Secrets reach containers as task definition `secrets` naming SSM
// parameters or Secrets Manager secrets (valueFrom), never as plain env:
// the secret store must be one that can name them (awssecrets).
//
// ECS state lives only in AWS: two drivers see the same services.
package ecs

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// ID is the ecs driver's registry ID; its settings in
// runtime.Config.Settings are a Config.
const ID = "ecs"

// SecretReferencer names, for a ref of the secret store, what an ECS task
// definition's `secrets.valueFrom` takes: an SSM parameter's name or ARN,
// or a Secrets Manager secret's ARN. The awssecrets stores implement it.
type SecretReferencer interface {
	// ValueFrom returns it. ENOTFOUND when the ref has no value.
	ValueFrom(ctx context.Context, ref string) (string, error)
}

// Config configures the driver.
type Config struct {
	// AWS says how to reach AWS (region, endpoint, credentials).
	AWS awsclient.Config
	// Cluster is the ECS cluster (name or ARN) to run in. Empty: the
	// cluster spacepods-<installation> (or spacepods), made if missing.
	Cluster string
	// Installation labels (tags) everything made and narrows what is seen.
	Installation string
	// LaunchType is FARGATE (default) or EC2.
	LaunchType string
	// NetworkMode of the tasks: awsvpc (default; a network interface per
	// task in Subnets) or, on EC2, bridge (ports mapped on the instance).
	NetworkMode string
	// Subnets and SecurityGroups of the tasks' network interfaces (awsvpc);
	// required on Fargate by AWS.
	Subnets        []string
	SecurityGroups []string
	// AssignPublicIP gives Fargate tasks a public IP (to pull images
	// without a NAT gateway).
	AssignPublicIP bool
	// ExecutionRoleARN lets ECS pull images, write logs and read the
	// secrets; TaskRoleARN is the containers' own role.
	ExecutionRoleARN string
	TaskRoleARN      string
	// CPU and Memory of a task (Fargate sizes); defaults 256 and 512.
	CPU, Memory string
	// LogGroupPrefix of the environments' log groups; default /spacepods.
	LogGroupPrefix string
	// Secrets names secret refs for `valueFrom`.
	Secrets SecretReferencer
	// PollInterval of waits (tasks, logs); default 2 s.
	PollInterval time.Duration
	Logger       *slog.Logger
}

// Driver is the ECS runtime driver.
type Driver struct {
	cfg    Config
	ecs    *awsecs.Client
	logs   *cloudwatchlogs.Client
	region string
	logger *slog.Logger
	// memoryMiB is Config.Memory as a number.
	memoryMiB int

	clusterOnce sync.Mutex
	clusterOK   bool
}

func init() { runtime.Register(ID, Open) }

var _ runtime.Driver = (*Driver)(nil)

// Open is the driver's runtime.Factory: New with the Config in
// cfg.Settings[ID] and the common settings of cfg over it; the cluster must
// answer (EUNAVAILABLE otherwise).
func Open(ctx context.Context, cfg runtime.Config) (runtime.Driver, error) {
	c, err := runtime.SettingsOf[Config](cfg, ID)
	if err != nil {
		return nil, err
	}
	c.Installation = cfg.Installation
	if cfg.Logger != nil {
		c.Logger = cfg.Logger
	}
	if c.Secrets == nil {
		if r, ok := cfg.Secrets.(SecretReferencer); ok {
			c.Secrets = r
		}
	}
	if cfg.Routing == runtime.RoutingIngress {
		return nil, spacepods.Errorf(spacepods.EINVALID, "--runtime ecs has no ingress routing: use --routing alb (an ALB listener rule per app host)")
	}
	d, err := New(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := d.ensureCluster(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// New returns a driver for c. It makes no call.
func New(ctx context.Context, c Config) (*Driver, error) {
	if c.LaunchType == "" {
		c.LaunchType = string(types.LaunchTypeFargate)
	}
	if c.LaunchType != string(types.LaunchTypeFargate) && c.LaunchType != string(types.LaunchTypeEc2) {
		return nil, spacepods.Errorf(spacepods.EINVALID, "ECS launch type %q: use FARGATE or EC2", c.LaunchType)
	}
	if c.NetworkMode == "" {
		c.NetworkMode = string(types.NetworkModeAwsvpc)
	}
	if c.NetworkMode != string(types.NetworkModeAwsvpc) && !(c.NetworkMode == string(types.NetworkModeBridge) && c.LaunchType == string(types.LaunchTypeEc2)) {
		return nil, spacepods.Errorf(spacepods.EINVALID, "ECS network mode %q with launch type %s: use awsvpc, or bridge with EC2", c.NetworkMode, c.LaunchType)
	}
	if c.CPU == "" {
		c.CPU = "256"
	}
	if c.Memory == "" {
		c.Memory = "512"
	}
	if c.LogGroupPrefix == "" {
		c.LogGroupPrefix = "/spacepods"
	}
	c.LogGroupPrefix = "/" + strings.Trim(c.LogGroupPrefix, "/")
	if c.Cluster == "" {
		c.Cluster = "spacepods"
		if c.Installation != "" {
			c.Cluster += "-" + c.Installation
		}
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	mem, err := strconv.Atoi(c.Memory)
	if err != nil || mem < 128 {
		return nil, spacepods.Errorf(spacepods.EINVALID, "ECS task memory %q: want MiB as a number, at least 128 (e.g. 512)", c.Memory)
	}
	ac, err := awsclient.Load(ctx, c.AWS)
	if err != nil {
		return nil, err
	}
	return &Driver{cfg: c, ecs: awsecs.NewFromConfig(ac), logs: cloudwatchlogs.NewFromConfig(ac), region: ac.Region, logger: c.Logger, memoryMiB: mem}, nil
}

// Name returns "ecs".
func (d *Driver) Name() string { return ID }

// Subnets returns the subnets of the tasks' network interfaces.
func (d *Driver) Subnets() []string { return d.cfg.Subnets }

// Cluster returns the cluster the driver runs in.
func (d *Driver) Cluster() string { return d.cfg.Cluster }

// ensureCluster checks that the cluster is active, making it first when it
// is the driver's own (no --ecs-cluster given) and missing.
func (d *Driver) ensureCluster(ctx context.Context) error {
	d.clusterOnce.Lock()
	defer d.clusterOnce.Unlock()
	if d.clusterOK {
		return nil
	}
	out, err := d.ecs.DescribeClusters(ctx, &awsecs.DescribeClustersInput{Clusters: []string{d.cfg.Cluster}})
	if err != nil {
		return awsclient.Err("ecs:DescribeClusters", err)
	}
	for _, c := range out.Clusters {
		if aws.ToString(c.Status) == "ACTIVE" {
			d.clusterOK = true
			return nil
		}
	}
	tags := ecsTags(runtime.EnvLabels(nil, "", d.cfg.Installation))
	delete(tags, runtime.LabelEnvironment)
	if _, err := d.ecs.CreateCluster(ctx, &awsecs.CreateClusterInput{ClusterName: aws.String(d.cfg.Cluster), Tags: tagList(tags)}); err != nil {
		return awsclient.Err("ecs:CreateCluster", err)
	}
	d.logger.Info("ECS cluster created", "cluster", d.cfg.Cluster)
	d.clusterOK = true
	return nil
}

// ecsTags drops empty values (AWS tags may not be empty in ECS).
func ecsTags(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

func tagList(m map[string]string) []types.Tag {
	out := make([]types.Tag, 0, len(m))
	for k, v := range m {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return out
}

func tagMap(tags []types.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

// Names in ECS: services and task definition families take letters,
// digits, '-' and '_'; environment and service names are DNS labels, which
// never hold '_', so joining them with '_' is unambiguous.

func serviceName(env, name string) string { return env + "_" + name }
func taskFamily(env, name string) string  { return env + "_" + name + "_task" }
