package docker

import (
	"testing"

	"github.com/docker/docker/api/types/network"
)

// TestIPv4Gateway_DerivedWhenDockerOmitsIt: on the first start of a daemon
// with an empty network store, Docker 20.10 reports the default bridge as
// [{"Subnet": "172.17.0.0/16"}], with no Gateway.
func TestIPv4Gateway_DerivedWhenDockerOmitsIt(t *testing.T) {
	tests := []struct {
		name    string
		configs []network.IPAMConfig
		want    string
		ok      bool
	}{
		{"first start: subnet only", []network.IPAMConfig{{Subnet: "172.17.0.0/16"}}, "172.17.0.1", true},
		{"later starts: gateway given", []network.IPAMConfig{{Subnet: "172.17.0.0/16", Gateway: "172.17.0.1"}}, "172.17.0.1", true},
		{"gateway not the first address", []network.IPAMConfig{{Subnet: "10.9.0.0/24", Gateway: "10.9.0.254"}}, "10.9.0.254", true},
		{"subnet written unmasked", []network.IPAMConfig{{Subnet: "192.168.5.77/20"}}, "192.168.0.1", true},
		{"IPv6 first, IPv4 subnet after", []network.IPAMConfig{{Subnet: "fd00::/64", Gateway: "fd00::1"}, {Subnet: "172.18.0.0/16"}}, "172.18.0.1", true},
		{"an IPv4 gateway wins over a derived one", []network.IPAMConfig{{Subnet: "172.19.0.0/16"}, {Subnet: "172.20.0.0/16", Gateway: "172.20.0.9"}}, "172.20.0.9", true},
		{"IPv6 only", []network.IPAMConfig{{Subnet: "fd00::/64", Gateway: "fd00::1"}}, "", false},
		{"nothing", nil, "", false},
		{"garbage", []network.IPAMConfig{{Subnet: "not-a-subnet", Gateway: "nope"}}, "", false},
		{"a /32 has no gateway", []network.IPAMConfig{{Subnet: "10.0.0.5/32"}}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ipv4Gateway(tt.configs)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ipv4Gateway(%+v) = %q, %v; want %q, %v", tt.configs, got, ok, tt.want, tt.ok)
			}
		})
	}
}
