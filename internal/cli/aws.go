package cli

import (
	"context"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"

	"github.com/spacepods/spacepods/internal/aws/alb"
	"github.com/spacepods/spacepods/internal/aws/rds"
	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/runtime/ecs"
	"github.com/spacepods/spacepods/internal/secrets/awssecrets"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// awsFlags are the settings of everything Spacepods does on AWS (the ssm
// and secretsmanager secret stores, the ecs runtime, alb routing). Every
// AWS client is made from the one awsclient.Config they give.
type awsFlags struct {
	client       awsclient.Config
	secretPrefix string
	kmsKey       string
	ecs          ecs.Config
	alb          alb.Config
	// databases is --databases: shared (the default) or rds-instance.
	databases string
	rds       rds.Config
	masters   rds.Masters
}

// The --databases modes.
const (
	databasesShared      = "shared"
	databasesRDSInstance = "rds-instance"
)

func addAWSFlags(f *pflag.FlagSet, a *awsFlags) {
	f.StringVar(&a.client.Region, "aws-region", envOr("SPACEPODS_AWS_REGION", ""), "AWS region of everything Spacepods makes on AWS; empty = the SDK's default (AWS_REGION, the profile) (env SPACEPODS_AWS_REGION)")
	f.StringVar(&a.client.EndpointURL, "aws-endpoint-url", envOr("SPACEPODS_AWS_ENDPOINT_URL", ""), "one endpoint for every AWS API instead of AWS's own: an emulator such as moto, or a proxy (env SPACEPODS_AWS_ENDPOINT_URL). Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID…, AWS_PROFILE, instance role)")
	f.StringVar(&a.secretPrefix, "aws-secret-prefix", envOr("SPACEPODS_AWS_SECRET_PREFIX", "spacepods"), "--secret-store ssm|secretsmanager: prefix of Spacepods' parameters (/<prefix>/<ref>) or secrets (<prefix>/<ref>); scope the IAM policy to it (env SPACEPODS_AWS_SECRET_PREFIX)")
	f.StringVar(&a.ecs.Cluster, "ecs-cluster", envOr("SPACEPODS_ECS_CLUSTER", ""), "--runtime ecs: the ECS cluster to run in; empty = spacepods-<installation>, made on first use (env SPACEPODS_ECS_CLUSTER)")
	f.StringVar(&a.ecs.LaunchType, "ecs-launch-type", envOr("SPACEPODS_ECS_LAUNCH_TYPE", "FARGATE"), "--runtime ecs: FARGATE or EC2 (env SPACEPODS_ECS_LAUNCH_TYPE)")
	f.StringVar(&a.ecs.NetworkMode, "ecs-network-mode", envOr("SPACEPODS_ECS_NETWORK_MODE", "awsvpc"), "--runtime ecs: awsvpc (a network interface per task in --ecs-subnets) or, with EC2, bridge (env SPACEPODS_ECS_NETWORK_MODE)")
	f.StringSliceVar(&a.ecs.Subnets, "ecs-subnets", splitEnv("SPACEPODS_ECS_SUBNETS"), "--runtime ecs, awsvpc: subnet IDs of the tasks (required by AWS on Fargate; env SPACEPODS_ECS_SUBNETS, comma-separated)")
	f.StringSliceVar(&a.ecs.SecurityGroups, "ecs-security-groups", splitEnv("SPACEPODS_ECS_SECURITY_GROUPS"), "--runtime ecs, awsvpc: security group IDs of the tasks (env SPACEPODS_ECS_SECURITY_GROUPS, comma-separated)")
	f.BoolVar(&a.ecs.AssignPublicIP, "ecs-assign-public-ip", envOr("SPACEPODS_ECS_ASSIGN_PUBLIC_IP", "") == "true", "--runtime ecs, Fargate: give tasks a public IP, to pull images without a NAT gateway (env SPACEPODS_ECS_ASSIGN_PUBLIC_IP=true)")
	f.StringVar(&a.ecs.ExecutionRoleARN, "ecs-execution-role", envOr("SPACEPODS_ECS_EXECUTION_ROLE", ""), "--runtime ecs: ARN of the task execution role (pulls images, writes logs, reads the secrets; docs/aws.md) (env SPACEPODS_ECS_EXECUTION_ROLE)")
	f.StringVar(&a.ecs.TaskRoleARN, "ecs-task-role", envOr("SPACEPODS_ECS_TASK_ROLE", ""), "--runtime ecs: ARN of the containers' own IAM role; empty = none (env SPACEPODS_ECS_TASK_ROLE)")
	f.StringVar(&a.ecs.CPU, "ecs-cpu", envOr("SPACEPODS_ECS_CPU", "256"), "--runtime ecs: CPU units of a task (env SPACEPODS_ECS_CPU)")
	f.StringVar(&a.ecs.Memory, "ecs-memory", envOr("SPACEPODS_ECS_MEMORY", "512"), "--runtime ecs: memory of a task in MiB (env SPACEPODS_ECS_MEMORY)")
	f.StringVar(&a.ecs.LogGroupPrefix, "ecs-log-group-prefix", envOr("SPACEPODS_ECS_LOG_GROUP_PREFIX", "/spacepods"), "--runtime ecs: prefix of the environments' CloudWatch log groups, <prefix>/<environment> (env SPACEPODS_ECS_LOG_GROUP_PREFIX)")
	f.StringVar(&a.alb.ListenerARN, "alb-listener", envOr("SPACEPODS_ALB_LISTENER", ""), "--routing alb: ARN of the load balancer listener that gets a rule per app host (env SPACEPODS_ALB_LISTENER)")
	f.StringVar(&a.alb.VPCID, "alb-vpc", envOr("SPACEPODS_ALB_VPC", ""), "--routing alb: VPC ID of the target groups (one per release) (env SPACEPODS_ALB_VPC)")
	f.StringVar(&a.alb.HostedZoneID, "route53-zone", envOr("SPACEPODS_ROUTE53_ZONE", ""), "--routing alb: Route 53 hosted zone ID that gets an alias record per app host; empty = no records (env SPACEPODS_ROUTE53_ZONE)")
	f.StringVar(&a.databases, "databases", envOr("SPACEPODS_DATABASES", databasesShared), "where apps' databases live: shared (a database per environment and app on the PostgreSQL server of --postgres-admin-url, which may be an RDS instance) or rds-instance (masters' apps use RDS instances of their own, --rds-master-instance-pattern; a pod whose manifest names a snapshot of one gets its own instance restored from it; other databases stay on the shared server; docs/aws.md) (env SPACEPODS_DATABASES)")
	f.StringVar(&a.masters.Pattern, "rds-master-instance-pattern", envOr("SPACEPODS_RDS_MASTER_INSTANCE_PATTERN", rds.DefaultMasterPattern), "--databases rds-instance: the RDS instance identifier of a master's app, with {env} and {app}; a master app without that instance keeps its database on the shared server (env SPACEPODS_RDS_MASTER_INSTANCE_PATTERN)")
	f.StringToStringVar(&a.masters.Instances, "rds-master-instance", nil, "--databases rds-instance: ENV/APP=INSTANCE-ID, the RDS instance of one master's app where the pattern does not fit, e.g. production/catalog-api=prod-catalog (repeatable)")
	f.StringVar(&a.rds.InstanceClass, "rds-instance-class", envOr("SPACEPODS_RDS_INSTANCE_CLASS", "db.t4g.micro"), "--databases rds-instance: DB instance class of pods' restored instances (env SPACEPODS_RDS_INSTANCE_CLASS)")
	f.StringVar(&a.rds.SubnetGroup, "rds-subnet-group", envOr("SPACEPODS_RDS_SUBNET_GROUP", ""), "--databases rds-instance: DB subnet group of pods' instances, in the VPC where their tasks run; empty = the account's default (env SPACEPODS_RDS_SUBNET_GROUP)")
	f.StringSliceVar(&a.rds.SecurityGroups, "rds-security-groups", splitEnv("SPACEPODS_RDS_SECURITY_GROUPS"), "--databases rds-instance: VPC security group IDs of pods' instances (admit the tasks on 5432); empty = the VPC's default (env SPACEPODS_RDS_SECURITY_GROUPS, comma-separated)")
	f.StringVar(&a.kmsKey, "aws-kms-key", envOr("SPACEPODS_AWS_KMS_KEY", ""), "--secret-store ssm|secretsmanager: KMS key ID or ARN that encrypts secret values; empty = the account's AWS-managed key (env SPACEPODS_AWS_KMS_KEY)")
}

// splitEnv returns the comma-separated values of an environment variable.
func splitEnv(key string) []string {
	if v := envOr(key, ""); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

// ecsSettings is the ecs driver's Config (runtime.Config.Settings).
func (a awsFlags) ecsSettings() ecs.Config {
	c := a.ecs
	c.AWS = a.client
	return c
}

// openALB returns the alb traffic mover (--routing alb).
func (a awsFlags) openALB(ctx context.Context, installation, domain string, logger *slog.Logger) (*alb.Mover, error) {
	c := a.alb
	c.AWS, c.Installation, c.Domain, c.Logger = a.client, installation, domain, logger.With("component", "alb")
	return alb.New(ctx, c)
}

// secretSettings are the AWS secret stores' settings (secrets.Config.Settings).
func (a awsFlags) secretSettings() map[string]any {
	return map[string]any{awssecrets.SettingsID: awssecrets.Config{AWS: a.client, Prefix: a.secretPrefix, KMSKeyID: a.kmsKey}}
}

// validateDatabases checks --databases and its RDS flags.
func (a awsFlags) validateDatabases() error {
	switch a.databases {
	case databasesShared:
		return nil
	case databasesRDSInstance:
		return a.masters.Validate()
	}
	return spacepods.Errorf(spacepods.EINVALID, "--databases %q: use shared (databases on the PostgreSQL server) or rds-instance (RDS instances per master app, restored per pod; docs/aws.md)", a.databases)
}

// rdsDatabases returns the rds-instance mode's databases over shared (the
// PostgreSQL server's), or nil in the shared mode.
func (a awsFlags) rdsDatabases(ctx context.Context, installation string, shared deploy.Databases, st *store.Store, secretStore rds.SecretReader, logger *slog.Logger) (*rds.Databases, error) {
	if a.databases != databasesRDSInstance {
		return nil, nil
	}
	c := a.rds
	c.AWS, c.Installation, c.Logger = a.client, installation, logger.With("component", "rds")
	client, err := rds.New(ctx, c)
	if err != nil {
		return nil, err
	}
	return &rds.Databases{Client: client, Shared: shared, Store: st, Secrets: secretStore, Masters: a.masters}, nil
}
