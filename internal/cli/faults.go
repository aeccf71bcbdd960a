package cli

import (
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// deployPauseEnv is fault injection for the end-to-end kill tests
// (internal/e2e): STEP=DURATION makes every deploy pause that long in that
// step, so that a test can SIGKILL the server mid-step. It is the server's
// only test hook; nothing sets it in production.
const deployPauseEnv = "SPACEPODS_TEST_DEPLOY_PAUSE"

// deployPause reads deployPauseEnv: the step and how long deploys pause in
// it, or "" and 0 when it is unset. EINVALID for a malformed value.
func deployPause(logger *slog.Logger) (step string, d time.Duration, err error) {
	v := os.Getenv(deployPauseEnv)
	if v == "" {
		return "", 0, nil
	}
	step, dur, _ := strings.Cut(v, "=")
	if d, err = time.ParseDuration(dur); err != nil || step == "" {
		return "", 0, spacepods.Errorf(spacepods.EINVALID, "%s=%q: write STEP=DURATION, e.g. migrate=5s", deployPauseEnv, v)
	}
	logger.Warn("fault injection: deploys pause in a step", "step", step, "for", d)
	return step, d, nil
}
