package ui_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
)

var nextRE = regexp.MustCompile(`name="next" value="([^"]*)"`)

// TestUI_SignInRedirectsOnlyToPathsOfThisSite: /login?next= takes a path of
// this server; anything a browser could read as another host goes to /.
func TestUI_SignInRedirectsOnlyToPathsOfThisSite(t *testing.T) {
	f := newFixture(t, true)
	evil := []string{ // raw query values, as a link would carry them
		"/%09/evil.example",       // a tab: browsers drop it, leaving //evil.example
		"/%2509/evil.example",     // the same, encoded once more
		"//evil.example",          // a host
		"/%2F/evil.example",       // the same, encoded
		"/%5Cevil.example",        // a backslash, read as a slash
		"/%5C%5Cevil.example",     // two
		"%5C%5Cevil.example",      // not a path
		"https://evil.example",    // a scheme
		"https:evil.example",      // a scheme, no slashes
		"javascript:alert(1)",     // a script
		"/%0d%0aLocation:%20http", // header splitting
		"/%0aevil",                // a newline
		"/%20evil",                // a space
		"evil.example/x",          // relative
	}
	viewer := f.signIn("viewer")
	for _, raw := range evil {
		t.Run(raw, func(t *testing.T) {
			b := f.browser()
			status, page, _ := b.get("/login?next=" + raw)
			m := nextRE.FindStringSubmatch(page)
			if status != 200 || m == nil || m[1] != "/" {
				t.Fatalf("the sign-in form carries next=%q (status %d), want /", m, status)
			}
			next, err := url.QueryUnescape(raw)
			if err != nil {
				t.Fatal(err)
			}
			resp := b.postRaw("/login", url.Values{"token": {f.tokens["viewer"]}, "csrf": {csrfOf(t, page)}, "next": {next}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
				t.Fatalf("sign-in with next=%q: %d → %q, want 303 → /", next, resp.StatusCode, resp.Header.Get("Location"))
			}
			// Signed in already, /login?next= redirects at once: also only to /.
			if status, _, h := viewer.get("/login?next=" + raw); status != http.StatusSeeOther || h.Get("Location") != "/" {
				t.Fatalf("signed-in /login?next=%s: %d → %q", raw, status, h.Get("Location"))
			}
		})
	}
	// A path of this site is kept, query and all.
	if status, _, h := viewer.get("/login?next=" + url.QueryEscape("/pods/p1?x=1")); status != http.StatusSeeOther || h.Get("Location") != "/pods/p1?x=1" {
		t.Fatalf("next=/pods/p1?x=1: %d → %q", status, h.Get("Location"))
	}
}

// signInCookie signs in through the form of the server at base and
// returns the session cookie it set.
func signInCookie(t *testing.T, c *http.Client, base, token string, header http.Header) *http.Cookie {
	t.Helper()
	if header == nil {
		header = http.Header{}
	}
	jar, _ := cookiejar.New(nil)
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get, _ := http.NewRequest("GET", base+"/login", nil)
	get.Header = header.Clone()
	resp, err := c.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(resp)
	resp.Body.Close()
	post, _ := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"token": {token}, "csrf": {csrfOf(t, page)}}.Encode()))
	post.Header = header.Clone()
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// The jar keeps a Secure cookie from an http:// URL to itself: add it by hand.
	for _, ck := range resp.Cookies() {
		post.AddCookie(ck)
	}
	resp, err = c.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == auth.SessionCookie {
			return ck
		}
	}
	t.Fatalf("sign-in set no session cookie: %d", resp.StatusCode)
	return nil
}

