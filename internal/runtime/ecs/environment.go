package ecs

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// LogGroup returns the CloudWatch Logs group of env: its scope in ECS.
func (d *Driver) LogGroup(env string) string { return d.cfg.LogGroupPrefix + "/" + env }

// envTags returns the tags of env's log group, ENOTFOUND if it has none.
func (d *Driver) envTags(ctx context.Context, env string) (map[string]string, error) {
	name := d.LogGroup(env)
	out, err := d.logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(name)})
	if err != nil {
		return nil, awsclient.Err("logs:DescribeLogGroups", err)
	}
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) != name {
			continue
		}
		tags, err := d.logs.ListTagsForResource(ctx, &cloudwatchlogs.ListTagsForResourceInput{ResourceArn: aws.String(strings.TrimSuffix(aws.ToString(g.Arn), ":*"))})
		if err != nil {
			return nil, awsclient.Err("logs:ListTagsForResource", err)
		}
		return tags.Tags, nil
	}
	return nil, spacepods.Errorf(spacepods.ENOTFOUND, "environment %q not found (no log group %s)", env, name)
}

// checkEnv returns nil when env exists and is this installation's.
func (d *Driver) checkEnv(ctx context.Context, env string) error {
	tags, err := d.envTags(ctx, env)
	if err != nil {
		return err
	}
	return runtime.CheckOwner(tags, env, d.cfg.Installation, "log group "+d.LogGroup(env), "delete it or pick another environment name")
}

// EnsureEnvironment makes env's log group (tagged) if missing. ECONFLICT if
// another installation has it.
func (d *Driver) EnsureEnvironment(ctx context.Context, env runtime.EnvSpec) error {
	if err := runtime.ValidateName("environment", env.Name); err != nil {
		return err
	}
	if err := d.ensureCluster(ctx); err != nil {
		return err
	}
	err := d.checkEnv(ctx, env.Name)
	if spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return err
	}
	_, err = d.logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{
		LogGroupName: aws.String(d.LogGroup(env.Name)),
		Tags:         ecsTags(runtime.EnvLabels(env.Labels, env.Name, d.cfg.Installation)),
	})
	var exists *logtypes.ResourceAlreadyExistsException
	if errors.As(err, &exists) {
		return d.checkEnv(ctx, env.Name) // made concurrently
	}
	if err != nil {
		return awsclient.Err("logs:CreateLogGroup", err)
	}
	d.logger.Info("environment created", "env", env.Name, "log_group", d.LogGroup(env.Name))
	return nil
}

// DestroyEnvironment deletes env's services, stops its tasks, deletes its
// task definitions and its log group. Another installation's environment
// is left alone (ECONFLICT).
func (d *Driver) DestroyEnvironment(ctx context.Context, env string) error {
	if err := runtime.ValidateName("environment", env); err != nil {
		return err
	}
	err := d.checkEnv(ctx, env)
	if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	svcs, err := d.ListServices(ctx, env)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if err := d.DeleteService(ctx, env, s.Name); err != nil {
			return err
		}
	}
	if err := d.stopTasks(ctx, env); err != nil {
		return err
	}
	if err := d.deleteTaskDefinitions(ctx, env+"_"); err != nil {
		return err
	}
	_, err = d.logs.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(d.LogGroup(env))})
	var nf *logtypes.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return awsclient.Err("logs:DeleteLogGroup", err)
	}
	d.logger.Info("environment destroyed", "env", env)
	return nil
}

// stopTasks stops the running tasks of env's task families.
func (d *Driver) stopTasks(ctx context.Context, env string) error {
	var arns []string
	p := awsecs.NewListTasksPaginator(d.ecs, &awsecs.ListTasksInput{Cluster: aws.String(d.cfg.Cluster), DesiredStatus: types.DesiredStatusRunning})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return awsclient.Err("ecs:ListTasks", err)
		}
		arns = append(arns, page.TaskArns...)
	}
	for chunk := range slices.Chunk(arns, 100) {
		out, err := d.ecs.DescribeTasks(ctx, &awsecs.DescribeTasksInput{Cluster: aws.String(d.cfg.Cluster), Tasks: chunk, Include: []types.TaskField{types.TaskFieldTags}})
		if err != nil {
			return awsclient.Err("ecs:DescribeTasks", err)
		}
		for _, t := range out.Tasks {
			if !runtime.Ours(tagMap(t.Tags), env, d.cfg.Installation) {
				continue
			}
			if _, err := d.ecs.StopTask(ctx, &awsecs.StopTaskInput{Cluster: aws.String(d.cfg.Cluster), Task: t.TaskArn, Reason: aws.String("Spacepods destroyed environment " + env)}); err != nil && !awsclient.IsNotFound(awsclient.Err("ecs:StopTask", err)) {
				return awsclient.Err("ecs:StopTask", err)
			}
		}
	}
	return nil
}

// deleteTaskDefinitions deregisters and deletes every revision of the task
// definition families that start with prefix.
func (d *Driver) deleteTaskDefinitions(ctx context.Context, prefix string) error {
	var arns []string
	for _, status := range []types.TaskDefinitionStatus{types.TaskDefinitionStatusActive, types.TaskDefinitionStatusInactive} {
		p := awsecs.NewListTaskDefinitionsPaginator(d.ecs, &awsecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(prefix), Status: status})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return awsclient.Err("ecs:ListTaskDefinitions", err)
			}
			for _, arn := range page.TaskDefinitionArns {
				// ListTaskDefinitions matches a prefix of the family; keep
				// only this exact family (env_..., never env-x_...).
				fam := arn[strings.LastIndex(arn, "/")+1:]
				if i := strings.LastIndex(fam, ":"); i > 0 {
					fam = fam[:i]
				}
				if strings.HasPrefix(fam, prefix) {
					arns = append(arns, arn)
				}
			}
		}
	}
	return d.deleteTaskDefinitionARNs(ctx, arns)
}

func (d *Driver) deleteTaskDefinitionARNs(ctx context.Context, arns []string) error {
	for _, arn := range arns {
		if _, err := d.ecs.DeregisterTaskDefinition(ctx, &awsecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(arn)}); err != nil {
			if e := awsclient.Err("ecs:DeregisterTaskDefinition", err); spacepods.ErrorCode(e) != spacepods.ENOTFOUND && spacepods.ErrorCode(e) != spacepods.EINVALID {
				return e
			}
		}
	}
	for chunk := range slices.Chunk(arns, 10) {
		if _, err := d.ecs.DeleteTaskDefinitions(ctx, &awsecs.DeleteTaskDefinitionsInput{TaskDefinitions: chunk}); err != nil {
			return awsclient.Err("ecs:DeleteTaskDefinitions", err)
		}
	}
	return nil
}

// ListEnvironments lists the environments (log groups) of this
// installation.
func (d *Driver) ListEnvironments(ctx context.Context) ([]string, error) {
	var envs []string
	p := cloudwatchlogs.NewDescribeLogGroupsPaginator(d.logs, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(d.cfg.LogGroupPrefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsclient.Err("logs:DescribeLogGroups", err)
		}
		for _, g := range page.LogGroups {
			env := strings.TrimPrefix(aws.ToString(g.LogGroupName), d.cfg.LogGroupPrefix+"/")
			if runtime.ValidateName("environment", env) != nil {
				continue
			}
			if d.checkEnv(ctx, env) == nil {
				envs = append(envs, env)
			}
		}
	}
	slices.Sort(envs)
	return envs, nil
}
