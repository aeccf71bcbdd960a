package ui_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestUI_RegistryPageListsPushesLive: the registry page shows each push's
// outcome, a rejected one with its reason, and its stream tells an open
// page when a push arrives.
func TestUI_RegistryPageListsPushesLive(t *testing.T) {
	f := newFixture(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	digest := "sha256:" + strings.Repeat("d", 64)
	if _, _, err := f.st.TakeRegistryEvent(ctx, spacepods.RegistryEvent{ID: "e1", Repository: "acme/nothing", Tag: "1", Digest: digest,
		Status: spacepods.RegistryEventRejected, Reason: "no app's images are pushed to repository acme/nothing"}, nil); err != nil {
		t.Fatal(err)
	}
	v := f.signIn("viewer")
	status, body, _ := v.get("/registry")
	if status != 200 || !strings.Contains(body, "acme/nothing:1") || !strings.Contains(body, "no app&#39;s images are pushed to repository acme/nothing") || !strings.Contains(body, `data-live="/ui/events/registry"`) {
		t.Fatalf("GET /registry: %d\n%s", status, body)
	}

	req, _ := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/ui/events/registry", nil)
	req.AddCookie(f.sessionCookie("viewer"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan [2]string, 16)
	go readSSE(resp.Body, events)
	state := func() string {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatal("stream ended")
				}
				if ev[0] == "state" {
					var st struct{ Hash string }
					_ = json.Unmarshal([]byte(ev[1]), &st)
					return st.Hash
				}
			case <-ctx.Done():
				t.Fatal("no state event")
			}
		}
	}
	first := state()
	b := spacepods.Build{App: "web", Number: 40, GitSHA: "abcdef1234", Branch: "main", Image: "127.0.0.1:5000/acme/web:40", Digest: digest}
	if _, _, err := f.st.TakeRegistryEvent(ctx, spacepods.RegistryEvent{ID: "e2", Repository: "acme/web", Tag: "40", Digest: digest,
		Status: spacepods.RegistryEventRecorded, App: "web", Build: 40}, &b); err != nil {
		t.Fatal(err)
	}
	if second := state(); second == first {
		t.Fatal("the stream's state did not change with a new push")
	}
	if _, body, _ := v.get("/registry?status=recorded"); !strings.Contains(body, "acme/web:40") || strings.Contains(body, "acme/nothing") {
		t.Fatalf("recorded filter:\n%s", body)
	}
}
