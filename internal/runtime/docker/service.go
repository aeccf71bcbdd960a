package docker

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// service is the containers of one service, as found by labels.
type service struct {
	env, name string
	spec      *container.Summary  // replica 0, never started; nil if lost
	replicas  []container.Summary // replicas 1..N, by number
}

// template is the container whose labels and config describe the service.
func (s *service) template() container.Summary {
	if s.spec != nil {
		return *s.spec
	}
	return s.replicas[0]
}

func replicaNumber(c container.Summary) int {
	n, err := strconv.Atoi(c.Labels[labelReplica])
	if err != nil {
		return -1
	}
	return n
}

// services groups service containers (tasks left out) by environment and
// name, sorted.
func services(cs []container.Summary) []*service {
	byKey := map[[2]string]*service{}
	for _, c := range cs {
		l := c.Labels
		n := replicaNumber(c)
		if l[runtime.LabelRole] == runtime.RoleTask || n < 0 {
			continue
		}
		key := [2]string{l[runtime.LabelEnvironment], l[runtime.LabelService]}
		s := byKey[key]
		if s == nil {
			s = &service{env: key[0], name: key[1]}
			byKey[key] = s
		}
		if n == 0 {
			s.spec = &c
		} else {
			s.replicas = append(s.replicas, c)
		}
	}
	out := slices.Collect(maps.Values(byKey))
	for _, s := range out {
		slices.SortFunc(s.replicas, func(a, b container.Summary) int { return replicaNumber(a) - replicaNumber(b) })
	}
	slices.SortFunc(out, func(a, b *service) int { return cmp.Or(cmp.Compare(a.env, b.env), cmp.Compare(a.name, b.name)) })
	return out
}

// findService lists one service's containers. ENOTFOUND if there are none.
func (d *Driver) findService(ctx context.Context, env, name string) (*service, error) {
	if env == "" || name == "" {
		return nil, spacepods.Errorf(spacepods.ENOTFOUND, "service %q not found in environment %q", name, env)
	}
	cs, err := d.client.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: d.managedFilter(env, filters.Arg("label", runtime.LabelService+"="+name)),
	})
	if err != nil {
		return nil, d.wrap(err, "list containers")
	}
	if ss := services(cs); len(ss) == 1 {
		return ss[0], nil
	}
	return nil, spacepods.Errorf(spacepods.ENOTFOUND, "service %q not found in environment %q", name, env)
}

// CreateService starts spec.Replicas replicas of the service (the spec
// container is made only for a service of zero replicas, here or when it
// is scaled to zero: see ScaleService). A service of that name with the same release and image is
// left alone, but for replicas PrepareService made, which it starts;
// ECONFLICT if it differs. ENOTFOUND if the environment does not exist;
// EINVALID for a bad spec or an image missing on this host.
func (d *Driver) CreateService(ctx context.Context, spec runtime.ServiceSpec) error {
	return d.makeService(ctx, spec, true)
}

// PrepareService creates spec.Replicas replicas of the service without
// starting them; CreateService with the same spec starts them.
func (d *Driver) PrepareService(ctx context.Context, spec runtime.ServiceSpec) error {
	return d.makeService(ctx, spec, false)
}

// makeService is CreateService (start) and PrepareService (!start).
func (d *Driver) makeService(ctx context.Context, spec runtime.ServiceSpec, start bool) error {
	if err := validateService(spec); err != nil {
		return err
	}
	defer d.lock(spec.Environment, spec.Name)()
	existing, err := d.findService(ctx, spec.Environment, spec.Name)
	if err == nil {
		if err := d.sameSpec(ctx, existing, spec); err != nil {
			return err
		}
		if start {
			return d.startPrepared(ctx, existing)
		}
		return nil
	} else if spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return err
	}
	if _, err := d.network(ctx, spec.Environment); err != nil {
		return err
	}
	if err := d.requireImage(ctx, spec.Image); err != nil {
		return err
	}
	values, err := runtime.ResolveSecrets(ctx, d.secrets, spec.Secrets)
	if err != nil {
		return err
	}
	if spec.Replicas == 0 {
		// No replica holds the spec: the spec container does.
		_, err := d.create(ctx, spec, 0, nil)
		return err
	}
	err = runtime.Parallel(spec.Replicas, func(i int) error {
		if !start {
			_, err := d.create(ctx, spec, i+1, values)
			return err
		}
		return d.startReplica(ctx, spec, i+1, values)
	})
	if err != nil {
		// Leave nothing half-made, so that a retry starts clean.
		if s, ferr := d.findService(context.WithoutCancel(ctx), spec.Environment, spec.Name); ferr == nil {
			_ = d.removeAll(context.WithoutCancel(ctx), s, false) // best-effort cleanup; nothing useful to do on failure
		}
		return err
	}
	what := "service created"
	if !start {
		what = "service prepared (not started)"
	}
	d.logger.Info(what, "env", spec.Environment, "service", spec.Name,
		"release", spec.Release, "image", spec.Image, "replicas", spec.Replicas)
	return nil
}

