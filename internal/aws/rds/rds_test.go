package rds_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsrds "github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/spacepods/spacepods/internal/aws/rds"
	"github.com/spacepods/spacepods/internal/awsclient/awstest"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/testenv"
)

// Against moto: the RDS API only. moto creates no database server, so
// nothing here connects to PostgreSQL; it checks what the API shows.
func TestRDS_PodInstanceFromAMasterSnapshot(t *testing.T) {
	ctx := context.Background()
	api := awsrds.NewFromConfig(awstest.SDK(t))
	master := testenv.AWSName("staging-db")
	_, err := api.CreateDBInstance(ctx, &awsrds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String(master), Engine: aws.String("postgres"), DBInstanceClass: aws.String("db.t4g.micro"),
		MasterUsername: aws.String("spacepods"), MasterUserPassword: aws.String("not-a-real-password"), AllocatedStorage: aws.Int32(20),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = api.DeleteDBInstance(context.Background(), &awsrds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(master), SkipFinalSnapshot: aws.Bool(true)}) // best effort
	})
	c, err := rds.New(ctx, rds.Config{AWS: awstest.Config(t), Installation: "inst1", PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	progress := func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }

	snap := testenv.AWSName("staging-snap")
	if err := c.CreateSnapshot(ctx, "staging", "catalog-api", master, snap, progress); err != nil {
		t.Fatal(err)
	}
	pod := testenv.AWSName("pod")
	inst, err := c.Restore(ctx, pod, "catalog-api", snap, progress)
	if err != nil {
		t.Fatal(err)
	}
	if inst.ID != rds.InstanceID(pod, "catalog-api") || inst.Endpoint == "" || inst.Engine != "postgres" {
		t.Fatalf("restored instance %+v", inst)
	}
	if len(lines) < 2 || !strings.Contains(lines[len(lines)-1], "available") {
		t.Fatalf("progress lines %q, want the snapshot's and the instance's ending in available", lines)
	}
	// A second restore of the same pod's app waits on the instance there.
	if again, err := c.Restore(ctx, pod, "catalog-api", snap, nil); err != nil || again.ID != inst.ID {
		t.Fatalf("restore again: %+v, %v", again, err)
	}

	got, err := api.DescribeDBInstances(ctx, &awsrds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(inst.ID)})
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, tg := range got.DBInstances[0].TagList {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags[runtime.LabelEnvironment] != pod || tags[runtime.LabelApp] != "catalog-api" || tags[runtime.LabelInstallation] != "inst1" {
		t.Errorf("instance tags %v", tags)
	}
	if list, err := c.Instances(ctx); err != nil || !containsID(list, inst.ID) {
		t.Fatalf("Instances = %v, %v; want %s", list, err, inst.ID)
	}

	if err := c.DestroyEnvironment(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if list, err := c.Instances(ctx); err != nil || containsID(list, inst.ID) {
		t.Fatalf("Instances after destroy = %v, %v; want no %s", list, err, inst.ID)
	}
	if err := c.Delete(ctx, pod, "catalog-api"); err != nil {
		t.Fatalf("deleting a deleted instance: %v", err)
	}
}

func containsID(list []rds.Tagged, id string) bool {
	for _, in := range list {
		if in.ID == id {
			return true
		}
	}
	return false
}

func TestRDS_InstanceIDsAreValidAndDistinct(t *testing.T) {
	a, b := rds.InstanceID("a-b", "c"), rds.InstanceID("a", "b-c")
	long := rds.InstanceID(strings.Repeat("e", 63), strings.Repeat("a", 63))
	dashes := rds.InstanceID("xn--pod", "catalog-api")
	for _, id := range []string{a, b, long, dashes} {
		if len(id) > 63 || !strings.HasPrefix(id, "sp-") || strings.HasSuffix(id, "-") || strings.Contains(id, "--") {
			t.Errorf("instance id %q is not a valid RDS identifier", id)
		}
	}
	if a == b {
		t.Errorf("%q for both a-b/c and a/b-c", a)
	}
}
