package podstest

import (
	"context"

	"github.com/spacepods/spacepods/internal/pods"
)

// startPods starts the pods service (its reaper, and its sleeper when
// Config.SleepEvery is set).
func (s *Stack) startPods(ctx context.Context) error {
	s.Pods.IdleTimeout = s.cfg.IdleTimeout
	if err := s.Pods.Start(ctx, s.cfg.ReapEvery); err != nil {
		return err
	}
	if s.cfg.SleepEvery > 0 {
		return s.Pods.StartSleeper(ctx, s.cfg.SleepEvery)
	}
	return nil
}

// RestartPods stops the pods service, as if the control plane died, and
// starts a fresh one on the same store, driver and router, with a fresh
// deploy engine: what a restarted control plane runs.
func (s *Stack) RestartPods() error {
	s.podsCancel()
	s.Pods.Wait()
	s.StopEngine()
	old := s.Pods
	s.Pods = &pods.Service{Store: old.Store, Catalog: old.Catalog, Driver: old.Driver, Router: old.Router,
		Databases: old.Databases, Logger: old.Logger, Notifier: old.Notifier}
	if _, err := s.StartEngine(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.podsCancel = cancel
	return s.startPods(ctx)
}
