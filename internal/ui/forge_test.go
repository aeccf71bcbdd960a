package ui_test

import (
	"context"
	"strings"
	"testing"

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
