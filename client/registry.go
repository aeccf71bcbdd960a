package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// RegistryEvent is one tag push a registry notified: the build it recorded,
// or why none.
type RegistryEvent = spacepods.RegistryEvent

// RegistryEvents lists the tag pushes registries notified, newest first;
// status "" = all, else "recorded" or "rejected".
func (c *Client) RegistryEvents(ctx context.Context, status string, limit int) ([]RegistryEvent, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []RegistryEvent
	return out, c.do(ctx, "GET", "/api/v1/registry/events", q, nil, &out)
}
