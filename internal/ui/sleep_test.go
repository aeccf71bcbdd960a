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
