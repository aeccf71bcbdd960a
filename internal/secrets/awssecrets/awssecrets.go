// Package awssecrets holds the secret stores on AWS: `ssm` (Parameter Store
// SecureString parameters under a path prefix) and `secretsmanager` (one
// secret per ref under a name prefix). Both register with the secrets
// registry from this package's init (the server links it, see
// internal/cli/secretstores.go), take their AWS clients from
// internal/awsclient, and pass secrets/secretstest.
//
// A value that is non-empty UTF-8 text is kept as the text itself, so that
// ECS injects it unchanged into containers that name the parameter or
// secret (`secrets: valueFrom`); other values (binary, empty) are kept
// base64-encoded behind a marker, which only Spacepods decodes.
package awssecrets

import (
	"context"
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spacepods/spacepods/internal/awsclient"
	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Backend IDs (`spacepods server --secret-store ...`).
const (
	SSMID            = "ssm"
	SecretsManagerID = "secretsmanager"
)

// Config configures both stores; it is secrets.Config.Settings[SettingsID].
type Config struct {
	// AWS says how to reach AWS (region, endpoint, credentials).
	AWS awsclient.Config
	// Prefix goes before every ref: SSM parameters are named
	// /<Prefix>/<ref>, secrets <Prefix>/<ref>. Default "spacepods". Scope
	// Spacepods' IAM policy to it (docs/aws.md).
	Prefix string
	// KMSKeyID encrypts the values (SSM SecureString KeyId, Secrets
	// Manager KmsKeyId); empty = the account's AWS-managed key.
	KMSKeyID string
}

// SettingsID is the key of Config in secrets.Config.Settings.
const SettingsID = "aws"

func init() {
	secrets.Register(SSMID, func(ctx context.Context, cfg secrets.Config) (secrets.Store, error) {
		c, err := settingsOf(cfg)
		if err != nil {
			return nil, err
		}
		return NewSSM(ctx, c)
	})
	secrets.Register(SecretsManagerID, func(ctx context.Context, cfg secrets.Config) (secrets.Store, error) {
		c, err := settingsOf(cfg)
		if err != nil {
			return nil, err
		}
		return NewSecretsManager(ctx, c)
	})
}

func settingsOf(cfg secrets.Config) (Config, error) {
	v, ok := cfg.Settings[SettingsID]
	if !ok || v == nil {
		return Config{}, nil
	}
	c, ok := v.(Config)
	if !ok {
		return Config{}, spacepods.Errorf(spacepods.EINTERNAL, "secret store settings of type %T, want awssecrets.Config", v)
	}
	return c, nil
}

// load validates c, fills its defaults and loads the SDK config.
func (c *Config) load(ctx context.Context) (aws.Config, error) {
	if c.Prefix == "" {
		c.Prefix = "spacepods"
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
	if err := secrets.ValidateRef(c.Prefix); err != nil {
		return aws.Config{}, spacepods.Errorf(spacepods.EINVALID, "AWS secret prefix %q: %s", c.Prefix, spacepods.ErrorMessage(err))
	}
	low := strings.ToLower(c.Prefix)
	if strings.HasPrefix(low, "aws") || strings.HasPrefix(low, "ssm") {
		return aws.Config{}, spacepods.Errorf(spacepods.EINVALID, "AWS secret prefix %q: names starting with aws or ssm are reserved by AWS; choose another (default spacepods)", c.Prefix)
	}
	return awsclient.Load(ctx, c.AWS)
}

// marker starts a stored value that is base64 of the real one.
const marker = "spacepods-b64:"

// encode returns the text to store for value: the value itself when it is
// non-empty UTF-8 text that does not start with the marker, else the
// marker and its base64.
func encode(value []byte) (text string, raw bool) {
	if len(value) > 0 && utf8.Valid(value) && !strings.HasPrefix(string(value), marker) {
		return string(value), true
	}
	return marker + base64.StdEncoding.EncodeToString(value), false
}

// decode reverses encode. A value written by someone else without the
// marker is returned as it is.
func decode(ref, text string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(text, marker); ok {
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, spacepods.Errorf(spacepods.EINTERNAL, "secret %q: its stored value starts with %q but is not base64: %v", ref, marker, err)
		}
		return b, nil
	}
	return []byte(text), nil
}

// filterRefs keeps the refs that start with prefix, never nil.
func filterRefs(refs []string, prefix string) []string {
	out := []string{}
	for _, r := range refs {
		if strings.HasPrefix(r, prefix) && secrets.ValidateRef(r) == nil {
			out = append(out, r)
		}
	}
	return out
}
