package alb_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/spacepods/spacepods/internal/aws/alb"
	"github.com/spacepods/spacepods/internal/awsclient/awstest"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// These run against moto's server: ELBv2 and Route 53 as the API shows
// them (moto sends no request through the load balancer).

type fixture struct {
	m   *alb.Mover
	lb  awstest.LoadBalancer
	elb *elb.Client
	r53 *route53.Client
	env string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	lb := awstest.NewLoadBalancer(t, testenv.AWSName("pods")+".example.test")
	m, err := alb.New(context.Background(), alb.Config{AWS: awstest.Config(t), ListenerARN: lb.ListenerARN, VPCID: lb.VPC, HostedZoneID: lb.ZoneID, Domain: lb.Domain, Installation: "inst1"})
	if err != nil {
		t.Fatal(err)
	}
	ac := awstest.SDK(t)
	return fixture{m: m, lb: lb, elb: elb.NewFromConfig(ac), r53: route53.NewFromConfig(ac), env: testenv.AWSName("qa")}
}

// weightsFromAPI reads the host's rule straight from DescribeRules:
// target group name → weight.
func (f fixture) weightsFromAPI(t *testing.T, app string) map[string]int {
	t.Helper()
	out, err := f.elb.DescribeRules(context.Background(), &elb.DescribeRulesInput{ListenerArn: aws.String(f.lb.ListenerARN)})
	if err != nil {
		t.Fatal(err)
	}
	host := f.m.Host(f.env, app)
	for _, r := range out.Rules {
		for _, c := range r.Conditions {
			if c.HostHeaderConfig == nil || len(c.HostHeaderConfig.Values) != 1 || c.HostHeaderConfig.Values[0] != host {
				continue
			}
			got := map[string]int{}
			for _, g := range r.Actions[0].ForwardConfig.TargetGroups {
				tg, err := f.elb.DescribeTargetGroups(context.Background(), &elb.DescribeTargetGroupsInput{TargetGroupArns: []string{aws.ToString(g.TargetGroupArn)}})
				if err != nil {
					t.Fatal(err)
				}
				got[aws.ToString(tg.TargetGroups[0].TargetGroupName)] = int(aws.ToInt32(g.Weight))
			}
			return got
		}
	}
	return nil
}

func (f fixture) expectWeights(t *testing.T, stage, app string, want map[int]int) {
	t.Helper()
	byName := map[string]int{}
	for rel, w := range want {
		byName[f.m.TargetGroupName(f.env, app, rel)] = w
	}
	if got := f.weightsFromAPI(t, app); !maps.Equal(got, byName) {
		t.Fatalf("%s: the rule of %s forwards %v, want %v", stage, f.m.Host(f.env, app), got, byName)
	}
	if got, err := f.m.Weights(context.Background(), f.env, app); err != nil || !maps.Equal(got, want) {
		t.Fatalf("%s: Weights = %v, %v; want %v", stage, got, err, want)
	}
}

func (f fixture) targets(t *testing.T, app string, rel int) []string {
	t.Helper()
	ctx := context.Background()
	tg, err := f.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{f.m.TargetGroupName(f.env, app, rel)}})
	if err != nil {
		t.Fatal(err)
	}
	th, err := f.elb.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroups[0].TargetGroupArn})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range th.TargetHealthDescriptions {
		out = append(out, aws.ToString(d.Target.Id))
	}
	return out
}

