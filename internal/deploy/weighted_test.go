package deploy

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/spacepods/spacepods/internal/aws/alb"
	"github.com/spacepods/spacepods/internal/awsclient/awstest"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// replicasDriver answers ServiceStatus with n replicas per service; the
// weighted traffic asks the driver nothing else.
type replicasDriver struct {
	runtime.Driver
	n map[string]int
}

func (d replicasDriver) ServiceStatus(_ context.Context, env, name string) (runtime.ServiceStatus, error) {
	st := runtime.ServiceStatus{Name: name, Environment: env, Desired: d.n[name]}
	for i := range d.n[name] {
		st.Replicas = append(st.Replicas, runtime.Replica{ID: fmt.Sprint(i), Addr: fmt.Sprintf("10.20.%d.%d:8080", len(name)%200, i+1), Running: true, Healthy: true})
	}
	return st, nil
}

// The engine's weighted traffic on an ALB (against moto): through a staged
// rollout of 4 replicas the rule's weights follow the replicas of each
// release, the old release's group goes at the end, and a failed rollout
// routes the old release alone again.
func TestWeightedTraffic_StagesAndRollbackOnALB(t *testing.T) {
	ctx := context.Background()
	lb := awstest.NewLoadBalancer(t, testenv.AWSName("pods")+".example.test")
	m, err := alb.New(ctx, alb.Config{AWS: awstest.Config(t), ListenerARN: lb.ListenerARN, VPCID: lb.VPC, HostedZoneID: lb.ZoneID, Domain: lb.Domain})
	if err != nil {
		t.Fatal(err)
	}
	env, app := testenv.AWSName("qa"), "storefront"
	drv := replicasDriver{n: map[string]int{ServiceName(app, 1, ""): 4, ServiceName(app, 2, ""): 4, ServiceName(app, 3, ""): 4}}
	e := &Engine{Driver: drv, Weighted: m}
	newRun := func(old, rel int) *run {
		r := &run{e: e, d: &spacepods.Deploy{Env: env, App: app}, app: spacepods.App{Name: app, Kind: spacepods.KindWeb, Health: "/healthz"},
			env: spacepods.Environment{Name: env, Kind: spacepods.EnvPod}, rel: spacepods.Release{Number: rel, Replicas: 4}}
		if old > 0 {
			r.old = &spacepods.Release{Number: old, Replicas: 4}
		}
		return r
	}
	expect := func(stage string, want map[int]int) {
		t.Helper()
		got, err := m.Weights(ctx, env, app)
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("%s: weights %v (%v), want %v", stage, got, err, want)
		}
	}
	newAddrs := func(rel, n int) []string {
		st, _ := drv.ServiceStatus(ctx, env, ServiceName(app, rel, ""))
		return addrsOf(st.Replicas, n)
	}

	// First deploy: nothing old, the new release alone.
	first := newRun(0, 1).traffic()
	must(t, first.prepare(ctx))
	must(t, first.admit(ctx, newAddrs(1, 4), 4))
	expect("first deploy", map[int]int{1: 4})

	// Release 2 in stages 25/50/100 %.
	tr := newRun(1, 2).traffic()
	must(t, tr.prepare(ctx))
	expect("prepare", map[int]int{1: 4})
	for _, s := range []struct{ n, oldN int }{{1, 3}, {2, 2}, {4, 0}} {
		must(t, tr.admit(ctx, newAddrs(2, s.n), s.n))
		must(t, tr.bake(ctx, s.n))
		must(t, tr.retire(ctx, s.oldN))
		want := map[int]int{2: s.n}
		if s.oldN > 0 {
			want[1] = s.oldN
		}
		expect(fmt.Sprintf("stage with %d new", s.n), want)
	}
	if err := m.DropRelease(ctx, env, app, 1); err != nil {
		t.Fatalf("release 1's group after the rollout: %v", err)
	}

	// Release 3 fails after its first stage: release 2 alone again.
	failed := newRun(2, 3).traffic()
	must(t, failed.prepare(ctx))
	must(t, failed.admit(ctx, newAddrs(3, 1), 1))
	must(t, failed.retire(ctx, 3))
	expect("release 3 stage 1", map[int]int{2: 3, 3: 1})
	must(t, failed.restore(ctx, newAddrs(2, -1), nil))
	expect("after the rollback", map[int]int{2: 4})

	// Unroute: nothing of the app is left.
	must(t, m.Unroute(ctx, env, app))
	if _, err := m.Weights(ctx, env, app); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("weights after unroute: %v, want ENOTFOUND", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
