package previews

import (
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestDecide(t *testing.T) {
	all := &spacepods.Previews{When: spacepods.PreviewAll}
	optIn := &spacepods.Previews{When: spacepods.PreviewLabel, Label: "deploy-me"}
	optOut := &spacepods.Previews{When: spacepods.PreviewUnlessLabel, Label: "skip-pod"}
	never := &spacepods.Previews{When: spacepods.PreviewNever}
	pr := func(mod func(*forge.PullRequest)) forge.PullRequest {
		p := forge.PullRequest{Repo: "acme/catalog-api", Number: 12, Author: "alice", HeadSHA: "abc1234"}
		if mod != nil {
			mod(&p)
		}
		return p
	}
	labels := func(l ...string) func(*forge.PullRequest) { return func(p *forge.PullRequest) { p.Labels = l } }
	cases := []struct {
		name   string
		policy *spacepods.Previews
		pr     forge.PullRequest
		want   bool
		reason string
	}{
		{"no policy: every PR", nil, pr(nil), true, ""},
		{"all: every PR", all, pr(nil), true, ""},
		{"all: default opt-out label", all, pr(labels("No-Preview")), false, "opt-out"},
		{"bot author flag", all, pr(func(p *forge.PullRequest) { p.IsBot = true; p.Author = "renovate" }), false, "bot"},
		{"bot author by name", nil, pr(func(p *forge.PullRequest) { p.Author = "dependabot[bot]" }), false, "bot"},
		{"bot even when labelled", optIn, pr(func(p *forge.PullRequest) { p.IsBot = true; p.Labels = []string{"deploy-me"} }), false, "bot"},
		{"draft skipped", all, pr(func(p *forge.PullRequest) { p.Draft = true }), false, "draft"},
		{"draft labelled preview", all, pr(func(p *forge.PullRequest) { p.Draft = true; p.Labels = []string{"preview"} }), true, ""},
		{"opt-in: unlabelled", optIn, pr(nil), false, "opt-in"},
		{"opt-in: default label is not the app's", optIn, pr(labels("preview")), false, "opt-in"},
		{"opt-in: labelled", optIn, pr(labels("deploy-me")), true, ""},
		{"opt-in: labelled draft", optIn, pr(func(p *forge.PullRequest) { p.Draft = true; p.Labels = []string{"deploy-me"} }), true, ""},
		{"opt-out: unlabelled", optOut, pr(nil), true, ""},
		{"opt-out: labelled", optOut, pr(labels("bug", "skip-pod")), false, "opt-out"},
		{"opt-out: default label not used when the app names one", optOut, pr(labels("no-preview")), true, ""},
		{"never", never, pr(labels("preview")), false, "never"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.policy, c.pr)
			if d.Pod != c.want || (c.reason != "" && !strings.Contains(d.Reason, c.reason)) {
				t.Fatalf("Decide = %+v, want pod=%v with a reason mentioning %q", d, c.want, c.reason)
			}
		})
	}
}

func TestParseCommand(t *testing.T) {
	cases := []struct {
		body    string
		want    Command
		problem bool
	}{
		{"/spacepods preview", CmdPreview, false},
		{"looks good\n\n  /spacepods   DESTROY  \nthanks", CmdDestroy, false},
		{"> /spacepods destroy\nquoted", CmdNone, false},
		{"please run /spacepods preview", CmdNone, false},
		{"/spacepods deploy", CmdNone, true},
		{"nothing here", CmdNone, false},
	}
	for _, c := range cases {
		got, problem := ParseCommand(c.body)
		if got != c.want || (problem != "") != c.problem {
			t.Errorf("ParseCommand(%q) = %q, %q; want %q (problem %v)", c.body, got, problem, c.want, c.problem)
		}
	}
}

func TestParsePins(t *testing.T) {
	body := "Fixes the price.\n\nSpacepods-With: pricing-api#7, acme/storefront#3\nspacepods-with: catalog-api#x\n"
	pins, bad := ParsePins(body)
	if len(pins) != 2 || pins[0] != (Pin{"pricing-api", 7}) || pins[1] != (Pin{"acme/storefront", 3}) {
		t.Fatalf("pins %+v", pins)
	}
	if len(bad) != 1 || !strings.Contains(bad[0], "catalog-api#x") {
		t.Fatalf("problems %v", bad)
	}
	if pins, bad := ParsePins("no pins: Spacepods-With in prose"); len(pins) != 0 || len(bad) != 0 {
		t.Fatalf("prose: %v %v", pins, bad)
	}
}

func TestPodName(t *testing.T) {
	if got := PodName("", 12, "catalog-api"); got != "pr-12-catalog-api" {
		t.Fatalf("got %s", got)
	}
	long := strings.Repeat("a", 38)
	a, b := PodName("", 123456, long), PodName("", 123456, long+"b")
	for _, n := range []string{a, b} {
		if err := spacepods.ValidateEnvName(n); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	if a == b {
		t.Fatalf("two long names collide: %s", a)
	}
}
