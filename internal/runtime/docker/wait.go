package docker

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/spacepods/spacepods/internal/runtime"
)

var _ runtime.HealthWaiter = (*Driver)(nil)

// Health probes while waiting: the first soon after the start, then
// doubling (a replica that takes long to boot is not probed hundreds of
// times).
const (
	firstProbe = 5 * time.Millisecond
	maxProbe   = 100 * time.Millisecond
)

// WaitHealthy lists the service's replicas once, then probes the running
// ones from the host until n answer their health check, and watches the
// daemon's events for one of them dying (a crash is then the caller's to
// report, at once). false when fewer than n run, when one dies, or when
// within passes.
func (d *Driver) WaitHealthy(ctx context.Context, env, name string, n int, within time.Duration) (bool, error) {
	s, err := d.findService(ctx, env, name)
	if err != nil {
		return false, err
	}
	var reps []container.Summary
	for _, c := range s.replicas {
		if c.State == container.StateRunning {
			reps = append(reps, c)
		}
	}
	if len(reps) < n {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()

	args := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("event", string(events.ActionDie)))
	for _, c := range reps {
		args.Add("container", c.ID)
	}
	msgs, errs := d.client.Events(ctx, events.ListOptions{Filters: args})
	died := make(chan struct{})
	go func() {
		select {
		case <-msgs:
			close(died)
		case err := <-errs: // the stream broke: probing goes on until within
			d.logger.Debug("Docker's event stream ended while waiting for health", "env", env, "service", name, "err", err)
		case <-ctx.Done():
		}
	}()

	healthy := make([]bool, len(reps))
	pause := firstProbe
	for {
		var wg sync.WaitGroup
		for i, c := range reps {
			if !healthy[i] {
				wg.Go(func() { healthy[i] = d.probeReplica(ctx, c) })
			}
		}
		wg.Wait()
		up := 0
		for _, h := range healthy {
			if h {
				up++
			}
		}
		if up >= n {
			return true, nil
		}
		select {
		case <-died:
			return false, nil
		case <-ctx.Done(): // within passed, or the caller's ctx ended: the caller looks
			return false, nil
		case <-time.After(pause):
		}
		pause = min(pause*2, maxProbe)
	}
}

// probeReplica says whether a running replica answers its health check
// (one with no health path is healthy when running).
func (d *Driver) probeReplica(ctx context.Context, c container.Summary) bool {
	path := c.Labels[labelHealthPath]
	if path == "" {
		return true
	}
	addr := replicaAddr(c)
	if addr == "" {
		return false
	}
	timeout, err := time.ParseDuration(c.Labels[labelHealthTimeout])
	if err != nil || timeout <= 0 {
		timeout = defaultTimeout
	}
	return d.probeHealth(ctx, addr, path, timeout) == nil
}

// replicaAddr is the published loopback address of a replica's port, ""
// if it has none.
func replicaAddr(c container.Summary) string {
	port, _ := strconv.Atoi(c.Labels[labelPort])
	for _, p := range c.Ports {
		if int(p.PrivatePort) == port && p.Type == "tcp" && p.IP == "127.0.0.1" && p.PublicPort != 0 {
			return net.JoinHostPort(p.IP, strconv.Itoa(int(p.PublicPort)))
		}
	}
	return ""
}
