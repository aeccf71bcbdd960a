package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// stageCounts returns the new service's replica count at each stage.
func stageCounts(replicas int, stages []int) []int {
	var out []int
	for _, pct := range stages {
		n := int(math.Ceil(float64(replicas) * float64(pct) / 100))
		if n < 1 {
			n = 1
		}
		if n > replicas {
			n = replicas
		}
		if len(out) == 0 || n > out[len(out)-1] {
			out = append(out, n)
		}
	}
	if len(out) == 0 || out[len(out)-1] != replicas {
		out = append(out, replicas)
	}
	return out
}

func (r *run) stages() []int {
	if r.env.Kind == spacepods.EnvPod || r.app.Kind == spacepods.KindWorker || r.rel.Replicas <= 1 && r.old == nil {
		return []int{r.rel.Replicas}
	}
	return stageCounts(r.rel.Replicas, r.app.Stages())
}

// Step 5: staged rollout.
func (r *run) rollout(ctx context.Context) error {
	e, d := r.e, r.d
	name := ServiceName(d.App, r.rel.Number, "")
	stages := r.stages()
	total := r.rel.Replicas
	oldName := ""
	if r.old != nil {
		oldName = ServiceName(d.App, r.old.Number, "")
	}
	// Old replicas a stage took out of the router stop while the next
	// stage's new replicas start (they serve nothing meanwhile): -1 = none.
	pendingOld := -1
	scaleOld := func(n int) error {
		err := e.driver().ScaleService(ctx, d.Env, oldName, n)
		if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
			return nil
		}
		return err
	}
	for i, n := range stages {
		oldN := total - n
		if r.old == nil {
			oldN = 0
		}
		e.hook(ctx, d, fmt.Sprintf("rollout:stage%d", i+1))
		if err := ctx.Err(); err != nil {
			return err
		}
		e.event(ctx, d, "info", fmt.Sprintf("stage %d/%d: new %d, old %d of %d replicas", i+1, len(stages), n, oldN, total))
		start := time.Now()
		waitFrom := start
		if i == 0 && !r.createdAt.IsZero() {
			waitFrom = r.createdAt // stage 1's replicas started with the service
		}
		if i > 0 {
			var oldErr error
			var wg sync.WaitGroup
			if pendingOld >= 0 {
				wg.Go(func() { oldErr = scaleOld(pendingOld) })
			}
			err := e.driver().ScaleService(ctx, d.Env, name, n)
			wg.Wait()
			pendingOld = -1
			if err := errors.Join(err, oldErr); err != nil {
				return err
			}
		}
		newAddrs, err := r.waitReady(ctx, name, n)
		if err != nil {
			return err
		}
		e.event(ctx, d, "info", fmt.Sprintf("stage %d/%d: %d new replicas running and healthy after %s", i+1, len(stages), n, time.Since(waitFrom).Round(time.Millisecond)))
		if r.app.Kind == spacepods.KindWeb {
			tr := r.traffic()
			if err := tr.admit(ctx, newAddrs, n); err != nil {
				return err
			}
			e.event(ctx, d, "info", fmt.Sprintf("stage %d/%d: new replicas take traffic after %s", i+1, len(stages), time.Since(start).Round(time.Millisecond)))
			if err := tr.bake(ctx, n); err != nil {
				return err
			}
			if err := tr.retire(ctx, oldN); err != nil {
				return err
			}
		}
		if r.old != nil {
			pendingOld = oldN
		}
		e.event(ctx, d, "info", fmt.Sprintf("stage %d/%d done in %s", i+1, len(stages), time.Since(start).Round(time.Millisecond)))
	}
	if pendingOld >= 0 {
		if err := scaleOld(pendingOld); err != nil {
			return err
		}
	}
	// Workers of the new release run already; wait until they run.
	for _, w := range r.rel.Workers {
		if _, err := r.waitRunning(ctx, ServiceName(d.App, r.rel.Number, w.Name), 1); err != nil {
			return err
		}
	}
	// The new release is live: record it first, so that a crash from here
	// on completes rather than rolls back.
	e.hook(ctx, d, "rollout:record")
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := e.Store.PutEnvApp(ctx, spacepods.EnvApp{Env: d.Env, App: d.App, Build: r.rel.Build, Release: r.rel.Number, Status: "healthy", URL: r.url()}); err != nil {
		return stored(err)
	}
	e.hook(ctx, d, "rollout:remove_old")
	r.removeOld(ctx)
	if err := ctx.Err(); err != nil {
		return err // stopped midway: the next start finishes the removal
	}
	return e.setStep(ctx, d, "rollout", "done", fmt.Sprintf("%d stages; %d replicas of release %d serve", len(stages), total, r.rel.Number))
}

func (r *run) url() string {
	if r.app.Kind != spacepods.KindWeb {
		return ""
	}
	return r.e.URL(r.d.Env, r.d.App)
}

