package forge

import (
	"context"
	"fmt"
	"strings"
)

// PushLog records in the delivery log which apps a push concerns and at
// which commit. The built-in builder's handler (internal/forgebuild) acts
// on pushes beside it.
type PushLog struct {
	// Apps lists the apps whose manifest names a repository.
	Apps func(ctx context.Context, repo string) ([]string, error)
	// Building says a builder handler acts on pushes too (it logs what
	// it queued beside this line).
	Building bool
}

var _ Handler = (*PushLog)(nil)

// HandleEvent implements Handler: pushes only.
func (p *PushLog) HandleEvent(ctx context.Context, ev Event) (string, error) {
	if ev.Kind != EventPush {
		return "", nil
	}
	apps, err := p.Apps(ctx, ev.Repo)
	if err != nil {
		return "", err
	}
	branch := strings.TrimPrefix(ev.Ref, "refs/heads/")
	line := fmt.Sprintf("push of %d commit(s) to %s at %s for %s", len(ev.Commits), branch, short(ev.After), strings.Join(apps, ", "))
	if !p.Building {
		line += " (no builder acts on pushes: the server has no --registry)"
	}
	return line, nil
}
