package previews

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/gatekeeper"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// writeComment creates or edits the pull request's one comment from what
// is recorded of its pods. Writes of one PR are serialized, so two apps'
// jobs never race into two comments.
func (h *Handler) writeComment(ctx context.Context, repo string, number int) {
	ctx = context.WithoutCancel(ctx)
	l := h.prLock(repo, number)
	l.Lock()
	defer l.Unlock()
	recs, err := h.Store.PRPods(ctx, repo, number)
	if err != nil || len(recs) == 0 {
		return
	}
	body := h.RenderComment(ctx, recs)
	id, err := h.Forge.UpsertComment(ctx, repo, number, Marker, body)
	if err != nil {
		h.Logger.Warn("write the pull request comment", "repo", repo, "pr", number, "err", err)
		return
	}
	for _, r := range recs {
		if r.CommentID != id {
			r.CommentID = id
			if err := h.Store.PutPRPod(ctx, r); err != nil {
				h.Logger.Warn("record the comment ID", "pod", r.Env, "err", err)
			}
		}
	}
}

// RenderComment is the comment's Markdown for a pull request's pod
// records: per pod, its state, app URLs, builds, test results with log
// links, expiry; then the fork note and the commands.
func (h *Handler) RenderComment(ctx context.Context, recs []spacepods.PRPod) string {
	var b strings.Builder
	b.WriteString(Marker + "\n")
	b.WriteString("### Spacepods CI pod\n\n")
	fork := false
	for _, r := range recs {
		fork = fork || r.Fork
		h.renderPod(ctx, &b, r)
	}
	if fork {
		b.WriteString("> **Fork pull request:** its pod gets no secrets and no environment-scoped config (only the standard variables, the manifest's defaults and plain `all`/`pods` config). Tests still run.\n\n")
	}
	b.WriteString("<sub>Commands (repository collaborators, in a comment of their own): `/spacepods preview` makes or refreshes the pod whatever the labels; `/spacepods destroy` removes it. ")
	b.WriteString("Pushing updates the pod in place; closing or merging destroys it.</sub>\n")
	return b.String()
}

func (h *Handler) renderPod(ctx context.Context, b *strings.Builder, r spacepods.PRPod) {
	link := "`" + r.Env + "`"
	if u := h.podURL(r.Env); u != "" {
		link = fmt.Sprintf("[`%s`](%s)", r.Env, u)
	}
	icon := map[string]string{
		spacepods.PRPodWaiting: "⏳", spacepods.PRPodDeploying: "⏳", spacepods.PRPodTesting: "🧪",
		spacepods.PRPodReady: "✅", spacepods.PRPodFailed: "❌", spacepods.PRPodClosed: "🗑️",
	}[r.State]
	fmt.Fprintf(b, "**%s** pod %s at `%s` — %s %s: %s\n\n", r.App, link, short(r.HeadSHA), icon, r.State, r.Detail)
	if r.State == spacepods.PRPodClosed {
		return
	}
	env, err := h.Store.GetEnvironment(ctx, r.Env)
	if err != nil {
		return
	}
	eas, err := h.Store.EnvApps(ctx, r.Env)
	if err == nil && len(eas) > 0 {
		b.WriteString("| app | build | URL |\n|---|---|---|\n")
		for _, ea := range eas {
			bl := fmt.Sprintf("%d", ea.Build)
			if bd, err := h.Catalog.Build(ctx, ea.App, ea.Build); err == nil {
				bl = fmt.Sprintf("%d (`%s`, %s)", ea.Build, short(bd.GitSHA), bd.Branch)
			}
			u := ea.URL
			if u == "" {
				u = "—"
			}
			fmt.Fprintf(b, "| %s | %s | %s |\n", ea.App, bl, u)
		}
		b.WriteString("\n")
	}
	if runs, err := h.Store.ListTestRuns(ctx, r.Env, "", 20); err == nil && len(runs) > 0 {
		latest := latestPerApp(runs)
		_, line := gatekeeper.Summary(latest)
		fmt.Fprintf(b, "Tests: %s.", line)
		for _, t := range latest {
			if u := h.TestURL(t.ID); u != "" {
				fmt.Fprintf(b, " [%s log (run %d, %s)](%s)", t.App, t.ID, t.Status, u)
			} else {
				fmt.Fprintf(b, " %s: run %d %s (`spacepods test log %d`)", t.App, t.ID, t.Status, t.ID)
			}
		}
		b.WriteString("\n\n")
	}
	if env.ExpiresAt != nil {
		fmt.Fprintf(b, "Expires %s (`spacepods pod extend %s --ttl 24h` to keep it longer). Run the tests again: `spacepods pod test %s --wait`.\n\n",
			env.ExpiresAt.UTC().Format(time.RFC1123), r.Env, r.Env)
	}
}

// latestPerApp keeps the newest run of each app (runs are newest first).
func latestPerApp(runs []spacepods.TestRun) []spacepods.TestRun {
	seen := map[string]bool{}
	var out []spacepods.TestRun
	for _, r := range runs {
		if !seen[r.App] {
			seen[r.App] = true
			out = append(out, r)
		}
	}
	return out
}