// TestUI_SessionCookieIsSecureOverHTTPSOnly: Secure when the browser came
// over TLS, or through a trusted proxy that says https; an untrusted
// client's X-Forwarded-Proto changes nothing.
func TestUI_SessionCookieIsSecureOverHTTPSOnly(t *testing.T) {
	f := newFixture(t, false)
	proto := http.Header{"X-Forwarded-Proto": {"https"}}

	tlsServer := httptest.NewTLSServer(f.ui)
	t.Cleanup(tlsServer.Close)
	c := tlsServer.Client() // trusts the test server's certificate
	if ck := signInCookie(t, c, tlsServer.URL, f.tokens["viewer"], nil); !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Fatalf("over TLS: Secure=%v HttpOnly=%v SameSite=%v", ck.Secure, ck.HttpOnly, ck.SameSite)
	}
	if ck := signInCookie(t, &http.Client{}, f.ts.URL, f.tokens["viewer"], proto); ck.Secure {
		t.Fatal("X-Forwarded-Proto from a client that is no trusted proxy made the cookie Secure")
	}
	f.auth.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	if ck := signInCookie(t, &http.Client{}, f.ts.URL, f.tokens["viewer"], proto); !ck.Secure {
		t.Fatal("X-Forwarded-Proto: https from the trusted proxy did not make the cookie Secure")
	}
	if ck := signInCookie(t, &http.Client{}, f.ts.URL, f.tokens["viewer"], nil); ck.Secure {
		t.Fatal("the trusted proxy without X-Forwarded-Proto: https made the cookie Secure")
	}
	f.auth.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	if ck := signInCookie(t, &http.Client{}, f.ts.URL, f.tokens["viewer"], proto); ck.Secure {
		t.Fatal("a proxy outside --trusted-proxy made the cookie Secure")
	}
}

// sseClient reads a live stream's events.
type sseClient struct {
	resp   *http.Response
	events chan [2]string
}

// openStream opens a live stream with a session cookie; it returns the
// response (not 200: the body is read) and the events.
func openStream(t *testing.T, ctx context.Context, base, path string, cookie *http.Cookie) (*sseClient, int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		body := readAll(resp)
		resp.Body.Close()
		return nil, resp.StatusCode, body
	}
	c := &sseClient{resp: resp, events: make(chan [2]string, 64)}
	go readSSE(resp.Body, c.events)
	t.Cleanup(func() { resp.Body.Close() })
	return c, 200, ""
}

// readSSE sends each event of a Server-Sent Events stream as {name, data}
// and closes events when the stream ends.
func readSSE(body io.Reader, events chan<- [2]string) {
	sc := bufio.NewScanner(body)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			events <- [2]string{name, strings.TrimPrefix(line, "data: ")}
		}
	}
	close(events)
}

// next waits up to d for an event named want and returns its data.
func (c *sseClient) next(t *testing.T, want string, d time.Duration) string {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("stream ended while waiting for %q", want)
			}
			if ev[0] == want {
				return ev[1]
			}
		case <-timeout:
			t.Fatalf("no %q event within %v", want, d)
		}
	}
}

// lastEvent is the ID of env's newest event, for ?after=.
func (f *fixture) lastEvent(env string) string {
	f.t.Helper()
	evs, err := f.st.Events(context.Background(), env, 0, 0, 5000)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(evs) == 0 {
		return "0"
	}
	return strconv.FormatInt(evs[len(evs)-1].ID, 10)
}

// TestUI_LiveStreamsAreCappedPerUserAndInTotal: over a cap, 429 with what
// to do; a closed stream frees its slot.
func TestUI_LiveStreamsAreCappedPerUserAndInTotal(t *testing.T) {
	f := newFixture(t, true)
	f.streams.PerUser, f.streams.Total = 2, 3
	viewer, dev := f.sessionCookie("viewer"), f.sessionCookie("developer")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, cancelFirst := context.WithCancel(ctx)
	s, _, _ := openStream(t, first, f.ts.URL, "/ui/events/env/p1", viewer)
	s.next(t, "state", 5*time.Second)
	if s, _, _ = openStream(t, ctx, f.ts.URL, "/ui/events/deploys/"+strconv.FormatInt(f.deploys["qa/web/2"], 10), viewer); s == nil {
		t.Fatal("second stream refused")
	}
	if _, status, body := openStream(t, ctx, f.ts.URL, "/ui/events/env/qa", viewer); status != http.StatusTooManyRequests || !strings.Contains(body, "close some Spacepods tabs") {
		t.Fatalf("third stream of one user: %d %s", status, body)
	}
	if s, _, _ := openStream(t, ctx, f.ts.URL, "/ui/events/env/qa", dev); s == nil {
		t.Fatal("another user's stream under the total refused")
	}
	if _, status, body := openStream(t, ctx, f.ts.URL, "/ui/events/env/p1", dev); status != http.StatusTooManyRequests || !strings.Contains(body, "--max-streams") {
		t.Fatalf("a stream over the total: %d %s", status, body)
	}
	cancelFirst()
	deadline := time.Now().Add(5 * time.Second)
	for f.streams.Open() >= 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s, status, body := openStream(t, ctx, f.ts.URL, "/ui/events/env/qa", viewer); s == nil {
		t.Fatalf("after one stream closed: %d %s", status, body)
	}
}

