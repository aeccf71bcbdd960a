package docker

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func validName(kind, name string) error { return runtime.ValidateName(kind, name) }

// managedFilter selects objects this installation of Spacepods made,
// optionally of one environment.
func (d *Driver) managedFilter(env string, more ...filters.KeyValuePair) filters.Args {
	args := filters.NewArgs(filters.Arg("label", runtime.LabelManaged+"=true"))
	if d.installation != "" {
		args.Add("label", runtime.LabelInstallation+"="+d.installation)
	}
	if env != "" {
		args.Add("label", runtime.LabelEnvironment+"="+env)
	}
	for _, kv := range more {
		args.Add(kv.Key, kv.Value)
	}
	return args
}

// poolError explains Docker's "could not find an available,
// non-overlapping IPv4 address pool" (every environment is a network, and
// dockerd's default pools give about 30): the cause and both fixes. nil
// for any other error.
func poolError(env string, err error) error {
	if err == nil || !strings.Contains(err.Error(), "non-overlapping IPv4 address pool") {
		return nil
	}
	return spacepods.Errorf(spacepods.EUNAVAILABLE,
		"Docker has run out of address pools for networks, so environment %q gets none (each pod is a Docker network): destroy pods you no longer need (`spacepods pod list`, `spacepods pod destroy NAME`), or give dockerd more, smaller pools with \"default-address-pools\" in /etc/docker/daemon.json, e.g. [{\"base\": \"10.200.0.0/16\", \"size\": 24}], then restart dockerd", env)
}

// EnsureEnvironment creates the environment's bridge network if missing.
// EINVALID for a bad name; ECONFLICT if a network of that name exists that
// Spacepods did not make.
func (d *Driver) EnsureEnvironment(ctx context.Context, env runtime.EnvSpec) error {
	if err := validName("environment", env.Name); err != nil {
		return err
	}
	name := networkName(env.Name)
	if _, err := d.network(ctx, env.Name); err == nil || spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return err
	}
	labels := runtime.EnvLabels(env.Labels, env.Name, d.installation)
	_, err := d.client.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: labels})
	if cerrdefs.IsConflict(err) { // created concurrently
		_, err = d.network(ctx, env.Name)
		return err
	}
	if perr := poolError(env.Name, err); perr != nil {
		return perr
	}
	if err != nil {
		return d.wrap(err, "create network "+name)
	}
	d.logger.Info("environment created", "env", env.Name, "network", name)
	return nil
}

// network inspects an environment's network. ENOTFOUND if missing,
// ECONFLICT if the name is taken by a network Spacepods did not make.
func (d *Driver) network(ctx context.Context, env string) (network.Inspect, error) {
	name := networkName(env)
	n, err := d.client.NetworkInspect(ctx, name, network.InspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return n, spacepods.Errorf(spacepods.ENOTFOUND, "environment %q does not exist on Docker (no network %s)", env, name)
	}
	if err != nil {
		return n, d.wrap(err, "inspect network "+name)
	}
	if err := runtime.CheckOwner(n.Labels, env, d.installation, "Docker network "+name, "remove it or pick another environment name"); err != nil {
		return n, err
	}
	return n, nil
}

// DestroyEnvironment removes every container labelled for the environment,
// then its network. A missing environment is not an error.
func (d *Driver) DestroyEnvironment(ctx context.Context, env string) error {
	if env == "" {
		return spacepods.Errorf(spacepods.EINVALID, "environment name is empty")
	}
	cs, err := d.client.ContainerList(ctx, container.ListOptions{All: true, Filters: d.managedFilter(env)})
	if err != nil {
		return d.wrap(err, "list containers")
	}
	err = runtime.Parallel(len(cs), func(i int) error { return d.remove(ctx, cs[i].ID, false) })
	if err != nil {
		return err
	}
	nets, err := d.client.NetworkList(ctx, network.ListOptions{Filters: d.managedFilter(env)})
	if err != nil {
		return d.wrap(err, "list networks")
	}
	for _, n := range nets {
		// Whatever is still attached goes with the environment: on a loaded
		// daemon a removed container's endpoint can linger ("network has
		// active endpoints"), and a container made by someone else has no
		// business on an environment's network.
		if ni, err := d.client.NetworkInspect(ctx, n.ID, network.InspectOptions{}); err == nil {
			for id := range ni.Containers {
				if err := d.client.NetworkDisconnect(ctx, n.ID, id, true); err != nil && !cerrdefs.IsNotFound(err) {
					d.logger.Warn("disconnect from an environment's network", "env", env, "network", n.Name, "container", id, "err", err)
				}
			}
		}
		if err := d.client.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			return d.wrap(err, "remove network "+n.Name)
		}
	}
	d.logger.Info("environment destroyed", "env", env, "containers", len(cs))
	return nil
}

