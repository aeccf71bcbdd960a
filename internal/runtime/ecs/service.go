package ecs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// tagSpec carries a hash of the spec a service was created with, so that a
// CreateService with another spec conflicts and the same one is a no-op.
const tagSpec = "spacepods.spec"

// container is what a task definition runs, from a service or task spec.
type container struct {
	image         string
	command, args []string
	env, secrets  map[string]string
	port          int
	hosts         map[string]string
	streamPrefix  string
}

// register registers a task definition revision of family for c, tagged.
func (d *Driver) register(ctx context.Context, env, family string, c container, tags map[string]string) (string, error) {
	def := types.ContainerDefinition{
		Name:      aws.String("app"),
		Image:     aws.String(c.image),
		Essential: aws.Bool(true),
		// The container may use all of the task's memory (set at both
		// levels, as ECS on EC2 wants it).
		Memory: awsclient.Int32(d.memoryMiB),
		LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
			"awslogs-group": d.LogGroup(env), "awslogs-region": d.region, "awslogs-stream-prefix": c.streamPrefix,
		}},
	}
	// The spec's Command replaces the image's ENTRYPOINT and Args its CMD,
	// as ECS's entryPoint and command do.
	if len(c.command) > 0 {
		def.EntryPoint = c.command
	}
	if len(c.args) > 0 {
		def.Command = c.args
	}
	for _, k := range slices.Sorted(maps.Keys(c.env)) {
		def.Environment = append(def.Environment, types.KeyValuePair{Name: aws.String(k), Value: aws.String(c.env[k])})
	}
	if len(c.secrets) > 0 {
		if d.cfg.Secrets == nil {
			return "", spacepods.Errorf(spacepods.EINVALID, "the ecs runtime gives containers their secrets by reference (task definition secrets): run the server with --secret-store ssm or secretsmanager")
		}
		for _, k := range slices.Sorted(maps.Keys(c.secrets)) {
			from, err := d.cfg.Secrets.ValueFrom(ctx, c.secrets[k])
			if err != nil {
				return "", err
			}
			def.Secrets = append(def.Secrets, types.Secret{Name: aws.String(k), ValueFrom: aws.String(from)})
		}
	}
	if c.port > 0 {
		// In bridge mode the host port is 0: ECS picks one per task.
		def.PortMappings = []types.PortMapping{{ContainerPort: awsclient.Int32(c.port), Protocol: types.TransportProtocolTcp}}
		if d.cfg.NetworkMode == string(types.NetworkModeBridge) {
			def.PortMappings[0].HostPort = aws.Int32(0)
		}
	}
	for _, h := range runtime.HostsList(c.hosts) {
		name, ip, _ := strings.Cut(h, ":")
		def.ExtraHosts = append(def.ExtraHosts, types.HostEntry{Hostname: aws.String(name), IpAddress: aws.String(ip)})
	}
	in := &awsecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(family),
		ContainerDefinitions:    []types.ContainerDefinition{def},
		NetworkMode:             types.NetworkMode(d.cfg.NetworkMode),
		RequiresCompatibilities: []types.Compatibility{types.Compatibility(d.cfg.LaunchType)},
		Cpu:                     aws.String(d.cfg.CPU),
		Memory:                  aws.String(d.cfg.Memory),
		Tags:                    tagList(ecsTags(tags)),
	}
	if d.cfg.ExecutionRoleARN != "" {
		in.ExecutionRoleArn = aws.String(d.cfg.ExecutionRoleARN)
	}
	if d.cfg.TaskRoleARN != "" {
		in.TaskRoleArn = aws.String(d.cfg.TaskRoleARN)
	}
	out, err := d.ecs.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return "", awsclient.Err("ecs:RegisterTaskDefinition", err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn), nil
}

// network is the tasks' awsvpc configuration, nil when no subnets are set.
func (d *Driver) network() *types.NetworkConfiguration {
	if len(d.cfg.Subnets) == 0 || d.cfg.NetworkMode != string(types.NetworkModeAwsvpc) {
		return nil
	}
	ip := types.AssignPublicIpDisabled
	if d.cfg.AssignPublicIP {
		ip = types.AssignPublicIpEnabled
	}
	return &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
		Subnets: d.cfg.Subnets, SecurityGroups: d.cfg.SecurityGroups, AssignPublicIp: ip,
	}}
}

