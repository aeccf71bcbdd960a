package router

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// TargetSpec is one backend of a target group as the control plane declares it.
type TargetSpec struct {
	Addr   string `json:"addr"`   // host:port
	Weight int    `json:"weight"` // share of traffic; 0 = no new requests (drained, kept checked)
}

// GroupSpec is the desired state of one target group (one app in one environment).
type GroupSpec struct {
	HealthPath string       `json:"health_path"` // e.g. /healthz; empty: targets are healthy at once
	Targets    []TargetSpec `json:"targets"`
	// Asleep marks the app as put to sleep by the control plane: its
	// requests are held while the control plane wakes it (see WaitWakes).
	Asleep bool `json:"asleep,omitempty"`
}

// Validate returns an EINVALID error that says what to fix.
func (s GroupSpec) Validate() error {
	if s.HealthPath != "" && !strings.HasPrefix(s.HealthPath, "/") {
		return spacepods.Errorf(spacepods.EINVALID, "health_path %q must start with '/' (e.g. /healthz) or be empty", s.HealthPath)
	}
	seen := make(map[string]bool, len(s.Targets))
	for i, t := range s.Targets {
		if err := validateAddr(t.Addr); err != nil {
			return spacepods.Errorf(spacepods.EINVALID, "targets[%d]: %s", i, spacepods.ErrorMessage(err))
		}
		if t.Weight < 0 {
			return spacepods.Errorf(spacepods.EINVALID, "targets[%d] (%s): weight %d must be 0 or more", i, t.Addr, t.Weight)
		}
		if seen[t.Addr] {
			return spacepods.Errorf(spacepods.EINVALID, "targets[%d]: %s is listed twice; give each address once with its weight", i, t.Addr)
		}
		seen[t.Addr] = true
	}
	return nil
}

// validateAddr checks a host:port target address.
func validateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return spacepods.Errorf(spacepods.EINVALID, "addr %q must be host:port (e.g. 127.0.0.1:32768)", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return spacepods.Errorf(spacepods.EINVALID, "addr %q: port must be a number from 1 to 65535", addr)
	}
	return nil
}

// validateNames checks an environment and app name pair.
func validateNames(env, app string) error {
	if err := spacepods.ValidateName("environment", env); err != nil {
		return err
	}
	return spacepods.ValidateName("app", app)
}

// Target states reported in TargetStatus.State.
const (
	StateHealthy   = "healthy"   // passes its health check, takes traffic if its weight > 0
	StateUnhealthy = "unhealthy" // not checked yet, or failing its health check
	StateDraining  = "draining"  // removed: no new requests, in-flight ones finish
	StateStandby   = "standby"   // removed, but still serving until a new target turns healthy
)

// TargetStatus is the observed state and counters of one target.
type TargetStatus struct {
	Addr            string `json:"addr"`
	Weight          int    `json:"weight"`
	State           string `json:"state"`
	Healthy         bool   `json:"healthy"` // last health verdict, whatever the state
	Requests        uint64 `json:"requests"`
	Responses5xx    uint64 `json:"responses_5xx"`
	TransportErrors uint64 `json:"transport_errors"`
	InFlight        int64  `json:"in_flight"`
	LastError       string `json:"last_error,omitempty"` // last failed health check or request
}

// GroupStatus is one target group with per-target state and group totals.
// Totals include requests served by targets that have since been removed.
type GroupStatus struct {
	Environment     string         `json:"environment"`
	App             string         `json:"app"`
	Host            string         `json:"host"`
	HealthPath      string         `json:"health_path"`
	Targets         []TargetStatus `json:"targets"`
	HealthyTargets  int            `json:"healthy_targets"` // healthy, in the spec, weight > 0
	Requests        uint64         `json:"requests"`
	Responses5xx    uint64         `json:"responses_5xx"`
	TransportErrors uint64         `json:"transport_errors"`
	InFlight        int64          `json:"in_flight"`
	RouterErrors    uint64         `json:"router_errors"`          // requests answered by the router's own 502/503 page
	Asleep          bool           `json:"asleep,omitempty"`       // held for a wake (GroupSpec.Asleep)
	LastRequest     *time.Time     `json:"last_request,omitempty"` // latest request since the router started
}

// Target returns the status of the target with addr, if the group lists it.
func (g GroupStatus) Target(addr string) (TargetStatus, bool) {
	for _, t := range g.Targets {
		if t.Addr == addr {
			return t, true
		}
	}
	return TargetStatus{}, false
}

// AllHealthy reports whether every listed address is a healthy target of the
// group's spec (not draining, not on standby): what a deploy waits for before
// shifting weight to new targets.
func (g GroupStatus) AllHealthy(addrs ...string) bool {
	for _, a := range addrs {
		t, ok := g.Target(a)
		if !ok || t.State != StateHealthy {
			return false
		}
	}
	return true
}

// parseHost splits a request Host into environment and app under domain.
// ok is false when the host is not of the form <app>.<env>.<domain>.
func parseHost(host, domain string) (env, app string, ok bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	rest, found := strings.CutSuffix(host, "."+domain)
	if !found {
		return "", "", false
	}
	app, env, found = strings.Cut(rest, ".")
	if !found || app == "" || env == "" || strings.Contains(env, ".") {
		return "", "", false
	}
	return env, app, true
}
