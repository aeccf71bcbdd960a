package notify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/notify"
	"github.com/spacepods/spacepods/internal/spacepods"
)

const routingConfig = `
slack: {}
webhooks:
  ops: {url: "http://127.0.0.1:9/hook", secret_env: OPS_HOOK_SECRET}
routes:
  - kinds: ["deploy.*", "release.notes"]
    envs: [production]
    to: ["slack:#prod-deploys", "webhook:ops"]
  - apps: [storefront]
    kinds: ["deploy.failed", "deploy.rolled_back"]
    to: ["slack:#storefront"]
  - kinds: ["pipeline.*"]
    to: ["slack:#releases"]
`

func TestRouter_PerAppEnvironmentAndKind(t *testing.T) {
	c, err := notify.ParseConfig([]byte(routingConfig))
	if err != nil {
		t.Fatal(err)
	}
	linked := func(_ context.Context, user string) bool { return user == "alice" }
	route := c.Router(linked)
	for _, tc := range []struct {
		name string
		n    spacepods.Notice
		want []string
	}{
		{"production deploy", spacepods.Notice{Kind: spacepods.NoticeDeployStarted, App: "web", Env: "production"}, []string{"slack:#prod-deploys", "webhook:ops"}},
		{"staging deploy goes nowhere", spacepods.Notice{Kind: spacepods.NoticeDeployStarted, App: "web", Env: "staging"}, nil},
		{"storefront failing in production: both rules, once each", spacepods.Notice{Kind: spacepods.NoticeDeployFailed, App: "storefront", Env: "production"}, []string{"slack:#prod-deploys", "webhook:ops", "slack:#storefront"}},
		{"storefront failing in a pod", spacepods.Notice{Kind: spacepods.NoticeDeployFailed, App: "storefront", Env: "alice-1"}, []string{"slack:#storefront"}},
		{"pipeline", spacepods.Notice{Kind: spacepods.NoticePipelineWaiting, App: "web", Env: "production"}, []string{"slack:#releases"}},
		{"linked owner's pod: a DM", spacepods.Notice{Kind: spacepods.NoticePodReady, Env: "alice-1", Owner: "alice"}, []string{"slack-dm:alice"}},
		{"unlinked owner's pod: nothing", spacepods.Notice{Kind: spacepods.NoticePodReady, Env: "bob-1", Owner: "bob"}, nil},
		{"owner's deploy is no DM by default", spacepods.Notice{Kind: spacepods.NoticeDeployStarted, Env: "alice-1", Owner: "alice"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := route(context.Background(), tc.n); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("targets %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseConfig_SaysWhatIsWrong(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown key", "routs: []", "routs"},
		{"webhook not declared", "routes: [{to: ['webhook:nope']}]", `webhooks: has no "nope"`},
		{"slack not configured", "routes: [{to: ['slack:#x']}]", "no slack: section"},
		{"bad target", "routes: [{to: ['teams:x']}]", "slack:#CHANNEL or webhook:NAME"},
		{"unknown kind", "slack: {}\nroutes: [{kinds: [deploy.finished], to: ['slack:#x']}]", "matches no notice kind"},
		{"no targets", "routes: [{kinds: ['deploy.*']}]", "no targets"},
		{"webhook without secret", "webhooks: {x: {url: 'http://127.0.0.1:1'}}", "secret_env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notify.ParseConfig([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}