// specHash identifies what a service runs, its replica count aside.
func specHash(spec runtime.ServiceSpec) string {
	spec.Replicas = 0
	b, _ := json.Marshal(spec) // plain data: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// CreateService registers the release's task definition and makes its
// service with spec.Replicas tasks. ECONFLICT if the service exists with
// another spec; ENOTFOUND if the environment does not exist.
func (d *Driver) CreateService(ctx context.Context, spec runtime.ServiceSpec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if err := d.checkEnv(ctx, spec.Environment); err != nil {
		return err
	}
	hash := specHash(spec)
	if cur, err := d.describe(ctx, spec.Environment, spec.Name); err == nil {
		if tagMap(cur.Tags)[tagSpec] == hash {
			return nil
		}
		return spacepods.Errorf(spacepods.ECONFLICT, "service %s exists in %s with another spec: delete it first", spec.Name, spec.Environment)
	} else if spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return err
	}
	tags := runtime.Labels(spec.Labels, spec.Environment, spec.App, spec.Name, spec.Role, spec.Release, d.cfg.Installation)
	tags[tagSpec] = hash
	td, err := d.register(ctx, spec.Environment, serviceName(spec.Environment, spec.Name), container{
		image: spec.Image, command: spec.Command, args: spec.Args, env: spec.Env, secrets: spec.Secrets,
		port: spec.Port, hosts: spec.Hosts, streamPrefix: spec.Name,
	}, tags)
	if err != nil {
		return err
	}
	in := &awsecs.CreateServiceInput{
		Cluster:        aws.String(d.cfg.Cluster),
		ServiceName:    aws.String(serviceName(spec.Environment, spec.Name)),
		TaskDefinition: aws.String(td),
		DesiredCount:   awsclient.Int32(spec.Replicas),
		LaunchType:     types.LaunchType(d.cfg.LaunchType),
		// Spacepods' deploy engine stages rollouts across services (one per
		// release): within one, ECS may start the new tasks before stopping
		// old ones, and rolls back by itself on a failed deployment.
		DeploymentConfiguration: &types.DeploymentConfiguration{
			MinimumHealthyPercent:    aws.Int32(100),
			MaximumPercent:           aws.Int32(200),
			DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true},
		},
		NetworkConfiguration: d.network(),
		PropagateTags:        types.PropagateTagsService,
		EnableECSManagedTags: true,
		Tags:                 tagList(ecsTags(tags)),
	}
	if _, err := d.ecs.CreateService(ctx, in); err != nil {
		return awsclient.Err("ecs:CreateService", err)
	}
	d.logger.Info("service created", "env", spec.Environment, "service", spec.Name, "task_definition", td, "replicas", spec.Replicas)
	return nil
}

// describe returns env's service name (active), ENOTFOUND if none.
func (d *Driver) describe(ctx context.Context, env, name string) (types.Service, error) {
	out, err := d.ecs.DescribeServices(ctx, &awsecs.DescribeServicesInput{
		Cluster: aws.String(d.cfg.Cluster), Services: []string{serviceName(env, name)}, Include: []types.ServiceField{types.ServiceFieldTags},
	})
	if err != nil {
		return types.Service{}, awsclient.Err("ecs:DescribeServices", err)
	}
	for _, s := range out.Services {
		if aws.ToString(s.Status) == "ACTIVE" && runtime.Ours(tagMap(s.Tags), env, d.cfg.Installation) {
			return s, nil
		}
	}
	return types.Service{}, spacepods.Errorf(spacepods.ENOTFOUND, "service %s not found in environment %s", name, env)
}

// ScaleService sets the service's desired count. ENOTFOUND if none.
func (d *Driver) ScaleService(ctx context.Context, env, name string, replicas int) error {
	if err := runtime.ValidateReplicas(replicas); err != nil {
		return err
	}
	if _, err := d.describe(ctx, env, name); err != nil {
		return err
	}
	_, err := d.ecs.UpdateService(ctx, &awsecs.UpdateServiceInput{Cluster: aws.String(d.cfg.Cluster), Service: aws.String(serviceName(env, name)), DesiredCount: awsclient.Int32(replicas)})
	return awsclient.Err("ecs:UpdateService", err)
}

// ServiceStatus reports the service's tasks as replicas. ENOTFOUND if none.
func (d *Driver) ServiceStatus(ctx context.Context, env, name string) (runtime.ServiceStatus, error) {
	s, err := d.describe(ctx, env, name)
	if err != nil {
		return runtime.ServiceStatus{}, err
	}
	return d.status(ctx, s)
}

