// Package slackbot is Spacepods' Slack app: a notify.Sender that posts
// notices with Block Kit (one thread per deploy, pod or pipeline run;
// the first message updated in place as the subject ends), and the
// handler of slash commands and interactive buttons.
package slackbot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/spacepods/spacepods/internal/notify"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// ThreadStore remembers each subject's first message per target.
type ThreadStore interface {
	NoticeThread(ctx context.Context, subject, target string) (channel, ts string, ok bool, err error)
	SetNoticeThread(ctx context.Context, subject, target, channel, ts string) error
}

// Sender posts notices to Slack channels ("slack:#deploys") and, as
// "slack-dm:USER", to the Slack user mapped to a Spacepods user.
type Sender struct {
	Client  *slack.Client
	Threads ThreadStore
	// SlackUserOf returns the Slack user ID mapped to a Spacepods user
	// (ENOTFOUND when none is).
	SlackUserOf func(ctx context.Context, username string) (string, error)
	// PublicURL makes the notices' paths ("/deploys/42") absolute links.
	PublicURL string
	// DM marks this sender as the one for "slack-dm" targets.
	DM bool
}

var _ notify.Sender = (*Sender)(nil)

// updatesParent lists the kinds that end their subject: the subject's
// first message is updated to show how it ended (rather than a second
// message at the top of the channel).
var updatesParent = map[string]bool{
	spacepods.NoticeDeployCompleted: true, spacepods.NoticeDeployFailed: true, spacepods.NoticeDeployRolledBack: true,
	spacepods.NoticePipelineApproved: true, spacepods.NoticePipelineRejected: true, spacepods.NoticePipelineStopped: true,
}

// quietInThread lists the kinds whose update in place says everything:
// no thread reply.
var quietInThread = map[string]bool{spacepods.NoticeDeployCompleted: true, spacepods.NoticePipelineApproved: true}

// Send posts n. The subject's first message goes to the channel; later
// ones reply in its thread, and the kinds that end a subject update that
// first message in place too.
func (s *Sender) Send(ctx context.Context, target string, n spacepods.Notice, _ spacepods.NoticeDelivery) (string, error) {
	key := "slack:" + target
	channel := target
	if s.DM {
		key = "slack-dm:" + target
		if s.SlackUserOf == nil {
			return "", notify.Permanent(errors.New("direct messages need the Slack user mapping"))
		}
		uid, err := s.SlackUserOf(ctx, target)
		if err != nil {
			if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
				return "", notify.Permanent(fmt.Errorf("%s has no Slack user linked any more", target))
			}
			return "", err
		}
		ch, _, _, err := s.Client.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{uid}, ReturnIM: true})
		if err != nil {
			return "", classify(err)
		}
		channel = ch.ID
	}
	blocks := s.Blocks(n)
	text := n.Text
	parentChannel, parentTS, ok, err := s.Threads.NoticeThread(ctx, n.Subject, key)
	if err != nil {
		return "", err
	}
	if !ok || n.Subject == "" {
		ch, ts, err := s.Client.PostMessageContext(ctx, channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
		if err != nil {
			return "", classify(err)
		}
		if n.Subject != "" {
			if err := s.Threads.SetNoticeThread(ctx, n.Subject, key, ch, ts); err != nil {
				return "", err
			}
		}
		return "posted " + ts + " in " + ch, nil
	}
	var did []string
	if updatesParent[n.Kind] {
		if _, _, _, err := s.Client.UpdateMessageContext(ctx, parentChannel, parentTS, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)); err != nil {
			return "", classify(err)
		}
		did = append(did, "updated "+parentTS)
	}
	if !quietInThread[n.Kind] {
		_, ts, err := s.Client.PostMessageContext(ctx, parentChannel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...), slack.MsgOptionTS(parentTS))
		if err != nil {
			return "", classify(err)
		}
		did = append(did, "replied "+ts+" in thread "+parentTS)
	}
	return strings.Join(did, ", ") + " in " + parentChannel, nil
}

// permanentErrors are Slack's answers that a retry does not change.
var permanentErrors = map[string]bool{
	"channel_not_found": true, "not_in_channel": true, "is_archived": true, "invalid_auth": true, "not_authed": true,
	"account_inactive": true, "token_revoked": true, "missing_scope": true, "invalid_blocks": true, "msg_too_long": true,
	"user_not_found": true, "cant_update_message": true, "message_not_found": true,
}

