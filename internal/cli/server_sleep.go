package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/spacepods/spacepods/internal/pods"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// sleepCheckEvery is how often the sleeper looks for idle apps: idle
// timeouts are minutes, so a pod sleeps at most this late.
const sleepCheckEvery = 15 * time.Second

// startSleeper starts the pods' sleeper (docs/sleep.md) when the server
// routes through its edge router on a runtime that can suspend services;
// otherwise it says why pods never sleep here.
func startSleeper(ctx context.Context, podSvc *pods.Service, idle time.Duration, logger *slog.Logger) {
	podSvc.IdleTimeout = idle
	if err := podSvc.StartSleeper(ctx, sleepCheckEvery); err != nil {
		if spacepods.ErrorCode(err) == spacepods.EINVALID {
			logger.Info("pods never sleep on this server: " + spacepods.ErrorMessage(err))
			return
		}
		logger.Warn("the pods' sleeper did not start: idle pods stay awake", "err", err)
		return
	}
	logger.Info("idle pods sleep", "idle_timeout", idle)
}
