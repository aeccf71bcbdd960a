package forge_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestReadHeaders_GitHubAndGitea(t *testing.T) {
	body := []byte(`{"zen":"hi"}`)
	sig := forge.Sign([]byte("s3cret"), body)
	tests := []struct {
		name string
		h    map[string]string
		want forge.DeliveryHeaders
	}{
		{"github", map[string]string{"X-GitHub-Delivery": "d1", "X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=" + sig},
			forge.DeliveryHeaders{ID: "d1", Event: "ping", Signature: sig}},
		{"gitea sends both signatures", map[string]string{"X-Gitea-Delivery": "d2", "X-Gitea-Event": "push", "X-Gitea-Signature": sig, "X-Hub-Signature-256": "sha256=" + sig},
			forge.DeliveryHeaders{ID: "d2", Event: "push", Signature: sig}},
		{"gitea signature only", map[string]string{"X-Gitea-Delivery": "d3", "X-Gitea-Event": "push", "X-Gitea-Signature": sig},
			forge.DeliveryHeaders{ID: "d3", Event: "push", Signature: sig}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.h {
				h.Set(k, v)
			}
			got, err := forge.ReadHeaders(h)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if err := forge.VerifySignature([]byte("s3cret"), body, got.Signature); err != nil {
				t.Fatalf("verify: %v", err)
			}
		})
	}
	if _, err := forge.ReadHeaders(http.Header{"X-Github-Event": {"push"}}); spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Fatalf("no delivery ID: %v, want EINVALID", err)
	}
}

