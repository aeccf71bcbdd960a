package awssecrets_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/secrets/awssecrets"
	"github.com/spacepods/spacepods/internal/secrets/secretstest"
	"github.com/spacepods/spacepods/internal/testenv"
)

// These run against moto's server (testenv.AWSEndpoint), which answers the
// SSM and Secrets Manager APIs as AWS documents them.

// open opens a registered AWS store through the secrets registry, under a
// prefix of its own so that every subtest starts empty.
func open(t *testing.T, id string) secrets.Store {
	t.Helper()
	endpoint := testenv.AWSEndpoint(t)
	cfg := awssecrets.Config{AWS: awsclient.Config{EndpointURL: endpoint}, Prefix: testenv.AWSName("sp")}
	s, err := secrets.Open(context.Background(), id, secrets.Config{Settings: map[string]any{awssecrets.SettingsID: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSSM_Conformance(t *testing.T) {
	secretstest.Run(t, func(t *testing.T) secrets.Store { return open(t, awssecrets.SSMID) })
}

func TestSecretsManager_Conformance(t *testing.T) {
	secretstest.Run(t, func(t *testing.T) secrets.Store { return open(t, awssecrets.SecretsManagerID) })
}

// ECS injects a parameter's or secret's stored text as it is, so text
// values must be stored as the text itself, and binary ones must not be
// mistaken for it.
func TestAWSStores_KeepTextAsItIsForECS(t *testing.T) {
	ctx := context.Background()
	endpoint := testenv.AWSEndpoint(t)
	ac, err := awsclient.Load(ctx, awsclient.Config{EndpointURL: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	prefix := testenv.AWSName("sp")
	cfg := awssecrets.Config{AWS: awsclient.Config{EndpointURL: endpoint}, Prefix: prefix}

	ps, err := awssecrets.NewSSM(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Put(ctx, "apps/web/qa/TOKEN", []byte("s3cr3t ✓")); err != nil {
		t.Fatal(err)
	}
	if err := ps.Put(ctx, "apps/web/qa/BIN", []byte{0xff, 0x00}); err != nil {
		t.Fatal(err)
	}
	name, err := ps.ParameterName("apps/web/qa/TOKEN")
	if err != nil || name != "/"+prefix+"/apps/web/qa/TOKEN" {
		t.Fatalf("ParameterName = %q, %v", name, err)
	}
	sc := ssm.NewFromConfig(ac)
	got, err := sc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if v := aws.ToString(got.Parameter.Value); v != "s3cr3t ✓" || got.Parameter.Type != "SecureString" {
		t.Fatalf("SSM holds %q (%s), want the text itself as a SecureString", v, got.Parameter.Type)
	}
	bin, err := sc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/" + prefix + "/apps/web/qa/BIN"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(bin.Parameter.Value) != "spacepods-b64:/wA=" {
		t.Fatalf("binary value stored as %q, %v; want it base64-encoded behind the marker", aws.ToString(bin.Parameter.Value), err)
	}

	sm, err := awssecrets.NewSecretsManager(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.Put(ctx, "apps/web/qa/TOKEN", []byte("s3cr3t ✓")); err != nil {
		t.Fatal(err)
	}
	arn, err := sm.ARN(ctx, "apps/web/qa/TOKEN")
	if err != nil {
		t.Fatal(err)
	}
	sv, err := secretsmanager.NewFromConfig(ac).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil || aws.ToString(sv.SecretString) != "s3cr3t ✓" {
		t.Fatalf("secret %s holds %q, %v; want the text itself as its SecretString", arn, aws.ToString(sv.SecretString), err)
	}
	if _, err := sm.ARN(ctx, "apps/web/qa/MISSING"); err == nil {
		t.Fatal("ARN of a missing secret succeeded")
	}
}
