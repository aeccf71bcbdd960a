package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Notification types, re-exported.
type (
	// NoticeDelivery is one notice's delivery to one target.
	NoticeDelivery = spacepods.NoticeDelivery
	// SlackUser maps a Slack user to a Spacepods user and role.
	SlackUser = spacepods.SlackUser
)

// NotificationDeliveries returns the delivery log, newest first: to target
// ("" = all), older than before (0 = newest), at most limit (0 = 50).
func (c *Client) NotificationDeliveries(ctx context.Context, target string, before int64, limit int) ([]NoticeDelivery, error) {
	q := url.Values{}
	if target != "" {
		q.Set("target", target)
	}
	if before > 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []NoticeDelivery
	return out, c.do(ctx, "GET", "/api/v1/notifications/deliveries", q, nil, &out)
}

// SlackUsers lists the Slack user mappings (admins).
func (c *Client) SlackUsers(ctx context.Context) ([]SlackUser, error) {
	var out []SlackUser
	return out, c.do(ctx, "GET", "/api/v1/slack/users", nil, nil, &out)
}

// LinkSlackUser maps a Slack user ID to a Spacepods user and role (admins).
func (c *Client) LinkSlackUser(ctx context.Context, slackUser, username, role string) (SlackUser, error) {
	var out SlackUser
	return out, c.do(ctx, "PUT", "/api/v1/slack/users/"+esc(slackUser), nil, spacepods.LinkSlackUserRequest{Username: username, Role: role}, &out)
}

// UnlinkSlackUser removes a Slack user's mapping (admins).
func (c *Client) UnlinkSlackUser(ctx context.Context, slackUser string) error {
	return c.do(ctx, "DELETE", "/api/v1/slack/users/"+esc(slackUser), nil, nil, nil)
}
