package awssecrets

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/secrets"
)

// SSMMaxValueSize is the largest value the ssm store takes. A parameter
// holds 8 KB (advanced tier); binary values are kept in base64 behind a
// marker, which leaves room for 6000 bytes.
const SSMMaxValueSize = 6000

// SSM keeps secrets as SecureString parameters /<prefix>/<ref> in AWS
// Systems Manager Parameter Store, in the intelligent tier (standard up to
// 4 KB, advanced above).
type SSM struct {
	c   *ssm.Client
	cfg Config
}

var (
	_ secrets.Store        = (*SSM)(nil)
	_ secrets.ValueLimiter = (*SSM)(nil)
)

// NewSSM opens the ssm store. EINVALID for a bad config. It makes no call.
func NewSSM(ctx context.Context, cfg Config) (*SSM, error) {
	ac, err := cfg.load(ctx)
	if err != nil {
		return nil, err
	}
	return &SSM{c: ssm.NewFromConfig(ac), cfg: cfg}, nil
}

// Name returns "ssm".
func (s *SSM) Name() string { return SSMID }

// MaxValueSize returns SSMMaxValueSize.
func (s *SSM) MaxValueSize() int { return SSMMaxValueSize }

// ParameterName returns the parameter that holds ref, which is also what an
// ECS task definition's `valueFrom` names (a parameter of the task's
// region). EINVALID for a bad ref.
func (s *SSM) ParameterName(ref string) (string, error) {
	if err := secrets.ValidateRef(ref); err != nil {
		return "", err
	}
	return s.name(ref), nil
}

func (s *SSM) name(ref string) string { return "/" + s.cfg.Prefix + "/" + ref }

// Put implements secrets.Store.
func (s *SSM) Put(ctx context.Context, ref string, value []byte) error {
	if err := secrets.CheckPut(ref, value, SSMMaxValueSize, "SSM parameters hold 8 KB"); err != nil {
		return err
	}
	text, _ := encode(value)
	in := &ssm.PutParameterInput{
		Name:      aws.String(s.name(ref)),
		Value:     aws.String(text),
		Type:      types.ParameterTypeSecureString,
		Overwrite: aws.Bool(true),
		Tier:      types.ParameterTierIntelligentTiering,
	}
	if s.cfg.KMSKeyID != "" {
		in.KeyId = aws.String(s.cfg.KMSKeyID)
	}
	_, err := s.c.PutParameter(ctx, in)
	return awsclient.Err("ssm:PutParameter", err)
}

// Get implements secrets.Store.
func (s *SSM) Get(ctx context.Context, ref string) ([]byte, error) {
	if err := secrets.ValidateRef(ref); err != nil {
		return nil, err
	}
	out, err := s.c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(s.name(ref)), WithDecryption: aws.Bool(true)})
	var nf *types.ParameterNotFound
	if errors.As(err, &nf) {
		return nil, notFound(ref)
	}
	if err != nil {
		return nil, awsclient.Err("ssm:GetParameter", err)
	}
	return decode(ref, aws.ToString(out.Parameter.Value))
}

// Delete implements secrets.Store.
func (s *SSM) Delete(ctx context.Context, ref string) error {
	if err := secrets.ValidateRef(ref); err != nil {
		return err
	}
	_, err := s.c.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(s.name(ref))})
	var nf *types.ParameterNotFound
	if errors.As(err, &nf) {
		return nil
	}
	return awsclient.Err("ssm:DeleteParameter", err)
}

// List implements secrets.Store: the parameters under the deepest folder
// the prefix names, recursively.
func (s *SSM) List(ctx context.Context, prefix string) ([]string, error) {
	if err := secrets.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	path := "/" + s.cfg.Prefix
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		path += "/" + prefix[:i]
	}
	var refs []string
	p := ssm.NewGetParametersByPathPaginator(s.c, &ssm.GetParametersByPathInput{Path: aws.String(path), Recursive: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsclient.Err("ssm:GetParametersByPath", err)
		}
		for _, prm := range page.Parameters {
			if ref, ok := strings.CutPrefix(aws.ToString(prm.Name), "/"+s.cfg.Prefix+"/"); ok {
				refs = append(refs, ref)
			}
		}
	}
	out := filterRefs(refs, prefix)
	slices.Sort(out)
	return out, nil
}

// ValueFrom returns the parameter's name, which an ECS task definition's
// `secrets.valueFrom` takes for a parameter of the task's region (the ecs
// runtime's SecretReferencer). EINVALID for a bad ref.
func (s *SSM) ValueFrom(_ context.Context, ref string) (string, error) { return s.ParameterName(ref) }
