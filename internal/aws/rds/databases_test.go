package rds_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	awsrds "github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/spacepods/spacepods/internal/aws/rds"
	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/awsclient/awstest"
	"github.com/spacepods/spacepods/internal/config"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/testenv"
)

// sharedServer stands in for the PostgreSQL server's provider: it records
// which databases were asked of it.
type sharedServer struct {
	mu    sync.Mutex
	asked []string
}

func (s *sharedServer) Ensure(_ context.Context, env, app string, _ spacepods.Database) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, env+"/"+app)
	return "postgres://shared/" + env + "_" + app, nil
}

// memSecrets is a secret store in memory.
type memSecrets map[string]string

func (m memSecrets) Get(_ context.Context, ref string) ([]byte, error) {
	v, ok := m[ref]
	if !ok {
		return nil, spacepods.Errorf(spacepods.ENOTFOUND, "no secret %s", ref)
	}
	return []byte(v), nil
}

func createInstance(t *testing.T, api *awsrds.Client, id string) {
	t.Helper()
	// moto's server may drop a kept-alive connection after answering; the
	// SDK's retry then finds the instance made: that is success.
	_, err := api.CreateDBInstance(context.Background(), &awsrds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(id), Engine: aws.String("postgres"),
		DBInstanceClass: aws.String("db.t4g.micro"), MasterUsername: aws.String("app"), MasterUserPassword: aws.String("not-a-real-password"), AllocatedStorage: aws.Int32(20)})
	if err != nil && !strings.Contains(err.Error(), "DBInstanceAlreadyExists") {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = api.DeleteDBInstance(context.Background(), &awsrds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(id), SkipFinalSnapshot: aws.Bool(true)}) // best effort
	})
}

