// Package alb routes app hosts through an AWS Application Load Balancer
// (`spacepods server --routing alb`): one target group per release, one
// listener rule per app host (a host-header condition) on a given listener,
// whose weighted forward action splits requests between the releases'
// target groups as a rollout's stages move them, and a Route 53 alias
// record per app host in a given hosted zone. Everything it makes is tagged
// with the runtime labels (installation, environment, app, release);
// records, which Route 53 cannot tag, are found by name.
//
// The deploy engine drives it through deploy.WeightedRouter; it knows
// nothing of the deploy engine.
package alb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Config configures the mover.
type Config struct {
	// AWS says how to reach AWS (region, endpoint, credentials).
	AWS awsclient.Config
	// ListenerARN is the ALB listener (HTTP or HTTPS) that app hosts'
	// rules go on (--alb-listener).
	ListenerARN string
	// VPCID is the VPC of the target groups (--alb-vpc).
	VPCID string
	// HostedZoneID is the Route 53 zone of the app hosts' records
	// (--route53-zone); empty = no records (DNS managed elsewhere).
	HostedZoneID string
	// Domain of app hosts: <app>.<environment>.<Domain>.
	Domain string
	// Installation tags what is made and narrows what is seen.
	Installation string
	// HealthPath is the target groups' health check path when an app
	// has none; default "/".
	HealthPath string
	Logger     *slog.Logger
}

// Mover is the ALB traffic mover. It is safe for concurrent use.
type Mover struct {
	cfg Config
	elb *elb.Client
	r53 *route53.Client

	mu       sync.Mutex // serializes rule priority picks on the listener
	lbDNS    string
	lbZoneID string
}

// New returns a mover for c and checks that its listener exists.
// EINVALID for a bad config; ENOTFOUND for a missing listener.
func New(ctx context.Context, c Config) (*Mover, error) {
	switch {
	case c.ListenerARN == "":
		return nil, spacepods.Errorf(spacepods.EINVALID, "--routing alb needs --alb-listener: the ARN of the load balancer listener that app hosts' rules go on")
	case c.VPCID == "":
		return nil, spacepods.Errorf(spacepods.EINVALID, "--routing alb needs --alb-vpc: the VPC of the target groups")
	case c.Domain == "":
		return nil, spacepods.Errorf(spacepods.EINVALID, "--routing alb needs a domain for app hosts (--domain)")
	}
	if c.HealthPath == "" {
		c.HealthPath = "/"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	ac, err := awsclient.Load(ctx, c.AWS)
	if err != nil {
		return nil, err
	}
	m := &Mover{cfg: c, elb: elb.NewFromConfig(ac), r53: route53.NewFromConfig(ac)}
	ls, err := m.elb.DescribeListeners(ctx, &elb.DescribeListenersInput{ListenerArns: []string{c.ListenerARN}})
	if err != nil {
		return nil, awsclient.Err("elasticloadbalancing:DescribeListeners", err)
	}
	if len(ls.Listeners) != 1 {
		return nil, spacepods.Errorf(spacepods.ENOTFOUND, "ALB listener %s not found", c.ListenerARN)
	}
	lbs, err := m.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{aws.ToString(ls.Listeners[0].LoadBalancerArn)}})
	if err != nil {
		return nil, awsclient.Err("elasticloadbalancing:DescribeLoadBalancers", err)
	}
	if len(lbs.LoadBalancers) != 1 {
		return nil, spacepods.Errorf(spacepods.ENOTFOUND, "the load balancer of listener %s not found", c.ListenerARN)
	}
	m.lbDNS, m.lbZoneID = aws.ToString(lbs.LoadBalancers[0].DNSName), aws.ToString(lbs.LoadBalancers[0].CanonicalHostedZoneId)
	return m, nil
}

// Host returns the app's host name in env.
func (m *Mover) Host(env, app string) string { return app + "." + env + "." + m.cfg.Domain }

// TargetGroupName is the name of the target group of an app's release:
// names are at most 32 characters, so it is a prefix, the release and a
// hash of what it is for.
func (m *Mover) TargetGroupName(env, app string, release int) string {
	sum := sha256.Sum256([]byte(m.cfg.Installation + "\x00" + env + "\x00" + app + "\x00" + strconv.Itoa(release)))
	return "sp-r" + strconv.Itoa(release) + "-" + hex.EncodeToString(sum[:])[:16]
}

