package forge

import (
	"context"
	"fmt"
	"strings"
)

// PushLog records in the delivery log which apps a push concerns and at
// which commit. It is the push handler until a builder acts on pushes
// (issue 13's builder registers its own handler beside it).
type PushLog struct {
	// Apps lists the apps whose manifest names a repository.
	Apps func(ctx context.Context, repo string) ([]string, error)
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
	return fmt.Sprintf("push of %d commit(s) to %s at %s for %s (no builder acts on pushes yet)", len(ev.Commits), branch, short(ev.After), strings.Join(apps, ", ")), nil
}