// sameSpec returns ECONFLICT unless the existing service runs spec's
// release and image.
func (d *Driver) sameSpec(ctx context.Context, existing *service, spec runtime.ServiceSpec) error {
	have, err := d.inspectSpec(ctx, existing)
	if err != nil {
		return err
	}
	if have.Release != spec.Release || have.Image != spec.Image {
		return spacepods.Errorf(spacepods.ECONFLICT,
			"service %q already exists in environment %q with release %d (image %s): delete it first",
			spec.Name, spec.Environment, have.Release, have.Image)
	}
	return nil
}

// startPrepared starts the replicas of a service that were created and
// never started (by PrepareService).
func (d *Driver) startPrepared(ctx context.Context, s *service) error {
	var ids []string
	for _, c := range s.replicas {
		if c.State == container.StateCreated {
			ids = append(ids, c.ID)
		}
	}
	err := runtime.Parallel(len(ids), func(i int) error {
		return d.wrap(d.client.ContainerStart(ctx, ids[i], container.StartOptions{}), "start container "+ids[i][:12])
	})
	if err == nil && len(ids) > 0 {
		d.logger.Info("prepared service started", "env", s.env, "service", s.name, "replicas", len(ids))
	}
	return err
}

func validateService(spec runtime.ServiceSpec) error { return spec.Validate() }

// ScaleService sets the number of replicas: it starts new ones numbered after
// the highest, or stops and removes the highest-numbered first (to zero:
// after making the spec container). ENOTFOUND if no such service.
func (d *Driver) ScaleService(ctx context.Context, env, name string, replicas int) error {
	if err := runtime.ValidateReplicas(replicas); err != nil {
		return err
	}
	defer d.lock(env, name)()
	s, err := d.findService(ctx, env, name)
	if err != nil {
		return err
	}
	have := len(s.replicas)
	switch {
	case replicas > have:
		spec, err := d.inspectSpec(ctx, s)
		if err != nil {
			return err
		}
		if err := d.requireImage(ctx, spec.Image); err != nil {
			return err
		}
		values, err := d.replicaSecrets(ctx, s, spec)
		if err != nil {
			return err
		}
		next := 1
		if have > 0 {
			next = replicaNumber(s.replicas[have-1]) + 1
		}
		err = runtime.Parallel(replicas-have, func(i int) error { return d.startReplica(ctx, spec, next+i, values) })
		if err != nil {
			return err
		}
	case replicas < have:
		if replicas == 0 && s.spec == nil {
			// The last replicas go: the spec container keeps what a
			// later scale-up (a rollback) needs, before they do.
			spec, err := d.inspectSpec(ctx, s)
			if err != nil {
				return err
			}
			if _, err := d.create(ctx, spec, 0, nil); err != nil {
				return err
			}
		}
		gone := s.replicas[replicas:]
		err := runtime.Parallel(len(gone), func(i int) error { return d.remove(ctx, gone[i].ID, true) })
		if err != nil {
			return err
		}
	}
	d.logger.Info("service scaled", "env", env, "service", name, "from", have, "to", replicas)
	return nil
}

// DeleteService stops and removes all of a service's containers. A missing
// service is not an error.
func (d *Driver) DeleteService(ctx context.Context, env, name string) error {
	defer d.lock(env, name)()
	s, err := d.findService(ctx, env, name)
	if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if err := d.removeAll(ctx, s, true); err != nil {
		return err
	}
	d.logger.Info("service deleted", "env", env, "service", name)
	return nil
}

func (d *Driver) removeAll(ctx context.Context, s *service, graceful bool) error {
	cs := s.replicas
	if s.spec != nil {
		cs = append(slices.Clone(cs), *s.spec)
	}
	return runtime.Parallel(len(cs), func(i int) error { return d.remove(ctx, cs[i].ID, graceful) })
}