func TestVerifySignature_RefusesMissingWrongAndOtherBody(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"a":1}`)
	good := forge.Sign(secret, body)
	for name, tc := range map[string]struct {
		body []byte
		sig  string
	}{
		"missing":      {body, ""},
		"not hex":      {body, "zz"},
		"other secret": {body, forge.Sign([]byte("other"), body)},
		"other body":   {[]byte(`{"a":2}`), good},
		"truncated":    {body, good[:40]},
	} {
		if err := forge.VerifySignature(secret, tc.body, tc.sig); spacepods.ErrorCode(err) != spacepods.EUNAUTHORIZED {
			t.Errorf("%s: %v, want EUNAUTHORIZED", name, err)
		}
	}
}

// Payloads as GitHub sends them (trimmed to the fields that matter): the
// contract Gitea cannot exercise (GitHub's "labeled" names the label, bot
// users have type Bot).
const (
	ghPROpened = `{"action":"opened","number":7,"label":null,
	 "pull_request":{"number":7,"title":"Faster","body":"Spacepods-With: acme/pricing-api#3","user":{"login":"dependabot[bot]","type":"Bot"},
	  "draft":true,"labels":[{"name":"preview"}],"state":"open","merged":false,"html_url":"https://forge.example/acme/catalog-api/pull/7",
	  "head":{"ref":"fast","sha":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","repo":{"full_name":"mallory/catalog-api"}},
	  "base":{"ref":"main","sha":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","repo":{"full_name":"acme/catalog-api"}}},
	 "repository":{"full_name":"acme/catalog-api"},"sender":{"login":"dependabot[bot]","type":"Bot"}}`
	ghLabeled = `{"action":"labeled","number":8,"label":{"name":"preview"},
	 "pull_request":{"number":8,"title":"t","user":{"login":"alice","type":"User"},"labels":[{"name":"preview"},{"name":"x"}],"state":"open",
	  "head":{"ref":"b","sha":"cccccccccccccccccccccccccccccccccccccccc","repo":{"full_name":"acme/catalog-api"}},
	  "base":{"ref":"main","repo":{"full_name":"acme/catalog-api"}}},
	 "repository":{"full_name":"acme/catalog-api"},"sender":{"login":"alice"}}`
	ghComment = `{"action":"created","issue":{"number":8,"title":"t","user":{"login":"alice"},"state":"open","labels":[],"pull_request":{"url":"u"}},
	 "comment":{"id":99,"body":"/spacepods preview","user":{"login":"bob"}},"repository":{"full_name":"acme/catalog-api"},"sender":{"login":"bob"}}`
	ghPush = `{"ref":"refs/heads/main","before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222",
	 "commits":[{"id":"2222222222222222222222222222222222222222","message":"fix","author":{"name":"Alice","email":"a@example.com","username":"alice"}}],
	 "repository":{"full_name":"acme/catalog-api"},"sender":{"login":"alice"}}`
	giteaSync = `{"action":"synchronized","number":3,
	 "pull_request":{"number":3,"title":"t","user":{"login":"carol"},"labels":null,"state":"open","draft":false,
	  "head":{"ref":"f","sha":"dddddddddddddddddddddddddddddddddddddddd","repo":{"full_name":"acme/catalog-api"}},
	  "base":{"ref":"main","repo":{"full_name":"acme/catalog-api"}}},
	 "repository":{"full_name":"acme/catalog-api"},"sender":{"login":"carol"}}`
	giteaLabelCleared = `{"action":"label_cleared","number":3,
	 "pull_request":{"number":3,"labels":[],"state":"open","head":{"sha":"dddddddddddddddddddddddddddddddddddddddd","repo":{"full_name":"acme/catalog-api"}},"base":{"repo":{"full_name":"acme/catalog-api"}}},
	 "repository":{"full_name":"acme/catalog-api"},"sender":{"login":"carol"}}`
)

func TestParseEvent_NormalizesBothForges(t *testing.T) {
	tests := []struct {
		name, event, body string
		check             func(t *testing.T, ev forge.Event)
	}{
		{"contract: github opened by a bot from a fork, draft", "pull_request", ghPROpened, func(t *testing.T, ev forge.Event) {
			pr := ev.PR
			if ev.Action != "opened" || ev.Repo != "acme/catalog-api" || pr.Number != 7 || !pr.IsBot || !pr.Draft || !pr.Fork ||
				pr.HeadRepo != "mallory/catalog-api" || pr.HeadSHA[:4] != "aaaa" || pr.BaseRef != "main" || pr.HeadRef != "fast" ||
				!reflect.DeepEqual(pr.Labels, []string{"preview"}) || pr.Body != "Spacepods-With: acme/pricing-api#3" {
				t.Fatalf("%+v %+v", ev, pr)
			}
		}},
		{"contract: github labeled names the label", "pull_request", ghLabeled, func(t *testing.T, ev forge.Event) {
			if ev.Action != "labeled" || ev.Label != "preview" || ev.PR.Fork || ev.PR.IsBot || len(ev.PR.Labels) != 2 {
				t.Fatalf("%+v %+v", ev, ev.PR)
			}
		}},
		{"contract: github comment on a pull request", "issue_comment", ghComment, func(t *testing.T, ev forge.Event) {
			if ev.Action != "created" || ev.PR == nil || ev.PR.Number != 8 || ev.Comment.ID != 99 || ev.Comment.Author != "bob" || ev.Comment.Body != "/spacepods preview" {
				t.Fatalf("%+v", ev)
			}
		}},
		{"push", "push", ghPush, func(t *testing.T, ev forge.Event) {
			if ev.Ref != "refs/heads/main" || ev.After[:4] != "2222" || len(ev.Commits) != 1 || ev.Commits[0].Author != "alice" || ev.Sender != "alice" {
				t.Fatalf("%+v", ev)
			}
		}},
		{"gitea synchronized is synchronize", "pull_request", giteaSync, func(t *testing.T, ev forge.Event) {
			if ev.Action != "synchronize" || ev.PR.HeadSHA[:4] != "dddd" || ev.PR.Fork || len(ev.PR.Labels) != 0 {
				t.Fatalf("%+v %+v", ev, ev.PR)
			}
		}},
		{"gitea label_cleared is unlabeled", "pull_request", giteaLabelCleared, func(t *testing.T, ev forge.Event) {
			if ev.Action != "unlabeled" {
				t.Fatalf("%+v", ev)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := forge.ParseEvent(forge.DeliveryHeaders{ID: "d", Event: tc.event}, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != forge.EventKind(tc.event) || ev.DeliveryID != "d" {
				t.Fatalf("kind %q id %q", ev.Kind, ev.DeliveryID)
			}
			tc.check(t, ev)
		})
	}
	for name, body := range map[string]string{"not json": "{", "pr without pull_request": `{"action":"opened"}`} {
		if _, err := forge.ParseEvent(forge.DeliveryHeaders{ID: "d", Event: "pull_request"}, []byte(body)); spacepods.ErrorCode(err) != spacepods.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
}