// classify marks the Slack errors a retry does not fix as permanent and
// says what to do about them.
func classify(err error) error {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && permanentErrors[se.Err] {
		hint := ""
		switch se.Err {
		case "not_in_channel", "channel_not_found":
			hint = ": invite the Spacepods app to the channel (/invite @Spacepods), or fix the channel in --notify-config"
		case "invalid_auth", "not_authed", "token_revoked", "account_inactive":
			hint = ": check the bot token (SLACK_BOT_TOKEN)"
		case "missing_scope":
			hint = fmt.Sprintf(": add the scope %s to the Slack app and reinstall it", se.Needed)
		}
		return notify.Permanent(fmt.Errorf("slack: %s%s", se.Err, hint))
	}
	return fmt.Errorf("slack: %w", err)
}

// link makes a notice path absolute.
func (s *Sender) link(u string) string {
	if strings.HasPrefix(u, "/") && s.PublicURL != "" {
		return strings.TrimSuffix(s.PublicURL, "/") + u
	}
	return u
}

// headline is the emoji that starts each kind's first line.
var headline = map[string]string{
	spacepods.NoticePodReady: ":large_green_circle:", spacepods.NoticePodFailed: ":red_circle:", spacepods.NoticePodExpiring: ":hourglass:",
	spacepods.NoticeTestsPassed: ":white_check_mark:", spacepods.NoticeTestsFailed: ":x:",
	spacepods.NoticeDeployStarted: ":rocket:", spacepods.NoticeDeployCompleted: ":white_check_mark:", spacepods.NoticeDeployFailed: ":x:",
	spacepods.NoticeDeployRolledBack: ":leftwards_arrow_with_hook:",
	spacepods.NoticePipelineWaiting:  ":raised_hand:", spacepods.NoticePipelineApproved: ":+1:", spacepods.NoticePipelineRejected: ":no_entry:",
	spacepods.NoticePipelineStopped: ":octagonal_sign:", spacepods.NoticeReleaseNotes: ":memo:",
}

// Action IDs of the approval buttons.
const (
	ActionApprove = "spacepods_approve"
	ActionReject  = "spacepods_reject"
)

// Blocks renders a notice as Block Kit: a section with the text, a context
// line (kind, app, environment, build), the reason when there is one, a
// button to the notice's link, and Approve/Reject buttons on a pipeline
// run waiting for approval.
func (s *Sender) Blocks(n spacepods.Notice) []slack.Block {
	text := strings.TrimSpace(headline[n.Kind] + " " + n.Text)
	blocks := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil, slack.SectionBlockOptionBlockID("text"))}
	var ctxEls []slack.MixedElement
	ctxEls = append(ctxEls, slack.NewTextBlockObject(slack.MarkdownType, "`"+n.Kind+"`", false, false))
	if n.App != "" {
		ctxEls = append(ctxEls, slack.NewTextBlockObject(slack.MarkdownType, "app *"+n.App+"*", false, false))
	}
	if n.Env != "" {
		ctxEls = append(ctxEls, slack.NewTextBlockObject(slack.MarkdownType, "env *"+n.Env+"*", false, false))
	}
	if b := n.Fields["build"]; b != "" && b != "0" {
		ctxEls = append(ctxEls, slack.NewTextBlockObject(slack.MarkdownType, "build "+b, false, false))
	}
	blocks = append(blocks, slack.NewContextBlock("context", ctxEls...))
	if r := n.Fields["reason"]; r != "" && n.Kind != spacepods.NoticeTestsPassed {
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*Reason:* "+r, false, false), nil, nil, slack.SectionBlockOptionBlockID("reason")))
	}
	var buttons []slack.BlockElement
	if n.URL != "" {
		label := "Open"
		if strings.HasPrefix(n.Kind, "deploy.") {
			label = "Deploy output"
		}
		buttons = append(buttons, slack.NewButtonBlockElement("spacepods_open", "", slack.NewTextBlockObject(slack.PlainTextType, label, false, false)).WithURL(s.link(n.URL)))
	}
	if n.Kind == spacepods.NoticePipelineWaiting {
		run := n.Fields["run"]
		buttons = append(buttons,
			slack.NewButtonBlockElement(ActionApprove, run, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)).WithStyle(slack.StylePrimary),
			slack.NewButtonBlockElement(ActionReject, run, slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false)).WithStyle(slack.StyleDanger))
	}
	if len(buttons) > 0 {
		blocks = append(blocks, slack.NewActionBlock("actions", buttons...))
	}
	return blocks
}
