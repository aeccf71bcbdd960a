package cli

import (
	"github.com/spf13/pflag"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/secrets/awssecrets"
)

// awsFlags are the settings of everything Spacepods does on AWS (the ssm
// and secretsmanager secret stores, the ecs runtime, alb routing). Every
// AWS client is made from the one awsclient.Config they give.
type awsFlags struct {
	client       awsclient.Config
	secretPrefix string
	kmsKey       string
}

func addAWSFlags(f *pflag.FlagSet, a *awsFlags) {
	f.StringVar(&a.client.Region, "aws-region", envOr("SPACEPODS_AWS_REGION", ""), "AWS region of everything Spacepods makes on AWS; empty = the SDK's default (AWS_REGION, the profile) (env SPACEPODS_AWS_REGION)")
	f.StringVar(&a.client.EndpointURL, "aws-endpoint-url", envOr("SPACEPODS_AWS_ENDPOINT_URL", ""), "one endpoint for every AWS API instead of AWS's own: an emulator such as moto, or a proxy (env SPACEPODS_AWS_ENDPOINT_URL). Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID…, AWS_PROFILE, instance role)")
	f.StringVar(&a.secretPrefix, "aws-secret-prefix", envOr("SPACEPODS_AWS_SECRET_PREFIX", "spacepods"), "--secret-store ssm|secretsmanager: prefix of Spacepods' parameters (/<prefix>/<ref>) or secrets (<prefix>/<ref>); scope the IAM policy to it (env SPACEPODS_AWS_SECRET_PREFIX)")
	f.StringVar(&a.kmsKey, "aws-kms-key", envOr("SPACEPODS_AWS_KMS_KEY", ""), "--secret-store ssm|secretsmanager: KMS key ID or ARN that encrypts secret values; empty = the account's AWS-managed key (env SPACEPODS_AWS_KMS_KEY)")
}

// secretSettings are the AWS secret stores' settings (secrets.Config.Settings).
func (a awsFlags) secretSettings() map[string]any {
	return map[string]any{awssecrets.SettingsID: awssecrets.Config{AWS: a.client, Prefix: a.secretPrefix, KMSKeyID: a.kmsKey}}
}
