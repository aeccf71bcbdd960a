package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestUI_PodShowsItsSleepAndAWakeButton(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	dev := f.signIn("developer")
	if _, body, _ := dev.get("/pods/p1"); !strings.Contains(body, `action="/pods/p1/sleep"`) || !strings.Contains(body, "Sleep now") {
		t.Fatalf("an awake pod offers no sleep button:\n%s", body)
	}
	if err := f.st.MarkAsleep(ctx, spacepods.AppSleep{Env: "p1", App: "web", Release: 1, Since: time.Now(), Reason: "idle 30m"}); err != nil {
		t.Fatal(err)
	}
	_, body, _ := dev.get("/pods/p1")
	for _, want := range []string{`data-sleep="partly asleep"`, `action="/pods/p1/wake"`, `id="sleep-button">Wake<`, "Asleep: web."} {
		if !strings.Contains(body, want) {
			t.Fatalf("pod page lacks %q:\n%s", want, body)
		}
	}
	if _, list, _ := dev.get("/pods"); !strings.Contains(list, "partly asleep") {
		t.Fatalf("pod list does not show the sleep state:\n%s", list)
	}
	// This fixture has no edge router: the wake says why it cannot be.
	status, body, _ := dev.post("/pods/p1/wake", url.Values{})
	if status != http.StatusBadRequest || !strings.Contains(body, "edge router") {
		t.Fatalf("wake without a router: %d\n%s", status, body)
	}
	// A release deployed since the app fell asleep replaced its containers:
	// the record no longer holds.
	if err := f.st.PutEnvApp(ctx, spacepods.EnvApp{Env: "p1", App: "web", Build: 1, Release: 2, Status: "healthy"}); err != nil {
		t.Fatal(err)
	}
	if _, body, _ := dev.get("/pods/p1"); strings.Contains(body, `data-sleep=`) {
		t.Fatalf("a redeployed app still shows asleep:\n%s", body)
	}
}

// TestUI_NewPodFormCarriesTheIdleTimeoutAndKeepAwake: the new pod form's
// sleep choices go through the plan page to the create, which checks them.
// (This fixture's driver only logs, so no pod is created here; the pods
// tests cover what a create does with them.)
func TestUI_NewPodFormCarriesTheIdleTimeoutAndKeepAwake(t *testing.T) {
	f := newFixture(t, true)
	dev := f.signIn("developer")
	_, body, _ := dev.get("/pods/new?name=p2&app=web&idle=1h&keep_awake=1")
	for _, want := range []string{`<option value="1h" selected>1h without requests</option>`, `name="idle" value="1h"`, `name="keep_awake" value="1"`, `id="keep-awake" value="1" checked`} {
		if !strings.Contains(body, want) {
			t.Fatalf("the plan page lacks %q:\n%s", want, body)
		}
	}
	if _, body, _ := dev.get("/pods/new?name=p2&app=web"); strings.Contains(body, `name="keep_awake" value="1"`) || !strings.Contains(body, `<option value="" selected>the server's idle timeout</option>`) {
		t.Fatalf("a plan without sleep choices keeps the server's:\n%s", body)
	}
	status, body, _ := dev.post("/pods", url.Values{"name": {"p4"}, "app": {"web"}, "idle": {"soon"}})
	if status != http.StatusBadRequest || !strings.Contains(body, `idle timeout &#34;soon&#34; is not a duration`) {
		t.Fatalf("a bad idle timeout: %d\n%s", status, body)
	}
}