// removeOld deletes every service of the app that is not the new release.
func (r *run) removeOld(ctx context.Context) {
	svcs, err := r.e.servicesOf(ctx, r.d.Env, r.d.App)
	if err != nil {
		r.e.event(ctx, r.d, "warn", "list services to remove the old release: "+err.Error())
		return
	}
	var wg sync.WaitGroup
	for _, s := range svcs {
		if s.Release != r.rel.Number {
			wg.Go(func() {
				if err := r.e.driver().DeleteService(ctx, r.d.Env, s.Name); err != nil {
					r.e.event(ctx, r.d, "warn", "delete old service "+s.Name+": "+err.Error())
				}
			})
		}
	}
	wg.Wait()
}

// waitReady waits until n replicas of a service are running and healthy
// and returns their addresses (web) — or fails with their errors and logs.
func (r *run) waitReady(ctx context.Context, name string, n int) ([]string, error) {
	e, d := r.e, r.d
	start := time.Now()
	deadline := start.Add(e.opts().HealthTimeout)
	pause := e.backoff()
	hw, _ := e.Driver.(runtime.HealthWaiter)
	for {
		st, err := e.Driver.ServiceStatus(ctx, d.Env, name)
		if err != nil {
			return nil, err
		}
		var addrs []string
		var looping []string
		for _, rep := range st.Replicas {
			if rep.Running && (rep.Healthy || r.app.Kind != spacepods.KindWeb) {
				addrs = append(addrs, rep.Addr)
				r.sawHealthy(rep.ID)
			} else if why := r.crashLoop(rep); why != "" {
				looping = append(looping, fmt.Sprintf("%s (%s)", rep.ID, why))
			}
		}
		if len(addrs) >= n {
			return addrs[:n], nil
		}
		if len(looping) > 0 {
			return nil, fail(r.failureOutput(ctx, name, st), "new replica %s is crash-looping, found after %s", strings.Join(looping, ", "), time.Since(start).Round(time.Millisecond))
		}
		if time.Now().After(deadline) {
			return nil, fail(r.failureOutput(ctx, name, st), "%d of %d new replicas became healthy within %s", len(addrs), n, e.opts().HealthTimeout)
		}
		if hw != nil && r.app.Kind == spacepods.KindWeb {
			// Notice health within milliseconds rather than at the next
			// poll; a replica that dies ends the wait, to be reported.
			if ok, err := hw.WaitHealthy(ctx, d.Env, name, n, time.Until(deadline)); err == nil && ok {
				continue
			}
		}
		if err := pause(ctx); err != nil {
			return nil, err
		}
	}
}

// sawHealthy remembers that a replica was healthy (or, for a worker,
// running) at some look of this deploy.
func (r *run) sawHealthy(id string) {
	if r.healthy == nil {
		r.healthy = map[string]bool{}
	}
	r.healthy[id] = true
}

// crashLoop says why a replica that is not healthy now counts as
// crash-looping ("" if it does not): its process ended CrashLoop times and
// this deploy never saw it healthy, or it was restarted CrashRestarts
// times. Both count exits, not time, so a loaded host that restarts a
// crashing replica slowly still fails the stage on the crash rather than
// at the health timeout.
func (r *run) crashLoop(rep runtime.Replica) string {
	o := r.e.opts()
	switch {
	case o.CrashLoop > 0 && rep.Crashes >= o.CrashLoop && !r.healthy[rep.ID]:
		return fmt.Sprintf("its process ended %d times and it was never healthy", rep.Crashes)
	case o.CrashRestarts > 0 && rep.Restarts >= o.CrashRestarts:
		return fmt.Sprintf("restarted %d times", rep.Restarts)
	}
	return ""
}

func (r *run) waitRunning(ctx context.Context, name string, n int) ([]string, error) {
	saved := r.app.Kind
	r.app.Kind = spacepods.KindWorker
	defer func() { r.app.Kind = saved }()
	return r.waitReady(ctx, name, n)
}

// failureOutput is what a user needs to see why replicas failed: each
// replica's error (exit, health response) and the last log lines.
func (r *run) failureOutput(ctx context.Context, name string, st runtime.ServiceStatus) string {
	var b strings.Builder
	for _, rep := range st.Replicas {
		if rep.Error != "" {
			fmt.Fprintf(&b, "replica %s: %s\n", rep.ID, rep.Error)
		}
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if rc, err := r.e.Driver.Logs(lctx, r.d.Env, name, runtime.LogOptions{Tail: 20}); err == nil {
		logs, _ := io.ReadAll(io.LimitReader(rc, 32<<10))
		rc.Close()
		if len(logs) > 0 {
			b.WriteString("last log lines:\n")
			b.Write(logs)
		}
	}
	return b.String()
}