// TestUI_IdleLiveStreamsDoNotQueryTheStore: viewers of a live page cost no
// store reads while nothing changes, and get a change promptly (the
// fixture's fallback poll is a minute: only the change notification can
// bring it).
func TestUI_IdleLiveStreamsDoNotQueryTheStore(t *testing.T) {
	f := newFixture(t, true)
	f.streams.PerUser = 100
	const viewers = 20
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cookie := f.sessionCookie("viewer")
	streams := make([]*sseClient, viewers)
	for i := range streams {
		path := "/ui/events/env/p1?after=" + f.lastEvent("p1")
		if i%2 == 1 {
			path = "/ui/events/env/qa?after=" + f.lastEvent("qa")
		}
		s, status, body := openStream(t, ctx, f.ts.URL, path, cookie)
		if s == nil {
			t.Fatalf("stream %d: %d %s", i, status, body)
		}
		s.next(t, "state", 5*time.Second)
		streams[i] = s
	}
	time.Sleep(300 * time.Millisecond) // each stream's first look is over
	before := f.queries.Load()
	time.Sleep(1500 * time.Millisecond) // five of the old 300 ms polls
	if n := f.queries.Load() - before; n != 0 {
		t.Fatalf("%d idle viewers made %d store queries in 1.5s, want 0", viewers, n)
	}

	start := time.Now()
	if _, err := f.st.AddEvent(ctx, spacepods.Event{Env: "p1", App: "web", Message: "a change"}); err != nil {
		t.Fatal(err)
	}
	for i, s := range streams {
		if i%2 == 1 {
			continue
		}
		var ev spacepods.Event
		json.Unmarshal([]byte(s.next(t, "line", 5*time.Second)), &ev)
		if ev.Message != "a change" {
			t.Errorf("line: %+v", ev)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("viewers of p1 got the change after %v", d)
	}
	// Viewers of qa were not woken by p1's change: only p1's read the store.
	// One look reads the lines and the state: 5 queries since the pod's
	// sleep state is part of it. Two looks would be 10.
	perRead := float64(f.queries.Load()-before) / (viewers / 2)
	if perRead > 7.5 {
		t.Fatalf("%.1f queries per p1 viewer for one change: more than one look (lines and state) by the viewers of p1 alone", perRead)
	}
	t.Logf("one change: %.1f queries per viewer of that environment, none for the others", perRead)
}

// TestUI_LiveStreamsOutliveTheServersTimeouts: the http.Server's read and
// write timeouts cut slow requests, not live pages.
func TestUI_LiveStreamsOutliveTheServersTimeouts(t *testing.T) {
	f := newFixture(t, true)
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = server.HTTPServer(f.ui, server.Timeouts{ReadHeader: 200 * time.Millisecond, Read: 200 * time.Millisecond, Write: 200 * time.Millisecond, Idle: time.Second})
	ts.Start()
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, status, body := openStream(t, ctx, ts.URL, "/ui/events/env/p1?after="+f.lastEvent("p1"), f.sessionCookie("viewer"))
	if s == nil {
		t.Fatalf("%d %s", status, body)
	}
	s.next(t, "state", 5*time.Second)
	time.Sleep(time.Second) // five times the timeouts
	f.st.AddEvent(ctx, spacepods.Event{Env: "p1", Message: "still here"})
	var ev spacepods.Event
	json.Unmarshal([]byte(s.next(t, "line", 5*time.Second)), &ev)
	if ev.Message != "still here" {
		t.Fatalf("line: %+v", ev)
	}
}

// TestUI_NewPodOverTheQuotaSaysHowToFreeOne: the pod form shows the
// quota's refusal with the user's pods and what to do.
func TestUI_NewPodOverTheQuotaSaysHowToFreeOne(t *testing.T) {
	f := newFixture(t, true)
	f.pods.PodQuota = 1 // t-developer owns p1
	status, body, _ := f.signIn("developer").post("/pods", url.Values{"name": {"p2"}, "app": {"web"}})
	if status != http.StatusForbidden {
		t.Fatalf("second pod over a quota of 1: %d\n%s", status, body)
	}
	for _, want := range []string{"p1 (ready)", "--pod-quota 1", "spacepods pod destroy NAME", "ask an admin", `id="create-form"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the new pod page lacks %q", want)
		}
	}
	if _, err := f.st.GetEnvironment(context.Background(), "p2"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Fatalf("the refused pod exists: %v", err)
	}
}
