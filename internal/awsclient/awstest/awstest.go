// Package awstest helps tests of the AWS packages against the emulator
// (testenv.AWSEndpoint): the client config, and the network (a VPC and two
// subnets) that ECS tasks and load balancers need. It is apart so that the
// server binary links no test code.
package awstest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/testenv"
)

// Config returns the client config of the emulator: its endpoint, the
// region and credentials from the environment (as --aws-endpoint-url does).
func Config(t testing.TB) awsclient.Config {
	t.Helper()
	return awsclient.Config{EndpointURL: testenv.AWSEndpoint(t)}
}

// SDK returns the SDK config of the emulator, for tests that read back
// through the SDK what the code under test made.
func SDK(t testing.TB) aws.Config {
	t.Helper()
	ac, err := awsclient.Load(context.Background(), Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return ac
}

// Network is a VPC with two subnets in two zones and a security group.
type Network struct {
	VPC            string
	Subnets        []string
	SecurityGroups []string
}

// NewNetwork makes a VPC and two subnets for this test, deleted when it
// ends.
func NewNetwork(t testing.TB) Network {
	t.Helper()
	ctx := context.Background()
	ac := SDK(t)
	c := ec2.NewFromConfig(ac)
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
	if err != nil {
		t.Fatalf("CreateVpc: %v", err)
	}
	n := Network{VPC: aws.ToString(vpc.Vpc.VpcId)}
	for i, zone := range []string{"a", "b"} {
		sn, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(n.VPC), CidrBlock: aws.String(fmt.Sprintf("10.20.%d.0/24", i)), AvailabilityZone: aws.String(ac.Region + zone)})
		if err != nil {
			t.Fatalf("CreateSubnet: %v", err)
		}
		n.Subnets = append(n.Subnets, aws.ToString(sn.Subnet.SubnetId))
	}
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(testenv.AWSName("sg")), Description: aws.String("spacepods test"), VpcId: aws.String(n.VPC)})
	if err != nil {
		t.Fatalf("CreateSecurityGroup: %v", err)
	}
	n.SecurityGroups = []string{aws.ToString(sg.GroupId)}
	t.Cleanup(func() {
		// Best effort: tasks' network interfaces may still hold the
		// subnets in the emulator; the emulator is thrown away after the run.
		for _, s := range n.Subnets {
			_, _ = c.DeleteSubnet(context.Background(), &ec2.DeleteSubnetInput{SubnetId: aws.String(s)})
		}
		_, _ = c.DeleteVpc(context.Background(), &ec2.DeleteVpcInput{VpcId: aws.String(n.VPC)})
	})
	return n
}

// ECSClusterWithInstances makes an ECS cluster for this test with n
// container instances registered (EC2 capacity), so that tasks of the EC2
// launch type are placed. (moto places them without running anything.)
func ECSClusterWithInstances(t testing.TB, n int) string {
	t.Helper()
	ctx := context.Background()
	ac := SDK(t)
	c, e := ecs.NewFromConfig(ac), ec2.NewFromConfig(ac)
	name := testenv.AWSName("sp")
	if _, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	imgs, err := e.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("DescribeImages: %v (%d images)", err, len(imgs.Images))
	}
	run, err := e.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: imgs.Images[0].ImageId, InstanceType: "m5.xlarge", MinCount: awsclient.Int32(n), MaxCount: awsclient.Int32(n)})
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	ids := []string{}
	for _, in := range run.Instances {
		ids = append(ids, aws.ToString(in.InstanceId))
	}
	t.Cleanup(func() {
		_, _ = e.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: ids}) // best effort: the emulator is thrown away after the run
	})
	for _, id := range ids {
		doc := fmt.Sprintf(`{"instanceId": %q}`, id)
		if _, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{Cluster: aws.String(name), InstanceIdentityDocument: aws.String(doc)}); err != nil {
			t.Fatalf("RegisterContainerInstance: %v", err)
		}
	}
	return name
}

// LoadBalancer is an application load balancer with an HTTP listener in a
// test network, and a Route 53 zone for app hosts.
type LoadBalancer struct {
	Network
	ARN, DNSName, ListenerARN string
	ZoneID, Domain            string
}

// NewLoadBalancer makes a load balancer (in a new network), its HTTP
// listener (default action: a fixed 404) and a hosted zone for domain.
func NewLoadBalancer(t testing.TB, domain string) LoadBalancer {
	t.Helper()
	ctx := context.Background()
	ac := SDK(t)
	lb := LoadBalancer{Network: NewNetwork(t), Domain: domain}
	c := elasticloadbalancingv2.NewFromConfig(ac)
	out, err := c.CreateLoadBalancer(ctx, &elasticloadbalancingv2.CreateLoadBalancerInput{Name: aws.String(testenv.AWSName("lb")), Subnets: lb.Subnets, SecurityGroups: lb.SecurityGroups})
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	lb.ARN, lb.DNSName = aws.ToString(out.LoadBalancers[0].LoadBalancerArn), aws.ToString(out.LoadBalancers[0].DNSName)
	ls, err := c.CreateListener(ctx, &elasticloadbalancingv2.CreateListenerInput{
		LoadBalancerArn: aws.String(lb.ARN), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80),
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumFixedResponse, FixedResponseConfig: &elbtypes.FixedResponseActionConfig{StatusCode: aws.String("404")}}},
	})
	if err != nil {
		t.Fatalf("CreateListener: %v", err)
	}
	lb.ListenerARN = aws.ToString(ls.Listeners[0].ListenerArn)
	zone, err := route53.NewFromConfig(ac).CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String(domain), CallerReference: aws.String(testenv.AWSName("zone"))})
	if err != nil {
		t.Fatalf("CreateHostedZone: %v", err)
	}
	lb.ZoneID = strings.TrimPrefix(aws.ToString(zone.HostedZone.Id), "/hostedzone/")
	t.Cleanup(func() {
		_, _ = c.DeleteLoadBalancer(context.Background(), &elasticloadbalancingv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(lb.ARN)}) // best effort: the emulator is thrown away after the run
	})
	return lb
}
