package httpjson_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// domainCodes reads every error code constant (E...) that
// internal/spacepods declares, so that a code added there without a status
// here fails this test.
func domainCodes(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../spacepods/errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !strings.HasPrefix(n.Name, "E") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				codes[n.Name] = v
			}
		}
	}
	if len(codes) < 10 {
		t.Fatalf("found only %d error codes in spacepods/errors.go: %v", len(codes), codes)
	}
	return codes
}

func TestTable_RoundTripsEveryCode(t *testing.T) {
	seen := map[int]string{}
	for name, code := range domainCodes(t) {
		status := httpjson.StatusOf(code)
		if status == http.StatusInternalServerError && code != spacepods.EINTERNAL {
			t.Errorf("%s (%q) has no status of its own in the table: add it to httpjson's codeStatus", name, code)
			continue
		}
		if other, dup := seen[status]; dup {
			t.Errorf("%s and %s both map to %d: a client could not tell them apart", code, other, status)
		}
		seen[status] = code
		if back := httpjson.CodeOf(status); back != code {
			t.Errorf("CodeOf(StatusOf(%q)) = CodeOf(%d) = %q", code, status, back)
		}
	}
}

func TestTable_UnknownsAreInternal(t *testing.T) {
	if s := httpjson.StatusOf("no_such_code"); s != http.StatusInternalServerError {
		t.Errorf("StatusOf(unknown) = %d, want 500", s)
	}
	if c := httpjson.CodeOf(http.StatusTeapot); c != spacepods.EINTERNAL {
		t.Errorf("CodeOf(418) = %q, want %q", c, spacepods.EINTERNAL)
	}
	for _, s := range []int{http.StatusBadGateway, http.StatusGatewayTimeout} {
		if c := httpjson.CodeOf(s); c != spacepods.EUNAVAILABLE {
			t.Errorf("CodeOf(%d) = %q, want %q (a proxy in front of a server that is down)", s, c, spacepods.EUNAVAILABLE)
		}
	}
}

func TestWriteError_EnvelopeAndStatusFromTheTable(t *testing.T) {
	for _, code := range domainCodes(t) {
		rec := httptest.NewRecorder()
		httpjson.WriteError(rec, spacepods.Errorf(code, "message of %s", code))
		if rec.Code != httpjson.StatusOf(code) {
			t.Errorf("%s: status %d, want %d", code, rec.Code, httpjson.StatusOf(code))
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", code, ct)
		}
		want := `"code": "` + code + `"`
		if !strings.Contains(rec.Body.String(), want) || !strings.Contains(rec.Body.String(), "message of "+code) {
			t.Errorf("%s: body %s", code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	httpjson.WriteError(rec, errors.New("pq: password authentication failed for user admin"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "password") {
		t.Errorf("an internal error leaked or got status %d: %s", rec.Code, rec.Body)
	}
}

func TestClient_DecodesEnvelopeAndBareStatus(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/envelope":
			httpjson.WriteError(w, spacepods.Errorf(spacepods.ECONFLICT, "pod p exists: pick another name"))
		case "/bare":
			http.Error(w, "upstream down", http.StatusBadGateway)
		case "/ok":
			if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" {
				http.Error(w, "headers", http.StatusBadRequest)
				return
			}
			httpjson.Write(w, http.StatusOK, map[string]string{"q": r.URL.Query().Get("q")})
		}
	}))
	defer ts.Close()
	c := &httpjson.Client{BaseURL: ts.URL, Token: "tok", Name: "the test server"}
	ctx := context.Background()

	err := c.Do(ctx, "GET", "/envelope", nil, nil, nil)
	var se *spacepods.Error
	if !errors.As(err, &se) || se.Code != spacepods.ECONFLICT || se.Message != "pod p exists: pick another name" {
		t.Errorf("envelope: %#v", err)
	}
	err = c.Do(ctx, "GET", "/bare", nil, nil, nil)
	if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE || !strings.Contains(spacepods.ErrorMessage(err), "the test server answered 502") || !strings.Contains(spacepods.ErrorMessage(err), "upstream down") {
		t.Errorf("bare 502: %v", err)
	}
	var out map[string]string
	if err := c.Do(ctx, "POST", "/ok", map[string][]string{"q": {"x y"}}, struct{}{}, &out); err != nil || out["q"] != "x y" {
		t.Errorf("ok: %v %v", out, err)
	}
}

func TestClient_UnreachableAndCancelled(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close() // nothing listens there now
	c := &httpjson.Client{BaseURL: url, Unreachable: func(err error) error {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "start it: %v", err)
	}}
	err := c.Do(context.Background(), "GET", "/x", nil, nil, nil)
	if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE || !strings.HasPrefix(spacepods.ErrorMessage(err), "start it: ") {
		t.Errorf("unreachable: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Do(ctx, "GET", "/x", nil, nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}

	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer slow.Close()
	defer close(hang)
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = (&httpjson.Client{BaseURL: slow.URL, Name: "the slow server"}).Do(ctx, "GET", "/healthz", nil, nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE || !strings.Contains(spacepods.ErrorMessage(err), "the slow server at "+slow.URL+" did not answer GET /healthz in time") {
		t.Errorf("deadline: %v (code %s), want EUNAVAILABLE wrapping context.DeadlineExceeded", err, spacepods.ErrorCode(err))
	}
}
