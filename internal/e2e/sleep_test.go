package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestE2E_AsleepPodSurvivesAServerKillAndWakesThroughTheRouterProcess runs
// sleep as deployed: the server binary, its edge router as its own process,
// the CLI. A pod put to sleep stays asleep across a SIGKILL of the control
// plane, and 20 concurrent first requests through the router process all
// get storefront's page after one wake.
func TestE2E_AsleepPodSurvivesAServerKillAndWakesThroughTheRouterProcess(t *testing.T) {
	s := newSite(t)
	s.start()
	s.registerExamples()
	pod := s.name("sleepy")
	s.mustCLI("pod", "create", pod, "--app", "storefront", "--idle-timeout", "1h", "--wait")
	if out := s.mustCLI("pod", "sleep", pod); !strings.Contains(out, "pod "+pod+": asleep") {
		t.Fatalf("pod sleep: %s", out)
	}
	if out := s.mustCLI("pod", "list"); !strings.Contains(out, "asleep") {
		t.Fatalf("pod list does not say the pod sleeps:\n%s", out)
	}

	s.kill()
	s.start()
	if out := s.mustCLI("pod", "show", pod); !strings.Contains(out, "sleep: asleep") || !strings.Contains(out, "healthy (asleep)") {
		t.Fatalf("after a server restart the pod should still sleep:\n%s", out)
	}

	c := &http.Client{Timeout: time.Minute}
	const n = 20
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", "http://"+s.router+"/", nil)
			req.Host = "storefront." + pod + ".localhost"
			resp, err := c.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusOK {
			t.Fatalf("request %d through the router process: %d\n%s", i, code, s.logs())
		}
	}
	// The wake is recorded just after the held requests go on.
	woken := 0
	var evs []spacepods.Event
	for deadline := time.Now().Add(10 * time.Second); woken == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var err error
		if evs, err = s.client().PodEvents(context.Background(), pod, 0); err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.App == "storefront" && strings.Contains(e.Message, "woken by a request to storefront."+pod) {
				woken++
			}
		}
	}
	if woken != 1 {
		t.Fatalf("%d wakes of storefront, want 1: %+v", woken, evs)
	}
	if out := s.mustCLI("pod", "show", pod); !strings.Contains(out, "sleep: awake") {
		t.Fatalf("after the wake:\n%s", out)
	}
}