// Which database each case gets, and the errors that say what to do. On
// moto: its instances have no database server, so URLs are checked, not
// used.
func TestRDSDatabases_RoutesEachDatabaseAndSaysWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	api := awsrds.NewFromConfig(awstest.SDK(t))
	st, err := store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	inst := testenv.AWSName("inst")
	c, err := rds.New(ctx, rds.Config{AWS: awstest.Config(t), Installation: inst, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	master, pod := testenv.AWSName("prod"), testenv.AWSName("pod")
	for _, e := range []spacepods.Environment{{Name: master, Kind: spacepods.EnvMaster}, {Name: pod, Kind: spacepods.EnvPod}} {
		e.Status, e.Apps = spacepods.StatusReady, []string{}
		if _, err := st.CreateEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	masterDB := testenv.AWSName("db") + "-" + master + "-catalog-api"
	createInstance(t, api, masterDB)
	shared := &sharedServer{}
	secrets := memSecrets{}
	d := &rds.Databases{Client: c, Shared: shared, Store: st, Secrets: secrets, Masters: rds.Masters{Instances: map[string]string{master + "/catalog-api": masterDB}}}

	// A master app without an instance, and a pod's seeded database: the
	// shared server.
	if u, err := d.Ensure(ctx, master, "pricing-api", spacepods.Database{Engine: "postgres"}); err != nil || !strings.HasPrefix(u, "postgres://shared/") {
		t.Fatalf("master app without an instance: %q, %v; want the shared server's", u, err)
	}
	if u, err := d.Ensure(ctx, pod, "catalog-api", spacepods.Database{Engine: "postgres", SeedSQL: "SELECT 1"}); err != nil || !strings.HasPrefix(u, "postgres://shared/") {
		t.Fatalf("pod's seeded database: %q, %v; want the shared server's", u, err)
	}
	// The master's instance needs its password.
	_, err = d.Ensure(ctx, master, "catalog-api", spacepods.Database{Engine: "postgres"})
	if spacepods.ErrorCode(err) != spacepods.ENOTFOUND || !strings.Contains(err.Error(), "spacepods config set catalog-api --env "+master+" --secret RDS_PASSWORD=") {
		t.Fatalf("master instance without its password: %v; want ENOTFOUND saying how to set it", err)
	}
	secrets[config.SecretRef("catalog-api", spacepods.EnvScope(master), rds.PasswordVar)] = "pw/with:odd@chars"
	u, err := d.Ensure(ctx, master, "catalog-api", spacepods.Database{Engine: "postgres"})
	if err != nil || !strings.Contains(u, "app:pw%2Fwith%3Aodd%40chars@"+masterDB+".") || !strings.HasSuffix(u, "/postgres?sslmode=require") {
		t.Fatalf("master's URL %q, %v; want its instance's endpoint, user and escaped password", u, err)
	}

	// A snapshot still being made, or failed, is not restored.
	snapName := testenv.AWSName("copy")
	if _, err := st.AddExternalSnapshot(ctx, store.ExternalSnapshot{Name: snapName, Kind: spacepods.SnapshotRDS, Env: master, App: "catalog-api", Source: masterDB, Ref: rds.SnapshotID(inst, snapName)}); err != nil {
		t.Fatal(err)
	}
	spec := spacepods.Database{Engine: "postgres", Snapshot: snapName}
	if _, err := d.Ensure(ctx, pod, "catalog-api", spec); spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE || !strings.Contains(err.Error(), "still being made") {
		t.Fatalf("restore from a snapshot being made: %v; want EUNAVAILABLE", err)
	}
	if err := st.SetExternalSnapshotStatus(ctx, snapName, store.ExternalFailed); err != nil {
		t.Fatal(err)
	}
	// Taking it again through Databases.Snapshot: CreateDBSnapshot.
	snap, handled, err := d.Snapshot(ctx, master, "catalog-api", snapName)
	if err != nil || !handled || snap.Kind != spacepods.SnapshotRDS || snap.Incomplete {
		t.Fatalf("snapshot: %+v, %v, %v", snap, handled, err)
	}
	if _, handled, err := d.Snapshot(ctx, pod, "catalog-api", "x"); handled || err != nil {
		t.Fatalf("snapshot of a pod's database: handled %v, %v; want it left to the shared server", handled, err)
	}
	// A master never restores: it uses its own instance or none.
	if _, err := d.Ensure(ctx, master, "orders-api", spec); spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "pods only") {
		t.Fatalf("master app naming an RDS snapshot without an instance: %v; want EINVALID", err)
	}

	// The pod's deploy and its create ask at once: one restore, one
	// progress report, the same URL.
	var wg sync.WaitGroup
	urls, errs := make([]string, 3), make([]error, 3)
	for i := range urls {
		wg.Go(func() { urls[i], errs[i] = d.Ensure(ctx, pod, "catalog-api", spec) })
	}
	wg.Wait()
	for i := range urls {
		if errs[i] != nil || urls[i] != urls[0] || !strings.Contains(urls[0], rds.InstanceID(pod, "catalog-api")+".") {
			t.Fatalf("concurrent Ensure %d: %q, %v (first %q)", i, urls[i], errs[i], urls[0])
		}
	}
	evs, err := st.Events(ctx, pod, 0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	restoring := 0
	for _, e := range evs {
		if strings.HasPrefix(e.Message, "restoring RDS instance") {
			restoring++
		}
	}
	if restoring != 1 {
		t.Errorf("%d restore reports in the pod's events %+v; want 1", restoring, evs)
	}
	if insts, err := d.Instances(ctx); err != nil || insts[rds.InstanceID(pod, "catalog-api")] != pod || insts[masterDB] != "" {
		t.Errorf("instances %v, %v; want the pod's and not the master's", insts, err)
	}
	if err := d.DestroyEnvironment(ctx, master); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Describe(ctx, masterDB); err != nil {
		t.Errorf("the master's instance after destroying the master: %v", err)
	}
	if err := d.DestroyEnvironment(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Describe(ctx, rds.InstanceID(pod, "catalog-api")); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Errorf("the pod's instance after destroy: %v, want ENOTFOUND", err)
	}
}

func TestRDSMasters_NamesAndValidation(t *testing.T) {
	m := rds.Masters{Instances: map[string]string{"production/catalog-api": "prod-catalog"}}
	if got := m.Instance("production", "catalog-api"); got != "prod-catalog" {
		t.Errorf("override: %s", got)
	}
	if got := m.Instance("staging", "catalog-api"); got != "staging-catalog-api" {
		t.Errorf("default pattern: %s", got)
	}
	if got := (rds.Masters{Pattern: "db-{app}-{env}"}).Instance("qa", "web"); got != "db-web-qa" {
		t.Errorf("pattern: %s", got)
	}
	for _, bad := range []rds.Masters{{Pattern: "{env}-db"}, {Instances: map[string]string{"production": "x"}}, {Instances: map[string]string{"production/web": ""}}} {
		if err := bad.Validate(); spacepods.ErrorCode(err) != spacepods.EINVALID {
			t.Errorf("Validate(%+v) = %v, want EINVALID", bad, err)
		}
	}
}

// Calls that IAM denies say which API and which permission. moto checks
// IAM policies once its "no auth" count is 0, which is global: so this
// test runs a moto of its own.
func TestRDS_DeniedCallsNameTheAPIAndPermission(t *testing.T) {
	ctx := context.Background()
	endpoint := testenv.StartMoto(t)
	admin, err := awsclient.Load(ctx, awsclient.Config{EndpointURL: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	api := awsrds.NewFromConfig(admin)
	createInstance(t, api, "prod-catalog")
	if _, err := api.CreateDBSnapshot(ctx, &awsrds.CreateDBSnapshotInput{DBInstanceIdentifier: aws.String("prod-catalog"), DBSnapshotIdentifier: aws.String("prod-copy")}); err != nil {
		t.Fatal(err)
	}
	ic := iam.NewFromConfig(admin)
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("reader")}); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["rds:DescribeDBInstances","rds:DescribeDBSnapshots"],"Resource":"*"}]}`
	if _, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("reader"), PolicyName: aws.String("read-only"), PolicyDocument: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	key, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("reader")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(endpoint+"/moto-api/reset-auth", "text/plain", strings.NewReader("0"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("turning moto's IAM checks on: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	c, err := rds.New(ctx, rds.Config{PollInterval: 10 * time.Millisecond, AWS: awsclient.Config{EndpointURL: endpoint,
		AccessKeyID: aws.ToString(key.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(key.AccessKey.SecretAccessKey)}})
	if err != nil {
		t.Fatal(err)
	}
	denied := func(api string, err error) {
		t.Helper()
		msg := spacepods.ErrorMessage(err)
		if spacepods.ErrorCode(err) != spacepods.EFORBIDDEN || !strings.Contains(msg, api) || !strings.Contains(msg, "IAM permission") {
			t.Errorf("denied %s: %v (message %q), want EFORBIDDEN naming it and the permission", api, err, msg)
		}
	}
	denied("rds:CreateDBSnapshot", c.CreateSnapshot(ctx, "prod", "catalog-api", "prod-catalog", "other-copy", nil))
	_, err = c.Restore(ctx, "pod", "catalog-api", "prod-copy", nil)
	denied("rds:RestoreDBInstanceFromDBSnapshot", err)
	denied("rds:DeleteDBInstance", c.Delete(ctx, "prod", "x"))
	// The allowed call gets through: the denials were the policy's.
	if in, err := c.Describe(ctx, "prod-catalog"); err != nil || in.ID != "prod-catalog" {
		t.Fatalf("allowed describe: %+v, %v", in, err)
	}
}
