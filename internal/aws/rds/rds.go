// Package rds keeps pods' databases on Amazon RDS in the original's second
// mode: a pod gets a dedicated PostgreSQL instance restored from a snapshot
// of a master environment's instance (RestoreDBInstanceFromDBSnapshot,
// waited on until available, with progress), a master's snapshot is
// CreateDBSnapshot, and destroying the pod deletes its instance without a
// final snapshot. Everything is tagged with the runtime labels, so leak
// audits find instances and snapshots by tag. Client makes the calls;
// Databases is the mode itself (spacepods server --databases rds-instance):
// the deploy engine's deploy.Databases and the pods service's
// pods.Dedicated.
//
// (The first mode, a database per pod on a shared RDS instance, is the
// databases manager pointed at the instance's endpoint with
// --postgres-admin-url: nothing AWS-specific.)
package rds

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsrds "github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Config configures the RDS client.
type Config struct {
	AWS awsclient.Config
	// Installation tags what is made and narrows what is seen.
	Installation string
	// InstanceClass of pods' instances; default db.t4g.micro.
	InstanceClass string
	// SubnetGroup and SecurityGroups of pods' instances (the VPC where the
	// pods' tasks reach them); empty = the account's defaults.
	SubnetGroup    string
	SecurityGroups []string
	// PollInterval of waits; default 15 s (an instance takes minutes).
	PollInterval time.Duration
	Logger       *slog.Logger
}

// Client makes and removes pods' RDS instances and masters' snapshots.
type Client struct {
	cfg Config
	rds *awsrds.Client
}

// New returns a client. EINVALID for a bad config. It makes no call.
func New(ctx context.Context, c Config) (*Client, error) {
	if c.InstanceClass == "" {
		c.InstanceClass = "db.t4g.micro"
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	ac, err := awsclient.Load(ctx, c.AWS)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: c, rds: awsrds.NewFromConfig(ac)}, nil
}

// InstanceID is the RDS instance of a pod's app: identifiers are at most 63
// letters, digits and single hyphens, starting with a letter, so it is
// runtime.ObjectName's (a DNS label ending in a hash of the parts, which
// keeps it unique) behind "sp-", with runs of hyphens made one.
func InstanceID(env, app string) string { return identifier(env, app) }

// SnapshotID is the RDS DB snapshot of the snapshot name taken by
// installation: the same rules as instance identifiers, and apart per
// installation (two installations in one account may reuse a name).
func SnapshotID(installation, name string) string { return identifier(installation, name) }

func identifier(a, b string) string {
	id := "sp-" + runtime.ObjectName(a, b)
	for strings.Contains(id, "--") {
		id = strings.ReplaceAll(id, "--", "-")
	}
	if len(id) > 63 {
		id = strings.TrimRight(id[:54], "-") + id[len(id)-9:] // keep the hash
	}
	return id
}

// TagRestoredFrom marks an instance Spacepods restored (a pod's), with the
// snapshot it was restored from: only those are ever deleted.
const TagRestoredFrom = "spacepods.restored-from"

func (c *Client) tags(env, app string) []types.Tag {
	l := runtime.EnvLabels(nil, env, c.cfg.Installation)
	l[runtime.LabelApp] = app
	var out []types.Tag
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range l {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(l[k])})
	}
	return out
}

