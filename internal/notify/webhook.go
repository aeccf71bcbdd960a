package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// WebhookSchema names the version of the outgoing webhook body. A change
// that removes or renames a field gets a new version; new fields may be
// added to a version.
const WebhookSchema = "spacepods.notice/v1"

// Outgoing webhook headers.
const (
	HeaderTimestamp  = "X-Spacepods-Timestamp" // Unix seconds when this attempt was signed
	HeaderSignature  = "X-Spacepods-Signature" // "v1=" + hex HMAC-SHA256(secret, timestamp + "." + body)
	HeaderEvent      = "X-Spacepods-Event"     // the notice kind
	HeaderDelivery   = "X-Spacepods-Delivery"  // the delivery's ID: the same across its attempts
	HeaderIdempotent = "Idempotency-Key"       // the notice's key: the same for every target and attempt
	signaturePrefix  = "v1="
	webhookUserAgent = "Spacepods-Webhook/1"
)

// WebhookBody is the JSON body of an outgoing webhook (schema v1).
type WebhookBody struct {
	Schema     string            `json:"schema"`
	Key        string            `json:"idempotency_key"`
	NoticeID   int64             `json:"notice_id"`
	DeliveryID int64             `json:"delivery_id"`
	Attempt    int               `json:"attempt"`
	Kind       string            `json:"kind"`
	Subject    string            `json:"subject"`
	Text       string            `json:"text"`
	App        string            `json:"app,omitempty"`
	Env        string            `json:"env,omitempty"`
	Owner      string            `json:"owner,omitempty"`
	URL        string            `json:"url,omitempty"`
	Fields     map[string]string `json:"fields,omitempty"`
	OccurredAt time.Time         `json:"occurred_at"`
}

// Webhook is one generic outgoing webhook target.
type Webhook struct {
	URL    string
	Secret []byte
}

// WebhookSender posts notices to the webhooks named in the config
// ("webhook:NAME" targets).
type WebhookSender struct {
	Hooks map[string]Webhook
	// Client defaults to one without redirects (a signed body is not
	// resent elsewhere); the worker's timeout bounds each attempt.
	Client *http.Client
	// PublicURL makes the notices' paths absolute.
	PublicURL string
	Now       func() time.Time
}

var _ Sender = (*WebhookSender)(nil)

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Sign returns the signature header value for body sent at ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return signaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks an outgoing webhook's signature and that it was
// signed within maxAge of now: what a receiver written in Go does (the
// docs show the same in a few lines of other languages). EUNAUTHORIZED
// when it does not hold.
func VerifyWebhook(secret []byte, h http.Header, body []byte, now time.Time, maxAge time.Duration) error {
	ts, sig := h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return spacepods.Errorf(spacepods.EUNAUTHORIZED, "missing or bad %s", HeaderTimestamp)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > maxAge || age < -maxAge {
		return spacepods.Errorf(spacepods.EUNAUTHORIZED, "stale webhook: signed %s ago", age.Round(time.Second))
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(secret, ts, body))) {
		return spacepods.Errorf(spacepods.EUNAUTHORIZED, "bad %s", HeaderSignature)
	}
	return nil
}

// Send posts one attempt. 2xx is delivered; 408, 429 and 5xx and network
// errors are retried; other answers are permanent (the receiver refused
// this body and would refuse it again).
func (w *WebhookSender) Send(ctx context.Context, target string, n spacepods.Notice, d spacepods.NoticeDelivery) (string, error) {
	hook, ok := w.Hooks[target]
	if !ok {
		return "", Permanent(fmt.Errorf("webhook %q is not in --notify-config any more", target))
	}
	u := n.URL
	if strings.HasPrefix(u, "/") && w.PublicURL != "" {
		u = strings.TrimSuffix(w.PublicURL, "/") + u
	}
	body, err := json.Marshal(WebhookBody{
		Schema: WebhookSchema, Key: n.Key, NoticeID: n.ID, DeliveryID: d.ID, Attempt: d.Attempts,
		Kind: n.Kind, Subject: n.Subject, Text: n.Text, App: n.App, Env: n.Env, Owner: n.Owner, URL: u, Fields: n.Fields, OccurredAt: n.At.UTC(),
	})
	if err != nil {
		return "", Permanent(err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return "", Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", webhookUserAgent)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(hook.Secret, ts, body))
	req.Header.Set(HeaderEvent, n.Kind)
	req.Header.Set(HeaderDelivery, strconv.FormatInt(d.ID, 10))
	req.Header.Set(HeaderIdempotent, n.Key)
	client := w.Client
	if client == nil {
		client = noRedirects
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("post to webhook %s: %w", target, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	result := fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(snippet)))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return result, nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return result, fmt.Errorf("webhook %s answered %s", target, result)
	default:
		return result, Permanent(fmt.Errorf("webhook %s refused the delivery: %s", target, result))
	}
}