func (d *Driver) status(ctx context.Context, s types.Service) (runtime.ServiceStatus, error) {
	tags := tagMap(s.Tags)
	release, _ := strconv.Atoi(tags[runtime.LabelRelease]) // our own tag; 0 if someone edited it
	st := runtime.ServiceStatus{
		Name: tags[runtime.LabelService], Environment: tags[runtime.LabelEnvironment], App: tags[runtime.LabelApp],
		Release: release, Role: tags[runtime.LabelRole], Desired: int(s.DesiredCount), Replicas: []runtime.Replica{}, Labels: map[string]string{},
	}
	for k, v := range tags {
		if k != tagSpec {
			st.Labels[k] = v
		}
	}
	list, err := d.ecs.ListTasks(ctx, &awsecs.ListTasksInput{Cluster: aws.String(d.cfg.Cluster), ServiceName: s.ServiceName})
	if err != nil {
		return st, awsclient.Err("ecs:ListTasks", err)
	}
	if len(list.TaskArns) == 0 {
		return st, nil
	}
	out, err := d.ecs.DescribeTasks(ctx, &awsecs.DescribeTasksInput{Cluster: aws.String(d.cfg.Cluster), Tasks: list.TaskArns})
	if err != nil {
		return st, awsclient.Err("ecs:DescribeTasks", err)
	}
	sort.Slice(out.Tasks, func(i, j int) bool {
		return aws.ToTime(out.Tasks[i].CreatedAt).Before(aws.ToTime(out.Tasks[j].CreatedAt))
	})
	port := 0
	for _, t := range out.Tasks {
		r := runtime.Replica{ID: taskID(aws.ToString(t.TaskArn)), Running: aws.ToString(t.LastStatus) == "RUNNING"}
		// The task definition has no container health check (images FROM
		// scratch have no program to run one): a web replica's health is
		// its load balancer target's (--routing alb), checked there.
		r.Healthy = r.Running && t.HealthStatus != types.HealthStatusUnhealthy
		if ip := taskIP(t); ip != "" && st.Role == runtime.RoleWeb {
			if port == 0 {
				port = d.containerPort(ctx, aws.ToString(t.TaskDefinitionArn))
			}
			r.Addr = ip + ":" + strconv.Itoa(port)
		}
		if t.StoppedReason != nil {
			r.Error = aws.ToString(t.StoppedReason)
		}
		if r.Running {
			st.Running++
		}
		if r.Healthy {
			st.Healthy++
		}
		st.Replicas = append(st.Replicas, r)
	}
	return st, nil
}

func (d *Driver) containerPort(ctx context.Context, td string) int {
	out, err := d.ecs.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(td)})
	if err != nil || len(out.TaskDefinition.ContainerDefinitions) == 0 || len(out.TaskDefinition.ContainerDefinitions[0].PortMappings) == 0 {
		return 0
	}
	return int(aws.ToInt32(out.TaskDefinition.ContainerDefinitions[0].PortMappings[0].ContainerPort))
}

func taskID(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// taskIP is the private IP of the task's network interface (awsvpc).
func taskIP(t types.Task) string {
	for _, a := range t.Attachments {
		for _, kv := range a.Details {
			if aws.ToString(kv.Name) == "privateIPv4Address" {
				return aws.ToString(kv.Value)
			}
		}
	}
	return ""
}

// DeleteService deletes the service (stopping its tasks) and its task
// definition. Deleting a missing service succeeds.
func (d *Driver) DeleteService(ctx context.Context, env, name string) error {
	if err := runtime.ValidateName("service", name); err != nil {
		return err
	}
	if _, err := d.describe(ctx, env, name); err == nil {
		_, err := d.ecs.DeleteService(ctx, &awsecs.DeleteServiceInput{Cluster: aws.String(d.cfg.Cluster), Service: aws.String(serviceName(env, name)), Force: aws.Bool(true)})
		if err := awsclient.Err("ecs:DeleteService", err); err != nil && !awsclient.IsNotFound(err) {
			return err
		}
	} else if spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return err
	}
	return d.deleteTaskDefinitions(ctx, serviceName(env, name)+":")
}

// ListServices lists this installation's services (of env, or all).
func (d *Driver) ListServices(ctx context.Context, env string) ([]runtime.ServiceStatus, error) {
	var arns []string
	p := awsecs.NewListServicesPaginator(d.ecs, &awsecs.ListServicesInput{Cluster: aws.String(d.cfg.Cluster)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsclient.Err("ecs:ListServices", err)
		}
		for _, arn := range page.ServiceArns {
			if env == "" || strings.HasPrefix(arn[strings.LastIndex(arn, "/")+1:], env+"_") {
				arns = append(arns, arn)
			}
		}
	}
	out := []runtime.ServiceStatus{}
	for chunk := range slices.Chunk(arns, 10) {
		desc, err := d.ecs.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String(d.cfg.Cluster), Services: chunk, Include: []types.ServiceField{types.ServiceFieldTags}})
		if err != nil {
			return nil, awsclient.Err("ecs:DescribeServices", err)
		}
		for _, s := range desc.Services {
			tags := tagMap(s.Tags)
			if aws.ToString(s.Status) != "ACTIVE" || !runtime.Ours(tags, tags[runtime.LabelEnvironment], d.cfg.Installation) ||
				(env != "" && tags[runtime.LabelEnvironment] != env) {
				continue
			}
			st, err := d.status(ctx, s)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Environment+"/"+out[i].Name < out[j].Environment+"/"+out[j].Name
	})
	return out, nil
}