// CreateSnapshot snapshots a master environment's instance (CreateDBSnapshot)
// as snapshot id and waits until it is available. progress, when set, gets
// a line at each poll.
func (c *Client) CreateSnapshot(ctx context.Context, env, app, instance, id string, progress func(string)) error {
	_, err := c.rds.CreateDBSnapshot(ctx, &awsrds.CreateDBSnapshotInput{
		DBInstanceIdentifier: aws.String(instance), DBSnapshotIdentifier: aws.String(id), Tags: c.tags(env, app),
	})
	// A snapshot of this instance by this name is the one an earlier
	// attempt made (the SDK retries a call whose answer was lost): wait
	// on it. Of another instance, it is a conflict.
	if err = awsclient.Err("rds:CreateDBSnapshot", err); spacepods.ErrorCode(err) == spacepods.ECONFLICT {
		if s, derr := c.describeSnapshot(ctx, id); derr != nil || aws.ToString(s.DBInstanceIdentifier) != instance {
			return spacepods.Errorf(spacepods.ECONFLICT, "RDS snapshot %s exists, of another instance than %s: pick another snapshot name", id, instance)
		}
	} else if err != nil {
		return err
	}
	return c.wait(ctx, "snapshot "+id, progress, func(ctx context.Context) (string, string, error) {
		s, err := c.describeSnapshot(ctx, id)
		if err != nil {
			return "", "", err
		}
		return aws.ToString(s.Status), fmt.Sprintf("%d%%", aws.ToInt32(s.PercentProgress)), nil
	})
}

func (c *Client) describeSnapshot(ctx context.Context, id string) (types.DBSnapshot, error) {
	out, err := c.rds.DescribeDBSnapshots(ctx, &awsrds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(id)})
	if err != nil {
		return types.DBSnapshot{}, awsclient.Err("rds:DescribeDBSnapshots", err)
	}
	if len(out.DBSnapshots) == 0 {
		return types.DBSnapshot{}, spacepods.Errorf(spacepods.ENOTFOUND, "RDS snapshot %s not found", id)
	}
	return out.DBSnapshots[0], nil
}

// Instance is a pod's instance once available.
type Instance struct {
	ID       string
	Endpoint string // host:port
	Engine   string
	// User is the instance's master user (a restored instance keeps its
	// source's, and its password); DBName its initial database, "" when
	// it was made without one.
	User   string
	DBName string
	Status string
}

func instanceOf(db types.DBInstance) Instance {
	in := Instance{ID: aws.ToString(db.DBInstanceIdentifier), Engine: aws.ToString(db.Engine), User: aws.ToString(db.MasterUsername),
		DBName: aws.ToString(db.DBName), Status: aws.ToString(db.DBInstanceStatus)}
	if db.Endpoint != nil && aws.ToString(db.Endpoint.Address) != "" {
		in.Endpoint = fmt.Sprintf("%s:%d", aws.ToString(db.Endpoint.Address), aws.ToInt32(db.Endpoint.Port))
	}
	return in
}

// Describe returns the instance id (any instance, a master's too).
// ENOTFOUND when there is none.
func (c *Client) Describe(ctx context.Context, id string) (Instance, error) {
	db, err := c.describe(ctx, id)
	if err != nil {
		return Instance{}, err
	}
	return instanceOf(db), nil
}

// Restore makes the pod's dedicated instance for app from snapshot
// (RestoreDBInstanceFromDBSnapshot) and waits until it is available,
// reporting its status to progress. An instance that exists already is
// waited on, not made again.
func (c *Client) Restore(ctx context.Context, env, app, snapshot string, progress func(string)) (Instance, error) {
	id := InstanceID(env, app)
	in := &awsrds.RestoreDBInstanceFromDBSnapshotInput{
		DBInstanceIdentifier: aws.String(id), DBSnapshotIdentifier: aws.String(snapshot), DBInstanceClass: aws.String(c.cfg.InstanceClass),
		PubliclyAccessible: aws.Bool(false), MultiAZ: aws.Bool(false), CopyTagsToSnapshot: aws.Bool(false),
		Tags: append(c.tags(env, app), types.Tag{Key: aws.String(TagRestoredFrom), Value: aws.String(snapshot)}),
	}
	if c.cfg.SubnetGroup != "" {
		in.DBSubnetGroupName = aws.String(c.cfg.SubnetGroup)
	}
	if len(c.cfg.SecurityGroups) > 0 {
		in.VpcSecurityGroupIds = c.cfg.SecurityGroups
	}
	if _, err := c.rds.RestoreDBInstanceFromDBSnapshot(ctx, in); err != nil {
		if e := awsclient.Err("rds:RestoreDBInstanceFromDBSnapshot", err); spacepods.ErrorCode(e) != spacepods.ECONFLICT {
			return Instance{}, e
		}
	}
	var inst Instance
	err := c.wait(ctx, "instance "+id, progress, func(ctx context.Context) (string, string, error) {
		db, err := c.describe(ctx, id)
		if err != nil {
			return "", "", err
		}
		inst = instanceOf(db)
		return inst.Status, "", nil
	})
	return inst, err
}

