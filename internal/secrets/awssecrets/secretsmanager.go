package awssecrets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// smMaxName is the longest secret name Secrets Manager takes.
const smMaxName = 512

// SecretsManager keeps each secret as an AWS Secrets Manager secret named
// <prefix>/<ref> (a longer name is <prefix>/+<sha256 of ref>), its ref in
// the secret's description and a tag. Text values are the SecretString,
// binary ones the SecretBinary (ECS injects only the former).
type SecretsManager struct {
	c   *secretsmanager.Client
	cfg Config
}

var _ secrets.Store = (*SecretsManager)(nil)

// NewSecretsManager opens the secretsmanager store. EINVALID for a bad
// config. It makes no call.
func NewSecretsManager(ctx context.Context, cfg Config) (*SecretsManager, error) {
	ac, err := cfg.load(ctx)
	if err != nil {
		return nil, err
	}
	return &SecretsManager{c: secretsmanager.NewFromConfig(ac), cfg: cfg}, nil
}

// Name returns "secretsmanager".
func (s *SecretsManager) Name() string { return SecretsManagerID }

// name returns the secret's name for ref. '+' never occurs in a ref, so a
// hashed name never collides with a plain one.
func (s *SecretsManager) name(ref string) string {
	n := s.cfg.Prefix + "/" + ref
	if len(n) <= smMaxName {
		return n
	}
	h := sha256.Sum256([]byte(ref))
	return s.cfg.Prefix + "/+" + hex.EncodeToString(h[:])
}

// ARN returns the ARN of the secret that holds ref, which an ECS task
// definition's `valueFrom` names. ENOTFOUND when there is no such secret.
func (s *SecretsManager) ARN(ctx context.Context, ref string) (string, error) {
	if err := secrets.ValidateRef(ref); err != nil {
		return "", err
	}
	out, err := s.c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(s.name(ref))})
	if isMissing(err) {
		return "", notFound(ref)
	}
	if err != nil {
		return "", awsclient.Err("secretsmanager:DescribeSecret", err)
	}
	return aws.ToString(out.ARN), nil
}

// refTag is the tag that carries a secret's ref.
const refTag = "spacepods.secret-ref"

// Put implements secrets.Store: a new version of the secret, which is
// created on first use (or restored if it was deleted meanwhile).
func (s *SecretsManager) Put(ctx context.Context, ref string, value []byte) error {
	if err := secrets.CheckPut(ref, value, secrets.MaxValueSize, "64 KiB"); err != nil {
		return err
	}
	name := s.name(ref)
	var str *string
	var bin []byte
	if text, raw := encode(value); raw || len(value) == 0 {
		str = aws.String(text)
	} else {
		bin = value
	}
	put := func() error {
		_, err := s.c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: str, SecretBinary: bin})
		return err
	}
	err := put()
	var inv *types.InvalidRequestException
	if errors.As(err, &inv) && strings.Contains(strings.ToLower(inv.ErrorMessage()), "delet") {
		// Deleted with a recovery window by someone else: restore, then write.
		if _, rerr := s.c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String(name)}); rerr != nil {
			return awsclient.Err("secretsmanager:RestoreSecret", rerr)
		}
		err = put()
	}
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		in := &secretsmanager.CreateSecretInput{
			Name: aws.String(name), SecretString: str, SecretBinary: bin, Description: aws.String(ref),
			Tags: []types.Tag{{Key: aws.String(refTag), Value: aws.String(tagValue(ref))}},
		}
		if s.cfg.KMSKeyID != "" {
			in.KmsKeyId = aws.String(s.cfg.KMSKeyID)
		}
		_, err = s.c.CreateSecret(ctx, in)
		var exists *types.ResourceExistsException
		if !errors.As(err, &exists) {
			return awsclient.Err("secretsmanager:CreateSecret", err)
		}
		err = put() // another writer created it first
	}
	return awsclient.Err("secretsmanager:PutSecretValue", err)
}

// tagValue fits ref into a tag value (256 characters).
func tagValue(ref string) string {
	if len(ref) > 256 {
		return ref[:256]
	}
	return ref
}

// Get implements secrets.Store.
func (s *SecretsManager) Get(ctx context.Context, ref string) ([]byte, error) {
	if err := secrets.ValidateRef(ref); err != nil {
		return nil, err
	}
	out, err := s.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.name(ref))})
	if isMissing(err) {
		return nil, notFound(ref)
	}
	if err != nil {
		return nil, awsclient.Err("secretsmanager:GetSecretValue", err)
	}
	if out.SecretBinary != nil {
		return out.SecretBinary, nil
	}
	return decode(ref, aws.ToString(out.SecretString))
}

// Delete implements secrets.Store: the secret is deleted without a recovery
// window, so that its name is free again.
func (s *SecretsManager) Delete(ctx context.Context, ref string) error {
	if err := secrets.ValidateRef(ref); err != nil {
		return err
	}
	_, err := s.c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(s.name(ref)), ForceDeleteWithoutRecovery: aws.Bool(true)})
	if isMissing(err) {
		return nil
	}
	return awsclient.Err("secretsmanager:DeleteSecret", err)
}

// List implements secrets.Store: the store's secrets (by name prefix), their
// refs read from their descriptions.
func (s *SecretsManager) List(ctx context.Context, prefix string) ([]string, error) {
	if err := secrets.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	var refs []string
	p := secretsmanager.NewListSecretsPaginator(s.c, &secretsmanager.ListSecretsInput{
		Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{s.cfg.Prefix + "/"}}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsclient.Err("secretsmanager:ListSecrets", err)
		}
		for _, e := range page.SecretList {
			ref := aws.ToString(e.Description)
			if e.DeletedDate != nil || s.name(ref) != aws.ToString(e.Name) {
				continue // deleted, or not one of ours
			}
			refs = append(refs, ref)
		}
	}
	out := filterRefs(refs, prefix)
	slices.Sort(out)
	return out, nil
}

// isMissing reports whether err says the secret does not exist (or is
// deleted).
func isMissing(err error) bool {
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return true
	}
	var inv *types.InvalidRequestException
	return errors.As(err, &inv) && strings.Contains(strings.ToLower(inv.ErrorMessage()), "marked as deleted")
}

func notFound(ref string) error {
	return spacepods.Errorf(spacepods.ENOTFOUND, "secret %q not found", ref)
}

// ValueFrom returns the secret's ARN, which an ECS task definition's
// `secrets.valueFrom` takes (the ecs runtime's SecretReferencer).
// ENOTFOUND when there is no such secret.
func (s *SecretsManager) ValueFrom(ctx context.Context, ref string) (string, error) {
	return s.ARN(ctx, ref)
}