func (m *Mover) tags(env, app string, release int) []elbtypes.Tag {
	l := runtime.EnvLabels(nil, env, m.cfg.Installation)
	l[runtime.LabelApp] = app
	if release > 0 {
		l[runtime.LabelRelease] = strconv.Itoa(release)
	}
	out := []elbtypes.Tag{}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range l {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, elbtypes.Tag{Key: aws.String(k), Value: aws.String(l[k])})
	}
	return out
}

// targetGroup returns the ARN of the release's target group, making it
// (HTTP on port, targets by IP, health checked on healthPath) if missing.
func (m *Mover) targetGroup(ctx context.Context, env, app string, release, port int, healthPath string) (string, error) {
	name := m.TargetGroupName(env, app, release)
	out, err := m.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{name}})
	if err == nil && len(out.TargetGroups) == 1 {
		return aws.ToString(out.TargetGroups[0].TargetGroupArn), nil
	}
	if e := awsclient.Err("elasticloadbalancing:DescribeTargetGroups", err); e != nil && !awsclient.IsNotFound(e) {
		return "", e
	}
	if healthPath == "" {
		healthPath = m.cfg.HealthPath
	}
	made, err := m.elb.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp, Port: awsclient.Int32(port), VpcId: aws.String(m.cfg.VPCID),
		TargetType: elbtypes.TargetTypeEnumIp, HealthCheckPath: aws.String(healthPath), HealthCheckProtocol: elbtypes.ProtocolEnumHttp,
		Tags: m.tags(env, app, release),
	})
	if err != nil {
		return "", awsclient.Err("elasticloadbalancing:CreateTargetGroup", err)
	}
	return aws.ToString(made.TargetGroups[0].TargetGroupArn), nil
}

// SetTargets makes the release's target group hold exactly addrs
// (ip:port, the replicas' addresses). healthPath is the app's health
// check ("" = the default).
func (m *Mover) SetTargets(ctx context.Context, env, app string, release int, addrs []string, healthPath string) error {
	want := map[string]elbtypes.TargetDescription{}
	port := 0
	for _, a := range addrs {
		host, p, err := net.SplitHostPort(a)
		n, perr := strconv.Atoi(p)
		if err != nil || perr != nil {
			return spacepods.Errorf(spacepods.EINVALID, "target %q is not <ip>:<port>", a)
		}
		port = n
		want[a] = elbtypes.TargetDescription{Id: aws.String(host), Port: awsclient.Int32(n)}
	}
	if port == 0 {
		port = 80 // a group with no targets yet: its port is only a default
	}
	arn, err := m.targetGroup(ctx, env, app, release, port, healthPath)
	if err != nil {
		return err
	}
	cur, err := m.elb.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		return awsclient.Err("elasticloadbalancing:DescribeTargetHealth", err)
	}
	var drop []elbtypes.TargetDescription
	for _, th := range cur.TargetHealthDescriptions {
		a := net.JoinHostPort(aws.ToString(th.Target.Id), strconv.Itoa(int(aws.ToInt32(th.Target.Port))))
		if _, ok := want[a]; ok {
			delete(want, a)
		} else {
			drop = append(drop, *th.Target)
		}
	}
	if len(want) > 0 {
		add := slices.Collect(func(yield func(elbtypes.TargetDescription) bool) {
			for _, t := range want {
				if !yield(t) {
					return
				}
			}
		})
		if _, err := m.elb.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: add}); err != nil {
			return awsclient.Err("elasticloadbalancing:RegisterTargets", err)
		}
	}
	if len(drop) > 0 {
		// Deregistered targets drain (the group's deregistration delay).
		if _, err := m.elb.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: drop}); err != nil {
			return awsclient.Err("elasticloadbalancing:DeregisterTargets", err)
		}
	}
	return nil
}