// ServiceStatus reports a service's replicas, probing the health of each
// running one now. ENOTFOUND if no such service.
func (d *Driver) ServiceStatus(ctx context.Context, env, name string) (runtime.ServiceStatus, error) {
	s, err := d.findService(ctx, env, name)
	if err != nil {
		return runtime.ServiceStatus{}, err
	}
	return d.status(ctx, s), nil
}

// ListServices lists services by labels, with their status; env "" lists
// every environment.
func (d *Driver) ListServices(ctx context.Context, env string) ([]runtime.ServiceStatus, error) {
	cs, err := d.client.ContainerList(ctx, container.ListOptions{All: true, Filters: d.managedFilter(env)})
	if err != nil {
		return nil, d.wrap(err, "list containers")
	}
	ss := services(cs)
	out := make([]runtime.ServiceStatus, len(ss))
	_ = runtime.Parallel(len(ss), func(i int) error { out[i] = d.status(ctx, ss[i]); return nil }) // the callback never fails
	return out, nil
}

func (d *Driver) status(ctx context.Context, s *service) runtime.ServiceStatus {
	l := s.template().Labels
	release, _ := strconv.Atoi(l[runtime.LabelRelease])
	st := runtime.ServiceStatus{
		Name:        s.name,
		Environment: s.env,
		App:         l[runtime.LabelApp],
		Release:     release,
		Role:        l[runtime.LabelRole],
		Desired:     len(s.replicas),
		Replicas:    make([]runtime.Replica, len(s.replicas)),
		Labels:      extraLabels(l),
	}
	_ = runtime.Parallel(len(s.replicas), func(i int) error { // the callback never fails
		st.Replicas[i] = d.replica(ctx, s.replicas[i])
		return nil
	})
	for _, r := range st.Replicas {
		if r.Running {
			st.Running++
		}
		if r.Healthy {
			st.Healthy++
		}
	}
	return st
}

// replicaSecrets returns the secret values for new replicas of a service:
// those of its oldest replica, so that every replica sees the same values,
// or, with no replica left, the values the secret store has now.
func (d *Driver) replicaSecrets(ctx context.Context, s *service, spec runtime.ServiceSpec) (map[string]string, error) {
	if len(spec.Secrets) == 0 {
		return nil, nil
	}
	if len(s.replicas) > 0 {
		c, err := d.client.ContainerInspect(ctx, s.replicas[0].ID)
		if err == nil {
			env := parseEnv(c.Config.Env)
			values := map[string]string{}
			for k := range spec.Secrets {
				if v, ok := env[k]; ok {
					values[k] = v
				}
			}
			if len(values) == len(spec.Secrets) {
				return values, nil
			}
		} else if !cerrdefs.IsNotFound(err) {
			return nil, d.wrap(err, "inspect container")
		}
	}
	return runtime.ResolveSecrets(ctx, d.secrets, spec.Secrets)
}

