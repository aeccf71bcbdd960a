package ecs

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// maxLogTail is the most of a task's output kept in TaskResult.LogTail.
const maxLogTail = 64 << 10

// RunTask registers a task definition for the task, runs it (RunTask),
// waits until DescribeTasks shows it STOPPED and returns its container's
// exit code and the tail of its CloudWatch log stream. At its timeout the
// task is stopped and an error returned. The task definition is deleted
// afterwards. ENOTFOUND if the environment does not exist.
func (d *Driver) RunTask(ctx context.Context, task runtime.TaskSpec) (runtime.TaskResult, error) {
	if err := task.Validate(); err != nil {
		return runtime.TaskResult{}, err
	}
	if err := d.checkEnv(ctx, task.Environment); err != nil {
		return runtime.TaskResult{}, err
	}
	family := taskFamily(task.Environment, task.Name)
	tags := runtime.Labels(task.Labels, task.Environment, task.App, task.Name, runtime.RoleTask, task.Release, d.cfg.Installation)
	td, err := d.register(ctx, task.Environment, family, container{
		image: task.Image, command: task.Command, args: task.Args, env: task.Env, secrets: task.Secrets, hosts: task.Hosts, streamPrefix: task.Name,
	}, tags)
	if err != nil {
		return runtime.TaskResult{}, err
	}
	defer func() {
		// The task definition served this one run; a leftover is found by
		// its tags (DestroyEnvironment, leak audit).
		if err := d.deleteTaskDefinitionARNs(context.WithoutCancel(ctx), []string{td}); err != nil {
			d.logger.Warn("task definition not deleted", "task_definition", td, "err", err)
		}
	}()
	out, err := d.ecs.RunTask(ctx, &awsecs.RunTaskInput{
		Cluster: aws.String(d.cfg.Cluster), TaskDefinition: aws.String(td), Count: aws.Int32(1),
		LaunchType: types.LaunchType(d.cfg.LaunchType), NetworkConfiguration: d.network(),
		StartedBy: aws.String("spacepods"), Tags: tagList(ecsTags(tags)), EnableECSManagedTags: true,
	})
	if err != nil {
		return runtime.TaskResult{}, awsclient.Err("ecs:RunTask", err)
	}
	if len(out.Tasks) == 0 {
		reason := "no reason given"
		if len(out.Failures) > 0 {
			reason = aws.ToString(out.Failures[0].Reason)
		}
		return runtime.TaskResult{}, spacepods.Errorf(spacepods.EUNAVAILABLE, "ECS did not start task %s in cluster %s: %s", task.Name, d.cfg.Cluster, reason)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	stream := task.Name + "/app/" + taskID(arn) // awslogs: <prefix>/<container>/<task id>
	tail := &runtime.TailBuffer{Max: maxLogTail}
	follow := &logFollower{d: d, group: d.LogGroup(task.Environment), stream: stream, out: tail, also: task.Output}

	timeout := task.TimeoutOrDefault()
	deadline := time.Now().Add(timeout)
	for {
		desc, err := d.ecs.DescribeTasks(ctx, &awsecs.DescribeTasksInput{Cluster: aws.String(d.cfg.Cluster), Tasks: []string{arn}})
		if err != nil {
			return runtime.TaskResult{LogTail: tail.String()}, awsclient.Err("ecs:DescribeTasks", err)
		}
		follow.poll(ctx)
		if len(desc.Tasks) == 1 && aws.ToString(desc.Tasks[0].LastStatus) == "STOPPED" {
			follow.poll(ctx)
			t := desc.Tasks[0]
			if len(t.Containers) == 0 || t.Containers[0].ExitCode == nil {
				return runtime.TaskResult{LogTail: tail.String()}, spacepods.Errorf(spacepods.EINTERNAL,
					"task %s stopped without an exit code: %s %s", task.Name, t.StopCode, aws.ToString(t.StoppedReason))
			}
			return runtime.TaskResult{ExitCode: int(aws.ToInt32(t.Containers[0].ExitCode)), LogTail: tail.String()}, nil
		}
		if time.Now().After(deadline) {
			_, serr := d.ecs.StopTask(context.WithoutCancel(ctx), &awsecs.StopTaskInput{Cluster: aws.String(d.cfg.Cluster), Task: aws.String(arn), Reason: aws.String(fmt.Sprintf("Spacepods: timed out after %s", timeout))})
			if serr != nil {
				d.logger.Warn("timed-out task not stopped", "task", arn, "err", serr)
			}
			return runtime.TaskResult{ExitCode: -1, LogTail: tail.String()}, runtime.TaskTimedOut(task.Name, timeout)
		}
		select {
		case <-ctx.Done():
			return runtime.TaskResult{LogTail: tail.String()}, ctx.Err()
		case <-time.After(d.cfg.PollInterval):
		}
	}
}
