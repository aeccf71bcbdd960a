package releasenotes

import (
	"fmt"
	"strings"
)

// Markdown renders notes for people: chat, the deploy page, a changelog.
func Markdown(n Notes) string {
	var b strings.Builder
	what := "Release notes"
	if n.Rollback {
		what = "Rollback notes"
	}
	fmt.Fprintf(&b, "## %s: %s", what, n.App)
	if n.Build > 0 {
		fmt.Fprintf(&b, " build %d", n.Build)
	}
	if n.Env != "" {
		fmt.Fprintf(&b, " to %s", n.Env)
	}
	b.WriteString("\n\n")
	span := short(n.ToSHA)
	if n.FromSHA != "" {
		span = short(n.FromSHA) + "..." + short(n.ToSHA)
	}
	count := fmt.Sprintf("%d %s by %d %s", len(n.Commits), plural(len(n.Commits), "commit"), len(n.Contributors), plural(len(n.Contributors), "contributor"))
	if n.Rollback {
		count = fmt.Sprintf("%d %s left", len(n.Commits), plural(len(n.Commits), "commit"))
	}
	fmt.Fprintf(&b, "%s: %s", span, count)
	if n.CompareURL != "" {
		fmt.Fprintf(&b, " ([compare](%s))", n.CompareURL)
	}
	b.WriteString("\n")
	if n.Note != "" {
		fmt.Fprintf(&b, "\n%s\n", n.Note)
	}
	line := func(c Commit) {
		fmt.Fprintf(&b, "- %s %s (%s)", c.Short, c.Subject, c.Author)
		if c.Breaking {
			b.WriteString(" **breaking**")
		}
		b.WriteString("\n")
	}
	switch {
	case n.Rollback && len(n.Commits) > 0:
		b.WriteString("\n### Commits that left\n\n")
		for _, c := range n.Commits {
			line(c)
		}
	case len(n.Groups) > 0:
		for _, g := range n.Groups {
			fmt.Fprintf(&b, "\n### %s\n\n", g.Title)
			for _, c := range g.Commits {
				line(c)
			}
		}
	case len(n.Commits) > 0:
		b.WriteString("\n### Commits\n\n")
		for _, c := range n.Commits {
			line(c)
		}
	}
	if len(n.Contributors) > 0 && !n.Rollback {
		b.WriteString("\n### Contributors\n\n")
		for _, c := range n.Contributors {
			fmt.Fprintf(&b, "- %s <%s> (%d %s)\n", c.Name, c.Email, c.Commits, plural(c.Commits, "commit"))
		}
	}
	if len(n.Jira) > 0 {
		b.WriteString("\n### Jira\n\n")
		for _, j := range n.Jira {
			if j.URL != "" {
				fmt.Fprintf(&b, "- [%s](%s)\n", j.Key, j.URL)
			} else {
				fmt.Fprintf(&b, "- %s\n", j.Key)
			}
		}
	}
	var links []string
	if n.LogsURL != "" {
		links = append(links, fmt.Sprintf("[deploy logs](%s)", n.LogsURL))
	}
	if n.TestsURL != "" {
		links = append(links, fmt.Sprintf("[test run](%s)", n.TestsURL))
	}
	if len(links) > 0 {
		fmt.Fprintf(&b, "\n%s\n", strings.Join(links, " · "))
	}
	return b.String()
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
