package awsclient_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/secrets/awssecrets"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// A call that IAM denies comes back as EFORBIDDEN naming the API and the
// permission to grant. moto checks IAM policies once its "no auth" count is
// reset to 0, which is global: so this test runs a moto of its own.
func TestErr_DeniedCallNamesTheAPIAndPermission(t *testing.T) {
	ctx := context.Background()
	endpoint := testenv.StartMoto(t)
	admin, err := awsclient.Load(ctx, awsclient.Config{EndpointURL: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	ic := iam.NewFromConfig(admin)
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("reader")}); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:GetParameter"],"Resource":"*"}]}`
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

	store, err := awssecrets.NewSSM(ctx, awssecrets.Config{AWS: awsclient.Config{
		EndpointURL: endpoint, AccessKeyID: aws.ToString(key.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(key.AccessKey.SecretAccessKey),
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = store.Put(ctx, "apps/web/qa/TOKEN", []byte("x"))
	msg := spacepods.ErrorMessage(err)
	if spacepods.ErrorCode(err) != spacepods.EFORBIDDEN || !strings.Contains(msg, "ssm:PutParameter") || !strings.Contains(msg, "IAM permission") {
		t.Fatalf("denied put: %v (message %q), want EFORBIDDEN naming ssm:PutParameter and the permission", err, msg)
	}
	// The allowed call gets through: the denial was the policy's, not the credentials'.
	if _, err := store.Get(ctx, "apps/web/qa/TOKEN"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("allowed get: %v, want ENOTFOUND", err)
	}
}

func TestLoad_RejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  awsclient.Config
		want string
	}{
		{"endpoint without scheme", awsclient.Config{Region: "eu-west-1", EndpointURL: "127.0.0.1:5000"}, "--aws-endpoint-url"},
		{"half static credentials", awsclient.Config{Region: "eu-west-1", AccessKeyID: "AKIA"}, "secret access key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := awsclient.Load(context.Background(), tc.cfg)
			if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), tc.want) {
				t.Fatalf("Load: %v, want EINVALID mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoad_NoRegionSaysWhatToSet(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	_, err := awsclient.Load(context.Background(), awsclient.Config{})
	if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), "--aws-region") {
		t.Fatalf("Load without a region: %v", err)
	}
}

func TestErr_UnreachableEndpointIsUnavailable(t *testing.T) {
	testenv.AWSEndpoint(t) // credentials and region
	ctx := context.Background()
	store, err := awssecrets.NewSSM(ctx, awssecrets.Config{AWS: awsclient.Config{EndpointURL: "http://127.0.0.1:1", MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Get(ctx, "apps/web/qa/TOKEN")
	if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE || !strings.Contains(spacepods.ErrorMessage(err), "ssm:GetParameter") {
		t.Fatalf("get from a closed port: %v, want EUNAVAILABLE naming the call", err)
	}
}