func (f fixture) record(t *testing.T, app string) (aliasTo string, found bool) {
	t.Helper()
	out, err := f.r53.ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(f.lb.ZoneID)})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range out.ResourceRecordSets {
		if strings.TrimSuffix(aws.ToString(rs.Name), ".") == f.m.Host(f.env, app) && rs.AliasTarget != nil {
			return aws.ToString(rs.AliasTarget.DNSName), true
		}
	}
	return "", false
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A rollout of 4 replicas in stages of 25/50/100 %: the rule's weighted
// forward follows the stages, then a failed rollout restores the old
// weights, and destroy leaves nothing tagged.
func TestALB_StagedRolloutRollbackAndDestroy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const app = "catalog-api"

	// Release 1 alone.
	must(t, f.m.SetTargets(ctx, f.env, app, 1, []string{"10.20.0.11:8080", "10.20.0.12:8080", "10.20.0.13:8080", "10.20.0.14:8080"}, "/healthz"))
	must(t, f.m.SetWeights(ctx, f.env, app, map[int]int{1: 4}))
	f.expectWeights(t, "release 1 live", app, map[int]int{1: 4})
	if alias, ok := f.record(t, app); !ok || !strings.EqualFold(strings.TrimSuffix(alias, "."), f.lb.DNSName) {
		t.Fatalf("record of %s: alias %q (found %v), want the load balancer %s", f.m.Host(f.env, app), alias, ok, f.lb.DNSName)
	}
	tg, err := f.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{f.m.TargetGroupName(f.env, app, 1)}})
	must(t, err)
	if g := tg.TargetGroups[0]; aws.ToString(g.HealthCheckPath) != "/healthz" || g.TargetType != "ip" || aws.ToInt32(g.Port) != 8080 {
		t.Errorf("target group: health %s, type %s, port %d", aws.ToString(g.HealthCheckPath), g.TargetType, aws.ToInt32(g.Port))
	}
	tags, err := f.elb.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: []string{aws.ToString(tg.TargetGroups[0].TargetGroupArn)}})
	must(t, err)
	got := map[string]string{}
	for _, tg := range tags.TagDescriptions[0].Tags {
		got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if got[runtime.LabelEnvironment] != f.env || got[runtime.LabelApp] != app || got[runtime.LabelRelease] != "1" || got[runtime.LabelInstallation] != "inst1" {
		t.Errorf("target group tags %v", got)
	}

	// Release 2 in stages: old:new follow the replicas.
	for i, stage := range []struct{ old, new int }{{3, 1}, {2, 2}, {0, 4}} {
		var addrs []string
		for r := range stage.new {
			addrs = append(addrs, "10.20.1."+string(rune('1'+r))+":8080")
		}
		must(t, f.m.SetTargets(ctx, f.env, app, 2, addrs, "/healthz"))
		must(t, f.m.SetWeights(ctx, f.env, app, map[int]int{1: stage.old, 2: stage.new}))
		f.expectWeights(t, "stage "+string(rune('1'+i)), app, map[int]int{1: stage.old, 2: stage.new})
		if n := len(f.targets(t, app, 2)); n != stage.new {
			t.Fatalf("stage %d: release 2 has %d targets, want %d", i+1, n, stage.new)
		}
	}
	// The load balancer's health check (moto reports registered targets
	// healthy, and says why an unregistered one is not).
	must(t, f.m.WaitHealthy(ctx, f.env, app, 2, []string{"10.20.1.1:8080"}, 50*time.Millisecond))
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second) // loaded machines: several polls fit
	defer cancel()
	err = f.m.WaitHealthy(wctx, f.env, app, 2, []string{"10.20.1.1:8080", "10.20.9.9:8080"}, 50*time.Millisecond)
	if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE || !strings.Contains(spacepods.ErrorMessage(err), "10.20.9.9:8080") || !strings.Contains(spacepods.ErrorMessage(err), "NotRegistered") {
		t.Fatalf("waiting for an unregistered target: %v, want EUNAVAILABLE naming it and why", err)
	}

	// A group the rule still names cannot go (AWS and moto refuse); once
	// the rollout is done the rule names the new release only.
	if err := f.m.DropRelease(ctx, f.env, app, 1); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
		t.Fatalf("dropping a release the rule names: %v, want ECONFLICT", err)
	}
	must(t, f.m.SetWeights(ctx, f.env, app, map[int]int{2: 4}))
	must(t, f.m.DropRelease(ctx, f.env, app, 1))
	f.expectWeights(t, "release 2 live", app, map[int]int{2: 4})

	// Release 3 fails at its second stage: the old weights come back, the
	// failed release's group goes.
	must(t, f.m.SetTargets(ctx, f.env, app, 3, []string{"10.20.2.1:8080"}, "/healthz"))
	must(t, f.m.SetWeights(ctx, f.env, app, map[int]int{2: 3, 3: 1}))
	must(t, f.m.SetTargets(ctx, f.env, app, 3, []string{"10.20.2.1:8080", "10.20.2.2:8080"}, "/healthz"))
	must(t, f.m.SetWeights(ctx, f.env, app, map[int]int{2: 2, 3: 2}))
	f.expectWeights(t, "release 3, stage 2", app, map[int]int{2: 2, 3: 2})
	must(t, f.m.SetWeights(ctx, f.env, app, map[int]int{2: 4})) // rollback
	must(t, f.m.DropRelease(ctx, f.env, app, 3))
	f.expectWeights(t, "after the rollback", app, map[int]int{2: 4})

	// Invalid weights are refused before any call.
	if err := f.m.SetWeights(ctx, f.env, app, map[int]int{2: 0}); spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Fatalf("all weights 0: %v, want EINVALID", err)
	}

	// A second app, then destroy: no rule, record or target group of the
	// environment is left.
	must(t, f.m.SetTargets(ctx, f.env, "pricing-api", 1, []string{"10.20.0.31:8080"}, ""))
	must(t, f.m.SetWeights(ctx, f.env, "pricing-api", map[int]int{1: 1}))
	routes, err := f.m.Routes(ctx)
	must(t, err)
	if routes[f.m.Host(f.env, app)] != f.env || routes[f.m.Host(f.env, "pricing-api")] != f.env {
		t.Fatalf("Routes = %v, want both hosts of %s", routes, f.env)
	}
	must(t, f.m.DestroyEnvironment(ctx, f.env))
	if routes, err := f.m.Routes(ctx); err != nil || len(routes) != 0 {
		t.Fatalf("Routes after destroy = %v, %v", routes, err)
	}
	rules, err := f.elb.DescribeRules(ctx, &elb.DescribeRulesInput{ListenerArn: aws.String(f.lb.ListenerARN)})
	must(t, err)
	for _, r := range rules.Rules {
		if !aws.ToBool(r.IsDefault) {
			t.Errorf("rule %s (priority %s) left after destroy", aws.ToString(r.RuleArn), aws.ToString(r.Priority))
		}
	}
	for _, a := range []string{app, "pricing-api"} {
		if _, ok := f.record(t, a); ok {
			t.Errorf("record of %s left after destroy", a)
		}
	}
	groups, err := f.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{})
	must(t, err)
	var arns []string
	for _, g := range groups.TargetGroups {
		arns = append(arns, aws.ToString(g.TargetGroupArn))
	}
	for len(arns) > 0 {
		n := min(20, len(arns))
		tags, err := f.elb.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: arns[:n]})
		must(t, err)
		for _, td := range tags.TagDescriptions {
			for _, tg := range td.Tags {
				if aws.ToString(tg.Key) == runtime.LabelEnvironment && aws.ToString(tg.Value) == f.env {
					t.Errorf("target group %s of %s left after destroy", aws.ToString(td.ResourceArn), f.env)
				}
			}
		}
		arns = arns[n:]
	}
}

func TestALB_NewNeedsListenerVPCAndDomain(t *testing.T) {
	for _, tc := range []struct {
		cfg  alb.Config
		want string
	}{
		{alb.Config{VPCID: "vpc-1", Domain: "d"}, "--alb-listener"},
		{alb.Config{ListenerARN: "arn", Domain: "d"}, "--alb-vpc"},
		{alb.Config{ListenerARN: "arn", VPCID: "vpc-1"}, "domain"},
	} {
		_, err := alb.New(context.Background(), tc.cfg)
		if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), tc.want) {
			t.Errorf("New(%+v) = %v, want EINVALID naming %s", tc.cfg, err, tc.want)
		}
	}
}
