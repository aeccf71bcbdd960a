// Package awsclient is the one place every AWS client of Spacepods (the ECS
// driver, the ALB traffic mover, RDS, the SSM and Secrets Manager secret
// stores) gets its configuration from: region, credentials and the endpoint
// (--aws-endpoint-url, the SDK's BaseEndpoint, which tests point at moto).
// There is no code path of its own for tests. It also turns SDK errors into
// Spacepods error codes that name the API call and the permission it needs.
package awsclient

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Config says how to reach AWS. The zero value is the SDK's default chain
// (AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID…, instance roles).
type Config struct {
	// Region, e.g. eu-west-1 (--aws-region); empty = the SDK's default
	// chain (AWS_REGION, the profile).
	Region string
	// EndpointURL, when set, replaces every service's endpoint
	// (--aws-endpoint-url): an emulator such as moto, or a VPC endpoint.
	EndpointURL string
	// AccessKeyID and SecretAccessKey, when both set, are static
	// credentials used instead of the default chain.
	AccessKeyID     string
	SecretAccessKey string
	// MaxAttempts of one call (retries of throttling and 5xx); 0 = the
	// SDK's default (3).
	MaxAttempts int
}

// Validate checks the config. EINVALID says what is wrong.
func (c Config) Validate() error {
	if c.EndpointURL != "" {
		u, err := url.Parse(c.EndpointURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return spacepods.Errorf(spacepods.EINVALID, "--aws-endpoint-url %q: want an http(s) URL such as http://127.0.0.1:5000", c.EndpointURL)
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return spacepods.Errorf(spacepods.EINVALID, "AWS static credentials need both an access key ID and a secret access key (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
	}
	return nil
}

// Load returns the SDK config for c. Every service client made from it
// (service.NewFromConfig) uses c's endpoint: it is the SDK's BaseEndpoint.
// EINVALID for a bad config or no region.
func Load(ctx context.Context, c Config) (aws.Config, error) {
	if err := c.Validate(); err != nil {
		return aws.Config{}, err
	}
	opts := []func(*awsconfig.LoadOptions) error{}
	if c.Region != "" {
		opts = append(opts, awsconfig.WithRegion(c.Region))
	}
	if c.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")))
	}
	if c.MaxAttempts > 0 {
		opts = append(opts, awsconfig.WithRetryMaxAttempts(c.MaxAttempts))
	}
	if c.EndpointURL != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(c.EndpointURL))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, spacepods.Errorf(spacepods.EINVALID, "AWS configuration: %v", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, spacepods.Errorf(spacepods.EINVALID, "no AWS region: set --aws-region or AWS_REGION")
	}
	return cfg, nil
}

// notFoundCodes are the error codes AWS services use for a missing thing.
var notFoundCodes = []string{
	"NotFound", "NotFoundException", "ResourceNotFoundException", "ParameterNotFound", "ClusterNotFoundException",
	"ServiceNotFoundException", "TargetGroupNotFound", "RuleNotFound", "ListenerNotFound", "LoadBalancerNotFound",
	"NoSuchHostedZone", "DBInstanceNotFound", "DBInstanceNotFoundFault", "DBSnapshotNotFound", "DBSnapshotNotFoundFault",
	"ClientException.NotFound",
}

// Err turns an error of the AWS call api (e.g. "ssm:PutParameter") into a
// Spacepods error: EFORBIDDEN naming the call and the IAM permission when
// AWS denied it, ENOTFOUND for a missing thing, ECONFLICT for one that
// exists, EUNAVAILABLE when AWS could not be reached or throttled us past
// the retries, EINVALID for a request AWS refused as invalid, EINTERNAL
// otherwise. A canceled context stays as it is.
func Err(api string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", api, err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		// A 403 whose body the SDK could not read (an emulator answering a
		// JSON API in XML) is still a denial.
		var he *smithyhttp.ResponseError
		if errors.As(err, &he) && he.HTTPStatusCode() == http.StatusForbidden {
			return denied(api, "HTTP 403", "the request was refused")
		}
		var re *retry.MaxAttemptsError
		if errors.As(err, &re) || isTransport(err) {
			return spacepods.Errorf(spacepods.EUNAVAILABLE, "AWS %s: %v (check --aws-endpoint-url / --aws-region and the network)", api, err)
		}
		return fmt.Errorf("AWS %s: %w", api, err)
	}
	code, msg := ae.ErrorCode(), ae.ErrorMessage()
	switch {
	case isDenied(code):
		return denied(api, code, msg)
	case isNotFound(code, msg):
		return spacepods.Errorf(spacepods.ENOTFOUND, "AWS %s: %s: %s", api, code, msg)
	case strings.Contains(code, "AlreadyExists") || strings.HasPrefix(code, "Duplicate") || code == "ResourceExistsException" || code == "ParameterAlreadyExists" || code == "ResourceInUse" || code == "ResourceInUseException":
		return spacepods.Errorf(spacepods.ECONFLICT, "AWS %s: %s: %s", api, code, msg)
	case strings.Contains(code, "Throttl") || code == "ServiceUnavailable" || code == "ServiceUnavailableException" || code == "InternalFailure" || code == "InternalServerError":
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "AWS %s: %s: %s (retry later)", api, code, msg)
	case strings.HasPrefix(code, "Invalid") || strings.HasPrefix(code, "Validation") || code == "ValidationError" || code == "ValidationException" || code == "InvalidParameterException" || code == "ClientException":
		return spacepods.Errorf(spacepods.EINVALID, "AWS %s: %s: %s", api, code, msg)
	}
	return fmt.Errorf("AWS %s: %w", api, err)
}

func denied(api, code, msg string) error {
	return spacepods.Errorf(spacepods.EFORBIDDEN, "AWS denied %s (%s: %s): grant the IAM permission %q to Spacepods' role (docs/aws.md lists the policy)", api, code, msg, api)
}

func isDenied(code string) bool {
	switch code {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
		"InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "AuthFailure", "SignatureDoesNotMatch",
		"MissingAuthenticationToken", "InvalidSignatureException", "IncompleteSignature":
		return true
	}
	return false
}

func isNotFound(code, msg string) bool {
	for _, c := range notFoundCodes {
		if code == c {
			return true
		}
	}
	return strings.HasSuffix(code, "NotFound") || strings.HasSuffix(code, "NotFoundException") || strings.HasSuffix(code, "NotFoundFault")
}

// isTransport reports whether err is a failure to reach the endpoint.
func isTransport(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "no such host") || strings.Contains(s, "dial tcp")
}

// IsNotFound reports whether err (from Err) is ENOTFOUND.
func IsNotFound(err error) bool { return spacepods.ErrorCode(err) == spacepods.ENOTFOUND }

// Int32 returns n as the *int32 that AWS APIs take, clamped to int32's
// range (counts, ports and sizes are far below its limits).
func Int32(n int) *int32 {
	v := int32(0)
	switch {
	case n > math.MaxInt32:
		v = math.MaxInt32
	case n < math.MinInt32:
		v = math.MinInt32
	default:
		v = int32(n)
	}
	return &v
}