func (c *Client) describe(ctx context.Context, id string) (types.DBInstance, error) {
	out, err := c.rds.DescribeDBInstances(ctx, &awsrds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	if err != nil {
		return types.DBInstance{}, awsclient.Err("rds:DescribeDBInstances", err)
	}
	if len(out.DBInstances) == 0 {
		return types.DBInstance{}, spacepods.Errorf(spacepods.ENOTFOUND, "RDS instance %s not found", id)
	}
	return out.DBInstances[0], nil
}

// wait polls status until it is "available", giving progress a line when
// the status changes. A status that cannot become available fails it.
func (c *Client) wait(ctx context.Context, what string, progress func(string), status func(context.Context) (string, string, error)) error {
	start, last := time.Now(), ""
	for {
		st, detail, err := status(ctx)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s: %s after %s", what, st, time.Since(start).Round(time.Second))
		if detail != "" {
			line += " (" + detail + ")"
		}
		if st != last && progress != nil {
			progress(line)
		}
		last = st
		switch st {
		case "available":
			return nil
		case "failed", "incompatible-restore", "incompatible-parameters", "incompatible-network", "storage-full", "deleting":
			return spacepods.Errorf(spacepods.EUNAVAILABLE, "%s is %s: see the RDS console's events for why", what, st)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.cfg.PollInterval):
		}
	}
}

// Delete deletes the pod's instance for app without a final snapshot (a
// pod's data is a copy). A missing instance is not an error.
func (c *Client) Delete(ctx context.Context, env, app string) error {
	_, err := c.rds.DeleteDBInstance(ctx, &awsrds.DeleteDBInstanceInput{
		DBInstanceIdentifier: aws.String(InstanceID(env, app)), SkipFinalSnapshot: aws.Bool(true), DeleteAutomatedBackups: aws.Bool(true),
	})
	if e := awsclient.Err("rds:DeleteDBInstance", err); e != nil && !awsclient.IsNotFound(e) {
		return e
	}
	return nil
}

// DestroyEnvironment deletes every instance of env that Spacepods
// restored (found by tags: TagRestoredFrom). An instance it did not make,
// a master's, is never deleted.
func (c *Client) DestroyEnvironment(ctx context.Context, env string) error {
	insts, err := c.Instances(ctx)
	if err != nil {
		return err
	}
	for _, in := range insts {
		if in.Env == env && in.RestoredFrom != "" && in.Status != "deleting" {
			if err := c.Delete(ctx, env, in.App); err != nil {
				return err
			}
		}
	}
	return nil
}

// Tagged is an instance Spacepods made, by its tags.
type Tagged struct {
	ID, Env, App, Status string
	RestoredFrom         string // the snapshot (TagRestoredFrom)
}

// Instances lists this installation's pod instances (for leak audits).
func (c *Client) Instances(ctx context.Context) ([]Tagged, error) {
	var out []Tagged
	p := awsrds.NewDescribeDBInstancesPaginator(c.rds, &awsrds.DescribeDBInstancesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsclient.Err("rds:DescribeDBInstances", err)
		}
		for _, db := range page.DBInstances {
			tags := map[string]string{}
			for _, t := range db.TagList {
				tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			env := tags[runtime.LabelEnvironment]
			if runtime.Ours(tags, env, c.cfg.Installation) && env != "" {
				out = append(out, Tagged{ID: aws.ToString(db.DBInstanceIdentifier), Env: env, App: tags[runtime.LabelApp], Status: aws.ToString(db.DBInstanceStatus),
					RestoredFrom: tags[TagRestoredFrom]})
			}
		}
	}
	return out, nil
}
