package docker

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/netip"
	"reflect"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"

	"github.com/spacepods/spacepods/internal/testenv"
)

func TestContainerSubnets_BridgeAndPools(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		bridge []network.IPAMConfig
		pools  []system.NetworkAddressPool
		want   []string
	}{
		{
			name:   "first start of dockerd: no gateway, no pools configured",
			bridge: []network.IPAMConfig{{Subnet: "172.17.0.0/16"}},
			want:   []string{"172.17.0.0/16", "172.18.0.0/15", "172.20.0.0/14", "172.24.0.0/13", "192.168.0.0/16"},
		},
		{
			name:   "bip outside the pools, pools from daemon.json",
			bridge: []network.IPAMConfig{{Subnet: "10.99.0.1/24", Gateway: "10.99.0.1"}, {Subnet: "fd00::/64"}},
			pools:  []system.NetworkAddressPool{{Base: "10.200.0.0/16", Size: 24}, {Base: "10.200.0.0/16", Size: 24}},
			want:   []string{"10.99.0.0/24", "10.200.0.0/16"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := containerSubnets(tt.bridge, tt.pools); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("containerSubnets = %v, want %v", got, tt.want)
			}
		})
	}
}

// The built-in pools are what dockerd 20.10 uses without default-address-pools.
func TestContainerSubnets_BuiltinPoolsCoverDockerDefaults(t *testing.T) {
	t.Parallel()
	var prefixes []netip.Prefix
	for _, s := range builtinAddressPools {
		prefixes = append(prefixes, netip.MustParsePrefix(s))
	}
	covered := func(a netip.Addr) bool {
		for _, p := range prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	for b := 17; b <= 31; b++ {
		for _, last := range []byte{0, 255} {
			if a := netip.AddrFrom4([4]byte{172, byte(b), last, last}); !covered(a) {
				t.Errorf("%s (Docker's default pool 172.%d.0.0/16) is not covered", a, b)
			}
		}
	}
	for _, a := range []string{"172.16.255.255", "172.32.0.0", "192.167.255.255", "192.169.0.0", "10.0.0.1"} {
		if covered(netip.MustParseAddr(a)) {
			t.Errorf("%s is outside Docker's default pools but covered", a)
		}
	}
	if !covered(netip.MustParseAddr("192.168.240.1")) {
		t.Error("192.168.240.1 (the last /20 of 192.168.0.0/16) is not covered")
	}
}

// On the real daemon: the default bridge's subnet is among them, and so is
// a new network's.
func TestDriver_ContainerSubnets_CoverANewNetwork(t *testing.T) {
	t.Parallel()
	testenv.RequireDocker(t)
	d, err := New(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	subnets, err := d.ContainerSubnets(ctx)
	if err != nil {
		t.Fatalf("ContainerSubnets: %v", err)
	}
	name := "sp-pools-test-" + rand.Text()[:8]
	created, err := d.client.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: map[string]string{"spacepods.test": "pools"}})
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	defer d.client.NetworkRemove(context.Background(), created.ID)
	n, err := d.client.NetworkInspect(ctx, created.ID, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range n.IPAM.Config {
		sub, err := netip.ParsePrefix(c.Subnet)
		if err != nil || !sub.Addr().Is4() {
			continue
		}
		in := false
		for _, s := range subnets {
			p := netip.MustParsePrefix(s)
			in = in || p.Contains(sub.Addr()) && p.Bits() <= sub.Bits()
		}
		if !in {
			t.Errorf("network %s got subnet %s, outside ContainerSubnets %v", name, sub, subnets)
		}
		return
	}
	t.Fatalf("network %s has no IPv4 subnet: %+v", name, n.IPAM.Config)
}