// SetWeights routes the app's host in env to the releases' target groups
// with these weights (release → weight; a release at 0 keeps its group in
// the action but takes no request), making the host's listener rule and
// its Route 53 record on first use. Every release named must have a
// target group (SetTargets). EINVALID for no weight above 0.
func (m *Mover) SetWeights(ctx context.Context, env, app string, weights map[int]int) error {
	total := 0
	var groups []elbtypes.TargetGroupTuple
	for _, rel := range slices.Sorted(func(yield func(int) bool) {
		for r := range weights {
			if !yield(r) {
				return
			}
		}
	}) {
		w := weights[rel]
		if w < 0 || w > 999 {
			return spacepods.Errorf(spacepods.EINVALID, "weight %d of release %d: ALB weights are 0 to 999", w, rel)
		}
		total += w
		out, err := m.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{m.TargetGroupName(env, app, rel)}})
		if err != nil || len(out.TargetGroups) != 1 {
			return spacepods.Errorf(spacepods.ENOTFOUND, "release %d of %s in %s has no target group: %v", rel, app, env, awsclient.Err("elasticloadbalancing:DescribeTargetGroups", err))
		}
		groups = append(groups, elbtypes.TargetGroupTuple{TargetGroupArn: out.TargetGroups[0].TargetGroupArn, Weight: awsclient.Int32(w)})
	}
	if total == 0 {
		return spacepods.Errorf(spacepods.EINVALID, "route %s in %s: at least one release needs a weight above 0", app, env)
	}
	action := []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: groups}}}
	rule, err := m.rule(ctx, env, app)
	if err != nil && !awsclient.IsNotFound(err) {
		return err
	}
	if err == nil {
		_, err := m.elb.ModifyRule(ctx, &elb.ModifyRuleInput{RuleArn: rule.RuleArn, Actions: action})
		return awsclient.Err("elasticloadbalancing:ModifyRule", err)
	}
	if err := m.createRule(ctx, env, app, action); err != nil {
		return err
	}
	return m.upsertRecord(ctx, env, app)
}

// rule returns the listener rule of the app's host. ENOTFOUND if none.
func (m *Mover) rule(ctx context.Context, env, app string) (elbtypes.Rule, error) {
	rules, err := m.rules(ctx)
	if err != nil {
		return elbtypes.Rule{}, err
	}
	host := m.Host(env, app)
	for _, r := range rules {
		if slices.Contains(hostsOf(r), host) {
			return r, nil
		}
	}
	return elbtypes.Rule{}, spacepods.Errorf(spacepods.ENOTFOUND, "no listener rule for %s", host)
}

func (m *Mover) rules(ctx context.Context) ([]elbtypes.Rule, error) {
	var out []elbtypes.Rule
	in := &elb.DescribeRulesInput{ListenerArn: aws.String(m.cfg.ListenerARN)}
	for {
		page, err := m.elb.DescribeRules(ctx, in)
		if err != nil {
			return nil, awsclient.Err("elasticloadbalancing:DescribeRules", err)
		}
		out = append(out, page.Rules...)
		if page.NextMarker == nil {
			return out, nil
		}
		in.Marker = page.NextMarker
	}
}

func hostsOf(r elbtypes.Rule) []string {
	var hosts []string
	for _, c := range r.Conditions {
		if c.HostHeaderConfig != nil {
			hosts = append(hosts, c.HostHeaderConfig.Values...)
		}
		if aws.ToString(c.Field) == "host-header" {
			hosts = append(hosts, c.Values...)
		}
	}
	return hosts
}

// createRule puts the host's rule on the listener at the lowest free
// priority.
func (m *Mover) createRule(ctx context.Context, env, app string, action []elbtypes.Action) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range 5 { // another installation may take a priority meanwhile
		rules, err := m.rules(ctx)
		if err != nil {
			return err
		}
		used := map[int]bool{}
		for _, r := range rules {
			if p, err := strconv.Atoi(aws.ToString(r.Priority)); err == nil {
				used[p] = true
			}
		}
		prio := 1
		for used[prio] {
			prio++
		}
		_, err = m.elb.CreateRule(ctx, &elb.CreateRuleInput{
			ListenerArn: aws.String(m.cfg.ListenerARN), Priority: awsclient.Int32(prio), Actions: action,
			Conditions: []elbtypes.RuleCondition{{Field: aws.String("host-header"), HostHeaderConfig: &elbtypes.HostHeaderConditionConfig{Values: []string{m.Host(env, app)}}}},
			Tags:       m.tags(env, app, 0),
		})
		var inUse *elbtypes.PriorityInUseException
		if errorsAs(err, &inUse) {
			continue
		}
		return awsclient.Err("elasticloadbalancing:CreateRule", err)
	}
	return spacepods.Errorf(spacepods.ECONFLICT, "no free rule priority on listener %s after 5 tries: try again", m.cfg.ListenerARN)
}

