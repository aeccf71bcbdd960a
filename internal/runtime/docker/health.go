package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/spacepods/spacepods/internal/runtime"
)

// replica reports one replica container, probing its health now: the driver
// probes from the host on the published loopback port, because scratch
// images have no shell or curl for a Docker HEALTHCHECK.
func (d *Driver) replica(ctx context.Context, c container.Summary) runtime.Replica {
	d.probeSlots <- struct{}{}
	defer func() { <-d.probeSlots }()

	path := c.Labels[labelHealthPath]
	timeout, err := time.ParseDuration(c.Labels[labelHealthTimeout])
	if err != nil || timeout <= 0 {
		timeout = defaultTimeout
	}
	r := runtime.Replica{ID: c.ID[:12], Running: c.State == container.StateRunning, Addr: replicaAddr(c)}
	if len(c.Names) > 0 {
		r.ID = strings.TrimPrefix(c.Names[0], "/")
	}
	if r.Running {
		switch {
		case path == "":
			r.Healthy = true
		case r.Addr == "":
			r.Error = "no published port to probe"
		default:
			if err := d.probeHealth(ctx, r.Addr, path, timeout); err != nil {
				r.Error = err.Error()
			} else {
				r.Healthy = true
			}
		}
	}
	if !r.Healthy {
		// Why it died matters more than why the probe failed.
		why, restarts, crashes := d.exitReason(ctx, c.ID)
		if why != "" {
			r.Error = strings.TrimSuffix(why+"; "+r.Error, "; ")
		}
		r.Restarts, r.Crashes = restarts, crashes
	}
	return r
}

// probeHealth GETs path on addr; nil for a 2xx answer.
func (d *Driver) probeHealth(ctx context.Context, addr, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return fmt.Errorf("health check: %v", err)
	}
	resp, err := d.probe.Do(req)
	if err != nil {
		return fmt.Errorf("health check: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return fmt.Errorf("health check GET %s answered %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
}

// exitReason says why a replica is not (or was not always) running: exit
// code, restarts and its last log lines ("" for a replica running since it
// started), how often Docker restarted it, and how often its process ended
// (runtime.Replica.Crashes: Docker keeps the last exit code only, and only
// while the container is down).
func (d *Driver) exitReason(ctx context.Context, id string) (why string, restarts, crashes int) {
	c, err := d.client.ContainerInspect(ctx, id)
	if err != nil || c.State == nil {
		return "", 0, 0
	}
	st := c.State
	crashes = c.RestartCount
	if (st.Restarting || !st.Running) && st.Status != container.StateCreated && st.ExitCode != 0 {
		crashes++
	}
	switch {
	case st.Error != "":
		why = "failed to start: " + st.Error
	case st.Status == container.StateCreated:
		return "created but not started", 0, 0
	case st.Restarting || !st.Running:
		why = fmt.Sprintf("exited with code %d", st.ExitCode)
		if st.OOMKilled {
			why += " (out of memory)"
		}
		if c.RestartCount > 0 {
			why += fmt.Sprintf(", restarted %d times", c.RestartCount)
		}
	case c.RestartCount > 0:
		why = fmt.Sprintf("restarted %d times", c.RestartCount)
	default:
		return "", 0, 0
	}
	if tail := d.logTail(ctx, id, errorLogLines); tail != "" {
		why += "; last log lines:\n" + tail
	}
	return why, c.RestartCount, crashes
}

// logTail returns the last lines of a container's stdout and stderr.
func (d *Driver) logTail(ctx context.Context, id string, lines int) string {
	rc, err := d.client.ContainerLogs(ctx, id, container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(lines),
	})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var buf bytes.Buffer
	_, _ = stdcopy.StdCopy(&buf, &buf, rc) // the reader went away; nothing left to report to
	return strings.TrimSpace(buf.String())
}
