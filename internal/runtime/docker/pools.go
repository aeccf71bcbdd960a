package docker

import (
	"context"
	"net/netip"
	"slices"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
)

// builtinAddressPools are the pools dockerd carves bridge networks from when
// daemon.json sets no default-address-pools (moby's libnetwork ipamutils:
// 172.17.0.0/16 to 172.31.0.0/16, and 192.168.0.0/16 in /20s), as the
// fewest prefixes covering exactly those addresses.
var builtinAddressPools = []string{"172.17.0.0/16", "172.18.0.0/15", "172.20.0.0/14", "172.24.0.0/13", "192.168.0.0/16"}

// ContainerSubnets returns the IPv4 subnets from which containers of any
// environment may connect to services on the host: the default bridge's
// subnet and the daemon's default address pools, from which Docker carves
// every environment network's subnet (Docker's built-in pools when the
// daemon reports none). The local PostgreSQL cluster admits pods' roles from
// these. A change of the pools takes a dockerd restart, and then a restart
// of the server to be seen here.
func (d *Driver) ContainerSubnets(ctx context.Context) ([]string, error) {
	info, err := d.client.Info(ctx)
	if err != nil {
		return nil, d.wrap(err, "read the Docker daemon's address pools")
	}
	bridge, err := d.client.NetworkInspect(ctx, "bridge", network.InspectOptions{})
	if err != nil {
		return nil, d.wrap(err, "inspect Docker's default bridge network")
	}
	return containerSubnets(bridge.IPAM.Config, info.DefaultAddressPools), nil
}

// containerSubnets is ContainerSubnets on what the daemon reported.
func containerSubnets(bridge []network.IPAMConfig, pools []system.NetworkAddressPool) []string {
	var out []string
	add := func(s string) {
		if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() && !slices.Contains(out, p.Masked().String()) {
			out = append(out, p.Masked().String())
		}
	}
	for _, c := range bridge {
		add(c.Subnet)
	}
	if len(pools) == 0 {
		for _, p := range builtinAddressPools {
			add(p)
		}
	}
	for _, p := range pools {
		add(p.Base)
	}
	return out
}