// Weights returns the app's current weights (release → weight), read back
// from its listener rule. ENOTFOUND if the app is not routed.
func (m *Mover) Weights(ctx context.Context, env, app string) (map[int]int, error) {
	r, err := m.rule(ctx, env, app)
	if err != nil {
		return nil, err
	}
	byARN := map[string]int{}
	for _, a := range r.Actions {
		if a.ForwardConfig != nil {
			for _, g := range a.ForwardConfig.TargetGroups {
				byARN[aws.ToString(g.TargetGroupArn)] = int(aws.ToInt32(g.Weight))
			}
		} else if a.TargetGroupArn != nil {
			byARN[aws.ToString(a.TargetGroupArn)] = 1
		}
	}
	out := map[int]int{}
	if len(byARN) == 0 {
		return out, nil
	}
	tags, err := m.elb.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: slices.Collect(func(yield func(string) bool) {
		for a := range byARN {
			if !yield(a) {
				return
			}
		}
	})})
	if err != nil {
		return nil, awsclient.Err("elasticloadbalancing:DescribeTags", err)
	}
	for _, td := range tags.TagDescriptions {
		for _, t := range td.Tags {
			if aws.ToString(t.Key) == runtime.LabelRelease {
				rel, _ := strconv.Atoi(aws.ToString(t.Value)) // our own tag
				out[rel] = byARN[aws.ToString(td.ResourceArn)]
			}
		}
	}
	return out, nil
}

// upsertRecord points the app's host at the load balancer (an alias A
// record), when a hosted zone is configured.
func (m *Mover) upsertRecord(ctx context.Context, env, app string) error {
	return m.changeRecord(ctx, r53types.ChangeActionUpsert, m.Host(env, app))
}

func (m *Mover) changeRecord(ctx context.Context, action r53types.ChangeAction, host string) error {
	if m.cfg.HostedZoneID == "" {
		return nil
	}
	_, err := m.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(m.cfg.HostedZoneID),
		ChangeBatch: &r53types.ChangeBatch{
			Comment: aws.String(fmt.Sprintf("spacepods %s", m.cfg.Installation)),
			Changes: []r53types.Change{{Action: action, ResourceRecordSet: &r53types.ResourceRecordSet{
				Name: aws.String(host), Type: r53types.RRTypeA,
				AliasTarget: &r53types.AliasTarget{DNSName: aws.String(m.lbDNS), HostedZoneId: aws.String(m.lbZoneID), EvaluateTargetHealth: true},
			}}},
		},
	})
	return awsclient.Err("route53:ChangeResourceRecordSets", err)
}

// WaitHealthy waits until the load balancer's health check passes for every
// one of addrs (ip:port) in the release's target group, polling every
// interval, until ctx ends. Its error names the targets still unhealthy
// and why (the target health's reason and description).
func (m *Mover) WaitHealthy(ctx context.Context, env, app string, release int, addrs []string, interval time.Duration) error {
	tg, err := m.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{m.TargetGroupName(env, app, release)}})
	if err != nil || len(tg.TargetGroups) != 1 {
		return spacepods.Errorf(spacepods.ENOTFOUND, "release %d of %s in %s has no target group: %v", release, app, env, awsclient.Err("elasticloadbalancing:DescribeTargetGroups", err))
	}
	var targets []elbtypes.TargetDescription
	for _, a := range addrs {
		host, p, err := net.SplitHostPort(a)
		n, perr := strconv.Atoi(p)
		if err != nil || perr != nil {
			return spacepods.Errorf(spacepods.EINVALID, "target %q is not <ip>:<port>", a)
		}
		targets = append(targets, elbtypes.TargetDescription{Id: aws.String(host), Port: awsclient.Int32(n)})
	}
	if len(targets) == 0 {
		return nil
	}
	notHealthy := func(bad []string) error {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "the load balancer's health check did not pass for %d of %d targets of %s release %d: %s", len(bad), len(targets), app, release, strings.Join(bad, "; "))
	}
	var lastBad []string
	for {
		out, err := m.elb.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroups[0].TargetGroupArn, Targets: targets})
		if err != nil {
			if ctx.Err() != nil && lastBad != nil {
				// The deadline cut a poll short: what the last answer said
				// is the reason, not the cut request.
				return notHealthy(lastBad)
			}
			return awsclient.Err("elasticloadbalancing:DescribeTargetHealth", err)
		}
		var bad []string
		for _, th := range out.TargetHealthDescriptions {
			if th.TargetHealth == nil || th.TargetHealth.State != elbtypes.TargetHealthStateEnumHealthy {
				why := "no health reported"
				if h := th.TargetHealth; h != nil {
					why = fmt.Sprintf("%s: %s %s", h.State, h.Reason, aws.ToString(h.Description))
				}
				bad = append(bad, fmt.Sprintf("%s:%d (%s)", aws.ToString(th.Target.Id), aws.ToInt32(th.Target.Port), why))
			}
		}
		if len(bad) == 0 {
			return nil
		}
		lastBad = bad
		select {
		case <-ctx.Done():
			return notHealthy(bad)
		case <-time.After(interval):
		}
	}
}
