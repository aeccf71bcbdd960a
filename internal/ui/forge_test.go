package ui_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestUI_DeliveriesPageShowsWhatEachDeliveryTriggered(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	for _, d := range []struct {
		id, event, action, repo, state, result, errText string
	}{
		{"d-1", "pull_request", "opened", "acme/web", spacepods.DeliveryDone, "created pod pr-7-web", ""},
		{"d-2", "push", "", "acme/other", spacepods.DeliveryIgnored, "ignored: no app's manifest has repo: acme/other", ""},
		{"d-3", "pull_request", "synchronize", "acme/web", spacepods.DeliveryFailed, "", "the pod could not be updated <script>"},
	} {
		stored, _, err := f.st.InsertDelivery(ctx, spacepods.ForgeDelivery{DeliveryID: d.id, Event: d.event, Action: d.action, Repo: d.repo, PR: 7, Payload: []byte("{}")})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.st.FinishDelivery(ctx, stored.ID, d.state, d.result, d.errText); err != nil {
			t.Fatal(err)
		}
	}
	dev := f.signIn("developer")
	status, body, _ := dev.get("/forge/deliveries")
	if status != 200 {
		t.Fatalf("GET /forge/deliveries: %d %s", status, body)
	}
	page := string(body)
	for _, want := range []string{"pull_request opened", "acme/web #7", "created pod pr-7-web", "ignored: no app&#39;s manifest has repo: acme/other",
		"the pod could not be updated &lt;script&gt;", `badge s-failed`, `href="/forge/deliveries"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Index(page, "d-3") > strings.Index(page, "d-1") {
		t.Error("deliveries are not newest first")
	}
	viewer := f.signIn("viewer")
	if status, _, _ := viewer.get("/forge/deliveries"); status != 403 {
		t.Fatalf("a viewer got the delivery log (errors may carry internals): %d", status)
	}
	if _, body, _ := viewer.get("/"); strings.Contains(string(body), `href="/forge/deliveries"`) {
		t.Error("a viewer is shown the Deliveries link")
	}
}

func TestUI_NotificationsPageShowsEachDeliveryAndItsErrors(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	_, _, err := f.st.RecordNotice(ctx, spacepods.Notice{Kind: spacepods.NoticeDeployFailed, Key: "deploy:9:failed", Subject: "deploy:9"}, []string{"webhook:ops", "slack:#deploys"})
	if err != nil {
		t.Fatal(err)
	}
	d, _, ok, err := f.st.ClaimNoticeDelivery(ctx)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := f.st.RetryNoticeDelivery(ctx, d.ID, "webhook ops answered 503 <b>", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	dev := f.signIn("developer")
	status, body, _ := dev.get("/notifications")
	if status != 200 {
		t.Fatalf("GET /notifications: %d %s", status, body)
	}
	page := string(body)
	for _, want := range []string{"deploy.failed", "deploy:9:failed", `href="/notifications?target=webhook%3aops"`, "slack:#deploys", "webhook ops answered 503 &lt;b&gt;", "badge s-pending", "next "} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	_, body, _ = dev.get("/notifications?target=slack:%23deploys")
	if strings.Contains(string(body), "503") {
		t.Errorf("the filtered page shows another target's delivery")
	}
	if status, _, _ := f.signIn("viewer").get("/notifications"); status != 403 {
		t.Fatalf("a viewer got the notification log: %d", status)
	}
}