// ListEnvironments lists the environments that have a Spacepods network or
// container, sorted.
func (d *Driver) ListEnvironments(ctx context.Context) ([]string, error) {
	nets, err := d.client.NetworkList(ctx, network.ListOptions{Filters: d.managedFilter("")})
	if err != nil {
		return nil, d.wrap(err, "list networks")
	}
	cs, err := d.client.ContainerList(ctx, container.ListOptions{All: true, Filters: d.managedFilter("")})
	if err != nil {
		return nil, d.wrap(err, "list containers")
	}
	seen := map[string]bool{}
	for _, n := range nets {
		seen[n.Labels[runtime.LabelEnvironment]] = true
	}
	for _, c := range cs {
		seen[c.Labels[runtime.LabelEnvironment]] = true
	}
	delete(seen, "")
	return slices.Sorted(maps.Keys(seen)), nil
}

// HostAddress returns the gateway IP of the environment's network: the
// address at which its containers reach services on the host. ENOTFOUND if
// the environment does not exist.
func (d *Driver) HostAddress(ctx context.Context, env string) (string, error) {
	n, err := d.network(ctx, env)
	if err != nil {
		return "", err
	}
	if gw, ok := ipv4Gateway(n.IPAM.Config); ok {
		return gw, nil
	}
	return "", spacepods.Errorf(spacepods.EINTERNAL, "network %s has no IPv4 gateway", n.Name)
}

// Subnet returns the subnet of the environment's network. ENOTFOUND if the
// environment does not exist.
func (d *Driver) Subnet(ctx context.Context, env string) (string, error) {
	n, err := d.network(ctx, env)
	if err != nil {
		return "", err
	}
	for _, c := range n.IPAM.Config {
		if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() {
			return p.String(), nil
		}
	}
	return "", spacepods.Errorf(spacepods.EUNAVAILABLE, "network %s has no IPv4 subnet", networkName(env))
}

// BridgeGateway returns the gateway address of Docker's default bridge
// network (docker0): an address of this host that every environment's
// containers reach, where the edge router's internal listener goes.
func (d *Driver) BridgeGateway(ctx context.Context) (string, error) {
	n, err := d.client.NetworkInspect(ctx, "bridge", network.InspectOptions{})
	if err != nil {
		return "", d.wrap(err, "inspect Docker's default bridge network")
	}
	if gw, ok := ipv4Gateway(n.IPAM.Config); ok {
		return gw, nil
	}
	return "", spacepods.Errorf(spacepods.EUNAVAILABLE, "Docker's default bridge network has no IPv4 subnet (IPAM config %+v): start dockerd with its default bridge (docker0), not --bridge=none", n.IPAM.Config)
}

// ipv4Gateway returns the IPv4 gateway of a network's IPAM configs. Docker
// leaves the Gateway field out in some cases (the default bridge on the
// first start of a daemon with an empty network store reports only
// {"Subnet": "172.17.0.0/16"}); the gateway is then the subnet's first
// address, which is what Docker assigns.
func ipv4Gateway(configs []network.IPAMConfig) (string, bool) {
	for _, c := range configs {
		if gw, err := netip.ParseAddr(c.Gateway); err == nil && gw.Is4() {
			return gw.String(), true
		}
	}
	for _, c := range configs {
		if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() && p.Bits() < 31 {
			return p.Masked().Addr().Next().String(), true
		}
	}
	return "", false
}
