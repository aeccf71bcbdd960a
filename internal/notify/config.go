package notify

import (
	"bytes"
	"context"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Config is the notifier's configuration: the server reads it from the
// file given with --notify-config (YAML; see docs/notifications.md).
// Secrets are never in the file: it names the environment variables that
// hold them.
type Config struct {
	Slack    *SlackConfig             `yaml:"slack"`
	Webhooks map[string]WebhookConfig `yaml:"webhooks"`
	// Routes send notices to targets; a notice goes to the union of the
	// targets of every rule it matches.
	Routes []Rule `yaml:"routes"`
	// DirectMessages sends the notices whose Owner has a Slack user mapped
	// (`spacepods slack link`) to that user too. Default: on, for pod.*
	// and tests.* kinds, when Slack is configured.
	DirectMessages *DirectMessages `yaml:"direct_messages"`
}

// SlackConfig says how to reach Slack.
type SlackConfig struct {
	// TokenEnv names the variable holding the bot token (xoxb-…);
	// default SLACK_BOT_TOKEN.
	TokenEnv string `yaml:"token_env"`
	// SigningSecretEnv names the variable holding the app's signing
	// secret (slash commands and buttons); default SLACK_SIGNING_SECRET.
	SigningSecretEnv string `yaml:"signing_secret_env"`
	// APIURL is Slack's Web API base URL; default Slack's own (tests point
	// it at slack-go's slacktest server).
	APIURL string `yaml:"api_url"`
	// DevelopersMayApproveProtected lets developers approve and deploy to
	// protected environments from Slack. Default false: admins only, as
	// in the API.
	DevelopersMayApproveProtected bool `yaml:"developers_may_approve_protected"`
}

// WebhookConfig is one generic outgoing webhook.
type WebhookConfig struct {
	URL string `yaml:"url"`
	// SecretEnv names the variable holding the HMAC secret; required.
	SecretEnv string `yaml:"secret_env"`
}

// Rule matches notices by kind, app and environment (shell-style globs,
// "deploy.*"; an empty list matches everything) and sends them to To:
// "slack:#channel" (or a channel ID), "webhook:NAME".
type Rule struct {
	Kinds []string `yaml:"kinds"`
	Apps  []string `yaml:"apps"`
	Envs  []string `yaml:"envs"`
	To    []string `yaml:"to"`
}

// DirectMessages configures the owner's direct messages.
type DirectMessages struct {
	Enabled *bool    `yaml:"enabled"`
	Kinds   []string `yaml:"kinds"`
}

// LoadConfig reads and checks a config file.
func LoadConfig(file string) (*Config, error) {
	body, err := os.ReadFile(file) // #nosec G304 -- the admin's own --notify-config
	if err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "read --notify-config: %v", err)
	}
	return ParseConfig(body)
}

// ParseConfig parses and checks a config (unknown keys are errors).
func ParseConfig(body []byte) (*Config, error) {
	var c Config
	if err := yaml.NewDecoder(bytes.NewReader(body), yaml.DisallowUnknownField()).Decode(&c); err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "notify config: %s", yaml.FormatError(err, false, true))
	}
	return &c, c.Validate()
}

// Validate checks the rules' patterns and targets.
func (c *Config) Validate() error {
	for name, w := range c.Webhooks {
		if !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://") {
			return spacepods.Errorf(spacepods.EINVALID, "notify config: webhook %q: url must be http:// or https://, got %q", name, w.URL)
		}
		if w.SecretEnv == "" {
			return spacepods.Errorf(spacepods.EINVALID, "notify config: webhook %q: set secret_env to the variable holding its signing secret", name)
		}
	}
	for i, r := range c.Routes {
		if len(r.To) == 0 {
			return spacepods.Errorf(spacepods.EINVALID, "notify config: route %d has no targets (to: [slack:#channel, webhook:NAME])", i+1)
		}
		for _, pats := range [][]string{r.Kinds, r.Apps, r.Envs} {
			for _, p := range pats {
				if _, err := path.Match(p, ""); err != nil {
					return spacepods.Errorf(spacepods.EINVALID, "notify config: route %d: bad pattern %q", i+1, p)
				}
			}
		}
		for _, k := range r.Kinds {
			if !slices.ContainsFunc(spacepods.NoticeKinds, func(kind string) bool { ok, _ := path.Match(k, kind); return ok }) {
				return spacepods.Errorf(spacepods.EINVALID, "notify config: route %d: kind %q matches no notice kind (%s)", i+1, k, strings.Join(spacepods.NoticeKinds, ", "))
			}
		}
		for _, t := range r.To {
			typ, name, _ := strings.Cut(t, ":")
			switch {
			case typ == "slack" && name != "":
				if c.Slack == nil {
					return spacepods.Errorf(spacepods.EINVALID, "notify config: route %d sends to %s, but there is no slack: section", i+1, t)
				}
			case typ == "webhook":
				if _, ok := c.Webhooks[name]; !ok {
					return spacepods.Errorf(spacepods.EINVALID, "notify config: route %d sends to %s, but webhooks: has no %q", i+1, t, name)
				}
			default:
				return spacepods.Errorf(spacepods.EINVALID, "notify config: route %d: target %q must be slack:#CHANNEL or webhook:NAME", i+1, t)
			}
		}
	}
	return nil
}

func matchAny(pats []string, v string) bool {
	if len(pats) == 0 {
		return true
	}
	for _, p := range pats {
		if ok, _ := path.Match(p, v); ok {
			return true
		}
	}
	return false
}

// defaultDMKinds are the owner's notices sent by direct message unless
// the config says otherwise.
var defaultDMKinds = []string{"pod.*", "tests.*"}

// Router returns the function that picks a notice's targets. linked says
// whether a Spacepods user has a Slack user mapped (nil: nobody has).
func (c *Config) Router(linked func(ctx context.Context, user string) bool) func(context.Context, spacepods.Notice) []string {
	dmOn, dmKinds := c.Slack != nil, defaultDMKinds
	if dm := c.DirectMessages; dm != nil {
		if dm.Enabled != nil {
			dmOn = *dm.Enabled && c.Slack != nil
		}
		if len(dm.Kinds) > 0 {
			dmKinds = dm.Kinds
		}
	}
	return func(ctx context.Context, n spacepods.Notice) []string {
		var out []string
		for _, r := range c.Routes {
			if matchAny(r.Kinds, n.Kind) && matchAny(r.Apps, n.App) && matchAny(r.Envs, n.Env) {
				for _, t := range r.To {
					if !slices.Contains(out, t) {
						out = append(out, t)
					}
				}
			}
		}
		if dmOn && n.Owner != "" && matchAny(dmKinds, n.Kind) && linked != nil && linked(ctx, n.Owner) {
			out = append(out, "slack-dm:"+n.Owner)
		}
		return out
	}
}

// Env returns the value of the environment variable name, or an error that
// says which setting wants it.
func Env(name, what string) (string, error) {
	v := os.Getenv(name)
	if v == "" {
		return "", spacepods.Errorf(spacepods.EINVALID, "%s: set the environment variable %s (named in --notify-config)", what, name)
	}
	return v, nil
}
