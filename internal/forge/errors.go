package forge

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// APIError turns a forge API answer that is not a success into a coded
// error that says what to do, the same for every forge: what is the call
// ("get acme/app#3"), status its HTTP status, msg the forge's own message.
func APIError(kind, what string, status int, msg string) error {
	msg = strings.TrimSpace(msg)
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	switch {
	case status == http.StatusNotFound:
		return spacepods.Errorf(spacepods.ENOTFOUND, "%s %s: not found (%s): check the name, and that the forge token can see it", kind, what, msg)
	case status == http.StatusUnauthorized:
		return spacepods.Errorf(spacepods.EUNAUTHORIZED, "%s %s: the forge refused the token (%s): check --forge-token-file", kind, what, msg)
	case status == http.StatusForbidden:
		return spacepods.Errorf(spacepods.EFORBIDDEN, "%s %s: the forge token may not do this (%s): give it the scopes docs/forges.md lists", kind, what, msg)
	case status == http.StatusUnprocessableEntity || status == http.StatusBadRequest:
		return spacepods.Errorf(spacepods.EINVALID, "%s %s: the forge refused the request (%s)", kind, what, msg)
	case status >= 500 || status == http.StatusTooManyRequests:
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "%s %s: the forge answered %d (%s): try again later", kind, what, status, msg)
	}
	return fmt.Errorf("%s %s: unexpected HTTP %d: %s", kind, what, status, msg)
}

// SplitRepo splits "owner/name". EINVALID otherwise.
func SplitRepo(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", spacepods.Errorf(spacepods.EINVALID, "repository %q is not owner/name", repo)
	}
	return owner, name, nil
}

// CloneURLWithToken puts an access token into an HTTPS clone URL, the way
// both forges take one over git's basic auth (user "x-access-token"). The
// result is a secret: never log it.
func CloneURLWithToken(cloneURL, token string) (string, error) {
	u, err := url.Parse(cloneURL)
	if err != nil {
		return "", fmt.Errorf("clone URL %q: %w", cloneURL, err)
	}
	if token != "" {
		u.User = url.UserPassword("x-access-token", token)
	}
	return u.String(), nil
}

// WithMarker makes sure a comment body carries marker, first.
func WithMarker(marker, body string) string {
	if strings.Contains(body, marker) {
		return body
	}
	return marker + "\n" + body
}
