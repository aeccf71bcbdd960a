package router

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// newHealthClient makes the client of health checks: a fresh connection per
// check (a check also proves the target still accepts connections), no
// redirects followed (a 3xx answer is healthy), no outbound proxy.
func newHealthClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       (&net.Dialer{Timeout: timeout}).DialContext,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// check runs the health checks of t until t is dropped: one at once, then one
// every HealthInterval.
func (r *Router) check(g *group, t *target) {
	defer r.wg.Done()
	tick := time.NewTicker(r.opts.HealthInterval)
	defer tick.Stop()
	for {
		r.mu.RLock()
		path := g.healthPath
		r.mu.RUnlock()
		ok, cause := true, ""
		if path != "" {
			ok, cause = r.probe(t, r.Host(g.env, g.app), path)
		}
		if t.ctx.Err() != nil {
			return
		}
		if !ok {
			t.setLastError("health check: " + cause)
		}
		if t.observe(ok, r.opts.UnhealthyAfter) {
			r.healthChanged(g, t, cause)
		}
		t.markChecked()
		select {
		case <-tick.C:
		case <-t.ctx.Done():
			return
		}
	}
}

// probe sends one health check. Any 2xx or 3xx answer is healthy.
func (r *Router) probe(t *target, host, path string) (ok bool, cause string) {
	ctx, cancel := context.WithTimeout(t.ctx, r.opts.HealthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.addr+path, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Host = host // virtual-host aware apps answer as they would to users
	req.Header.Set("User-Agent", "spacepods-router/health-check")
	resp, err := r.checker.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return false, fmt.Sprintf("GET %s answered %d", path, resp.StatusCode)
	}
	return true, ""
}

// passiveFailure counts a connection refused by a target like a failed
// health check, so a dead target leaves the rotation without waiting for its
// next check. Groups without health checks have nothing to bring it back, so
// they are left alone.
func (r *Router) passiveFailure(g *group, t *target) {
	r.mu.RLock()
	checked := g.healthPath != ""
	r.mu.RUnlock()
	if checked && t.observe(false, r.opts.UnhealthyAfter) {
		r.healthChanged(g, t, "connection refused")
	}
}

// healthChanged logs a transition and, when a target turns healthy, ends the
// standby of targets it replaces.
func (r *Router) healthChanged(g *group, t *target, cause string) {
	if !t.healthy.Load() {
		r.log.Warn("target unhealthy", "env", g.env, "app", g.app, "target", t.addr, "cause", cause)
		return
	}
	r.log.Info("target healthy", "env", g.env, "app", g.app, "target", t.addr)
	r.mu.Lock()
	if t.member == memberLive {
		r.settleLocked(g)
	}
	r.mu.Unlock()
}
