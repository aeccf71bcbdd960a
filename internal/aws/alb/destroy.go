package alb

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/runtime"
)

func errorsAs[T error](err error, target *T) bool { return err != nil && errors.As(err, target) }

// Unroute removes the app's listener rule, its Route 53 record and the
// target groups of all its releases. What is already gone is no error.
func (m *Mover) Unroute(ctx context.Context, env, app string) error {
	return m.remove(ctx, env, func(tags map[string]string) bool { return tags[runtime.LabelApp] == app })
}

// DestroyEnvironment removes every rule, record and target group of env
// (found by their tags).
func (m *Mover) DestroyEnvironment(ctx context.Context, env string) error {
	return m.remove(ctx, env, func(map[string]string) bool { return true })
}

// DropRelease removes one release's target group once it takes no
// request (after a rollout or a rollback); the rule must not name it.
func (m *Mover) DropRelease(ctx context.Context, env, app string, release int) error {
	out, err := m.elb.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{m.TargetGroupName(env, app, release)}})
	if e := awsclient.Err("elasticloadbalancing:DescribeTargetGroups", err); e != nil {
		if awsclient.IsNotFound(e) {
			return nil
		}
		return e
	}
	for _, g := range out.TargetGroups {
		if _, err := m.elb.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: g.TargetGroupArn}); err != nil {
			return awsclient.Err("elasticloadbalancing:DeleteTargetGroup", err)
		}
	}
	return nil
}

// remove deletes env's rules (and their records), then its target groups,
// those whose tags match.
func (m *Mover) remove(ctx context.Context, env string, match func(map[string]string) bool) error {
	rules, err := m.rules(ctx)
	if err != nil {
		return err
	}
	arns := []string{}
	for _, r := range rules {
		if !aws.ToBool(r.IsDefault) {
			arns = append(arns, aws.ToString(r.RuleArn))
		}
	}
	tags, err := m.tagsOf(ctx, arns)
	if err != nil {
		return err
	}
	for _, r := range rules {
		t, ok := tags[aws.ToString(r.RuleArn)]
		if !ok || !runtime.Ours(t, env, m.cfg.Installation) || !match(t) {
			continue
		}
		if _, err := m.elb.DeleteRule(ctx, &elb.DeleteRuleInput{RuleArn: r.RuleArn}); err != nil && !awsclient.IsNotFound(awsclient.Err("", err)) {
			return awsclient.Err("elasticloadbalancing:DeleteRule", err)
		}
		for _, h := range hostsOf(r) {
			if err := m.deleteRecord(ctx, h); err != nil {
				return err
			}
		}
	}
	groups, err := m.groups(ctx)
	if err != nil {
		return err
	}
	gtags, err := m.tagsOf(ctx, groups)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if t := gtags[g]; runtime.Ours(t, env, m.cfg.Installation) && match(t) {
			if _, err := m.elb.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: aws.String(g)}); err != nil && !awsclient.IsNotFound(awsclient.Err("", err)) {
				return awsclient.Err("elasticloadbalancing:DeleteTargetGroup", err)
			}
		}
	}
	return nil
}

// groups returns the ARNs of the target groups in the mover's VPC.
func (m *Mover) groups(ctx context.Context) ([]string, error) {
	var out []string
	p := elb.NewDescribeTargetGroupsPaginator(m.elb, &elb.DescribeTargetGroupsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsclient.Err("elasticloadbalancing:DescribeTargetGroups", err)
		}
		for _, g := range page.TargetGroups {
			if aws.ToString(g.VpcId) == m.cfg.VPCID {
				out = append(out, aws.ToString(g.TargetGroupArn))
			}
		}
	}
	return out, nil
}

// tagsOf returns the tags of ELB resources by ARN (20 per call, the API's
// limit).
func (m *Mover) tagsOf(ctx context.Context, arns []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for chunk := range slices.Chunk(arns, 20) {
		page, err := m.elb.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: chunk})
		if err != nil {
			return nil, awsclient.Err("elasticloadbalancing:DescribeTags", err)
		}
		for _, td := range page.TagDescriptions {
			out[aws.ToString(td.ResourceArn)] = tagMap(td.Tags)
		}
	}
	return out, nil
}

func tagMap(tags []elbtypes.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

// deleteRecord deletes host's alias record if it points at our load
// balancer (and exists).
func (m *Mover) deleteRecord(ctx context.Context, host string) error {
	if m.cfg.HostedZoneID == "" {
		return nil
	}
	out, err := m.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(m.cfg.HostedZoneID), StartRecordName: aws.String(host), StartRecordType: r53types.RRTypeA, MaxItems: aws.Int32(1),
	})
	if err != nil {
		return awsclient.Err("route53:ListResourceRecordSets", err)
	}
	for _, rs := range out.ResourceRecordSets {
		if strings.TrimSuffix(aws.ToString(rs.Name), ".") != host || rs.Type != r53types.RRTypeA || rs.AliasTarget == nil ||
			!strings.EqualFold(strings.TrimSuffix(aws.ToString(rs.AliasTarget.DNSName), "."), strings.TrimSuffix(m.lbDNS, ".")) {
			continue
		}
		_, err := m.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
			HostedZoneId: aws.String(m.cfg.HostedZoneID),
			ChangeBatch:  &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionDelete, ResourceRecordSet: &rs}}},
		})
		return awsclient.Err("route53:ChangeResourceRecordSets", err)
	}
	return nil
}

// Routes returns the app hosts this installation routes on the listener,
// host → environment (found by the rules' tags), for leak audits.
func (m *Mover) Routes(ctx context.Context) (map[string]string, error) {
	rules, err := m.rules(ctx)
	if err != nil {
		return nil, err
	}
	arns := []string{}
	for _, r := range rules {
		if !aws.ToBool(r.IsDefault) {
			arns = append(arns, aws.ToString(r.RuleArn))
		}
	}
	tags, err := m.tagsOf(ctx, arns)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range rules {
		t := tags[aws.ToString(r.RuleArn)]
		env := t[runtime.LabelEnvironment]
		if env == "" || !runtime.Ours(t, env, m.cfg.Installation) {
			continue
		}
		for _, h := range hostsOf(r) {
			out[h] = env
		}
	}
	return out, nil
}
