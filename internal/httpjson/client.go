package httpjson

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Client sends JSON requests to one server and decodes its answers.
type Client struct {
	BaseURL string       // scheme, host and port, no trailing slash
	Token   string       // sent as "Authorization: Bearer" when not empty
	HTTP    *http.Client // nil: http.DefaultClient
	// Name is what error messages call the server ("the edge router").
	Name string
	// Unreachable turns a transport error (no connection, a timeout of
	// HTTP) into what the caller shows, saying how to start the server;
	// nil: EUNAVAILABLE naming the server.
	Unreachable func(err error) error
}

// Do sends in (if not nil) as JSON and decodes a 2xx answer into out (if
// not nil). Any other answer comes back as a *spacepods.Error: the server's
// envelope, or the code of its status (CodeOf) when it sent none.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.Send(ctx, method, path, query, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body) // so that the connection is reused
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Send is Do without the decoding: it returns a 2xx answer for the caller
// to read and close (a stream), else the error as Do does.
func (c *Client) Send(ctx context.Context, method, path string, query url.Values, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode the request %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	u := c.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "%s at %q: %v", c.name(), c.BaseURL, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			// Both a *spacepods.Error for users and the context's error
			// for callers that test for it.
			return nil, fmt.Errorf("%w: %w", spacepods.Errorf(spacepods.EUNAVAILABLE, "%s at %s did not answer %s %s in time", c.name(), c.BaseURL, method, path), ctx.Err())
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		if c.Unreachable != nil {
			return nil, c.Unreachable(unwrapURLError(err))
		}
		return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "%s at %s cannot be reached: %v", c.name(), c.BaseURL, unwrapURLError(err))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, c.errorOf(resp, method, path)
}

// errorOf reads the error answer resp to method path.
func (c *Client) errorOf(resp *http.Response, method, path string) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb ErrorBody
	if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
		return &spacepods.Error{Code: eb.Error.Code, Message: eb.Error.Message}
	}
	said := strings.TrimSpace(string(raw))
	if len(said) > 300 {
		said = said[:300] + "…"
	}
	if said != "" {
		said = ": " + said
	}
	return spacepods.Errorf(CodeOf(resp.StatusCode), "%s answered %s to %s %s%s", c.name(), resp.Status, method, path, said)
}

func (c *Client) name() string {
	if c.Name == "" {
		return "the server"
	}
	return c.Name
}

// unwrapURLError drops net/http's "Get URL:" wrapper, which repeats what
// the message says already.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
