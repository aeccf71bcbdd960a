package cli

import (
	"context"
	"log/slog"
	"sync"

	"github.com/slack-go/slack"
	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/internal/notify"
	"github.com/spacepods/spacepods/internal/notify/slackbot"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// notifyConfig is the notifier's flag.
type notifyConfig struct {
	file string // --notify-config
}

func (nc *notifyConfig) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&nc.file, "notify-config", envOr("SPACEPODS_NOTIFY_CONFIG", ""), "YAML file of notification targets and routing rules (Slack, outgoing webhooks; see docs/notifications.md); empty = notices are recorded in the delivery log only (env SPACEPODS_NOTIFY_CONFIG)")
}

// notifier is the running notifier: built before the runtime (the
// services it hears from take it at construction), started after it (the
// Slack commands call those services).
type notifier struct {
	svc   *notify.Service
	cfg   *notify.Config
	slack *slack.Client
	// signingSecret is Slack's, for slash commands and buttons.
	signingSecret string
	publicURL     string
	// Approver is the CD pipeline's approval gate, when one runs.
	Approver notify.Approver
	handler  *slackbot.Handler
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

// newNotifier reads --notify-config and the secrets it names, and builds
// the notifier and its senders. With no config, notices are still
// recorded (the delivery log shows there were no targets).
func newNotifier(nc notifyConfig, publicURL string, st *store.Store, logger *slog.Logger) (*notifier, error) {
	c := &notify.Config{}
	if nc.file != "" {
		var err error
		if c, err = notify.LoadConfig(nc.file); err != nil {
			return nil, err
		}
	}
	n := &notifier{cfg: c, publicURL: publicURL}
	senders := map[string]notify.Sender{}
	if len(c.Webhooks) > 0 {
		hooks := map[string]notify.Webhook{}
		for name, w := range c.Webhooks {
			secret, err := notify.Env(w.SecretEnv, "webhook "+name)
			if err != nil {
				return nil, err
			}
			hooks[name] = notify.Webhook{URL: w.URL, Secret: []byte(secret)}
		}
		senders["webhook"] = &notify.WebhookSender{Hooks: hooks, PublicURL: publicURL}
	}
	userOf := func(ctx context.Context, user string) (string, error) {
		u, err := st.SlackUserOf(ctx, user)
		return u.SlackUser, err
	}
	if sc := c.Slack; sc != nil {
		tokenEnv, signEnv := or(sc.TokenEnv, "SLACK_BOT_TOKEN"), or(sc.SigningSecretEnv, "SLACK_SIGNING_SECRET")
		token, err := notify.Env(tokenEnv, "slack bot token")
		if err != nil {
			return nil, err
		}
		if n.signingSecret, err = notify.Env(signEnv, "slack signing secret"); err != nil {
			return nil, err
		}
		var opts []slack.Option
		if sc.APIURL != "" {
			opts = append(opts, slack.OptionAPIURL(sc.APIURL))
		}
		n.slack = slack.New(token, opts...)
		senders["slack"] = &slackbot.Sender{Client: n.slack, Threads: st, PublicURL: publicURL}
		senders["slack-dm"] = &slackbot.Sender{Client: n.slack, Threads: st, PublicURL: publicURL, DM: true, SlackUserOf: userOf}
	}
	linked := func(ctx context.Context, user string) bool { _, err := userOf(ctx, user); return err == nil }
	n.svc = &notify.Service{Store: st, Route: c.Router(linked), Senders: senders, Logger: logger.With("component", "notify")}
	return n, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// start runs the delivery worker and, with Slack configured, serves
// slash commands and buttons on srv.
func (n *notifier) start(ctx context.Context, srv *server.Server, st *store.Store, logger *slog.Logger) {
	wctx, cancel := context.WithCancel(ctx)
	n.cancel = cancel
	n.wg.Go(func() { n.svc.Run(wctx) })
	if n.cfg.Slack == nil {
		return
	}
	n.handler = &slackbot.Handler{
		SigningSecret: n.signingSecret, Users: st, Approver: n.Approver,
		Commands: &slackbot.Services{Pods: srv.Pods, Deploys: srv.Deploys, PublicURL: n.publicURL},
		Protected: func(ctx context.Context, env string) (bool, error) {
			e, err := st.GetEnvironment(ctx, env)
			return e.Protected, err
		},
		DevelopersMayApproveProtected: n.cfg.Slack.DevelopersMayApproveProtected,
		Logger:                        logger.With("component", "slack"),
	}
	n.handler.Start(wctx)
	srv.Slack = n.handler
}

// stop ends the worker and waits for it and for running slash commands.
func (n *notifier) stop() {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	if n.handler != nil {
		n.handler.Wait()
	}
}

// notifier is the value the domain services take: nil when there is none.
func (n *notifier) notifier() spacepods.Notifier {
	if n == nil || n.svc == nil {
		return nil
	}
	return n.svc
}