func parseEnv(list []string) map[string]string {
	env := map[string]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// inspectSpec reads back the full spec of a service from its spec container
// (or, if that was lost, from a replica, leaving out the secret values
// that a replica's env holds).
func (d *Driver) inspectSpec(ctx context.Context, s *service) (runtime.ServiceSpec, error) {
	c, err := d.client.ContainerInspect(ctx, s.template().ID)
	if err != nil {
		return runtime.ServiceSpec{}, d.wrap(err, "inspect container")
	}
	l := c.Config.Labels
	release, _ := strconv.Atoi(l[runtime.LabelRelease])
	port, _ := strconv.Atoi(l[labelPort])
	timeout, _ := time.ParseDuration(l[labelHealthTimeout])
	var secrets map[string]string
	if v := l[labelSecrets]; v != "" {
		if err := json.Unmarshal([]byte(v), &secrets); err != nil {
			return runtime.ServiceSpec{}, spacepods.Errorf(spacepods.EINTERNAL, "service %q in environment %q: label %s does not parse: %v (delete the service and deploy again)", s.name, s.env, labelSecrets, err)
		}
	}
	env := parseEnv(c.Config.Env)
	for k := range secrets {
		delete(env, k)
	}
	var aliases []string
	if a := l[labelAliases]; a != "" {
		aliases = strings.Split(a, ",")
	}
	return runtime.ServiceSpec{
		Name:        s.name,
		Environment: s.env,
		App:         l[runtime.LabelApp],
		Release:     release,
		Role:        l[runtime.LabelRole],
		Image:       c.Config.Image,
		Command:     c.Config.Entrypoint,
		Args:        c.Config.Cmd,
		Env:         env,
		Secrets:     secrets,
		Port:        port,
		Aliases:     aliases,
		Hosts:       hostsOf(c),
		Health:      runtime.HealthCheck{Path: l[labelHealthPath], Timeout: timeout},
		Labels:      extraLabels(l),
	}, nil
}

// ownLabels are the labels the driver sets; the rest came from spec.Labels.
var ownLabels = []string{
	runtime.LabelManaged, runtime.LabelEnvironment, runtime.LabelApp, runtime.LabelRelease,
	runtime.LabelRole, runtime.LabelService,
	labelReplica, labelPort, labelAliases, labelHealthPath, labelHealthTimeout, labelSecrets,
}

func extraLabels(l map[string]string) map[string]string {
	out := maps.Clone(l)
	for _, k := range ownLabels {
		delete(out, k)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// create creates (but does not start) container n of a service. Replica 0
// is the spec container: no restart policy, no published port, and no
// secret values (only their references, in a label); secrets are the
// values of spec.Secrets for a replica.
func (d *Driver) create(ctx context.Context, spec runtime.ServiceSpec, n int, secrets map[string]string) (string, error) {
	timeout := spec.Health.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	l := runtime.Labels(spec.Labels, spec.Environment, spec.App, spec.Name, spec.Role, spec.Release, d.installation)
	l[labelReplica] = strconv.Itoa(n)
	l[labelPort] = strconv.Itoa(spec.Port)
	l[labelAliases] = strings.Join(spec.Aliases, ",")
	l[labelHealthPath] = spec.Health.Path
	l[labelHealthTimeout] = timeout.String()
	if len(spec.Secrets) > 0 {
		refs, err := json.Marshal(spec.Secrets)
		if err != nil {
			return "", err
		}
		l[labelSecrets] = string(refs)
	}
	env := spec.Env
	if n > 0 {
		env = runtime.Merged(spec.Env, secrets)
	}

	grace := int(stopGrace / time.Second)
	cfg := &container.Config{
		Image:       spec.Image,
		Entrypoint:  spec.Command,
		Cmd:         spec.Args,
		Env:         envList(env),
		Labels:      l,
		StopTimeout: &grace,
	}
	host := &container.HostConfig{NetworkMode: container.NetworkMode(networkName(spec.Environment)), ExtraHosts: runtime.HostsList(spec.Hosts)}
	if n > 0 {
		host.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}
		if spec.Port > 0 {
			port := nat.Port(fmt.Sprintf("%d/tcp", spec.Port))
			cfg.ExposedPorts = nat.PortSet{port: {}}
			host.PortBindings = nat.PortMap{port: {{HostIP: "127.0.0.1", HostPort: ""}}}
		}
	}
	aliases := append(slices.Clone(spec.Aliases), spec.Name)
	net := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		networkName(spec.Environment): {Aliases: aliases},
	}}
	name := containerName(spec.Environment, spec.Name, n)
	resp, err := d.client.ContainerCreate(ctx, cfg, host, net, nil, name)
	if err != nil {
		return "", d.wrap(err, "create container "+name)
	}
	return resp.ID, nil
}

func (d *Driver) startReplica(ctx context.Context, spec runtime.ServiceSpec, n int, secrets map[string]string) error {
	id, err := d.create(ctx, spec, n, secrets)
	if err != nil {
		return err
	}
	if err := d.client.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return d.wrap(err, "start container "+containerName(spec.Environment, spec.Name, n))
	}
	return nil
}

// remove stops a container (SIGTERM, then SIGKILL after stopGrace) when
// graceful, and removes it. A missing container is not an error.
func (d *Driver) remove(ctx context.Context, id string, graceful bool) error {
	if graceful {
		grace := int(stopGrace / time.Second)
		err := d.client.ContainerStop(ctx, id, container.StopOptions{Timeout: &grace})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return d.wrap(err, "stop container")
		}
	}
	err := d.client.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress") {
		// Someone else removes it (a finished task's removal, say):
		// done once it is gone.
		gone, errc := d.client.ContainerWait(ctx, id, container.WaitConditionRemoved)
		select {
		case <-gone:
			return nil
		case err = <-errc:
		}
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return d.wrap(err, "remove container")
	}
	return nil
}

// hostsOf reads a container's extra hosts back.
func hostsOf(c container.InspectResponse) map[string]string {
	if c.HostConfig == nil {
		return nil
	}
	return runtime.ParseHostsList(c.HostConfig.ExtraHosts)
}
