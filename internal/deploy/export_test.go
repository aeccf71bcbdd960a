package deploy

import (
	"context"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// SetStepHook makes e call fn as each step ("clear_stale" … "rollout") and
// each rollout stage ("rollout:stage2", "rollout:record") starts. Set it
// before submitting deploys.
func (e *Engine) SetStepHook(fn func(ctx context.Context, d *spacepods.Deploy, at string)) {
	e.stepHook = fn
}
