package pods

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// notifyPod tells the notifier that a pod's create or update (op) ended:
// ready with its apps' URLs, or failed with the reason.
func (s *Service) notifyPod(ctx context.Context, env, kind, op string, p spacepods.PodPlan, reason string) {
	if s.Notifier == nil {
		return
	}
	e, err := s.Store.GetEnvironment(context.WithoutCancel(ctx), env)
	if err != nil {
		return
	}
	fields := map[string]string{"op": op}
	var urls []string
	for _, a := range p.Apps {
		if a.URL != "" {
			fields["url."+a.App] = a.URL
			urls = append(urls, a.App+" "+a.URL)
		}
	}
	n := spacepods.Notice{Kind: kind, Subject: "pod:" + env, Env: env, Owner: e.Owner, Fields: fields,
		Key: fmt.Sprintf("pod:%s:%s:%d", env, kind, e.UpdatedAt.UnixNano())}
	if len(p.Apps) == 1 {
		n.App, n.URL = p.Apps[0].App, p.Apps[0].URL
	}
	if kind == spacepods.NoticePodReady {
		n.Text = fmt.Sprintf("Pod %s is ready: %s", env, strings.Join(urls, ", "))
	} else {
		fields["reason"] = reason
		n.Text = fmt.Sprintf("Pod %s failed (%s): %s", env, op, reason)
	}
	spacepods.Notify(ctx, s.Notifier, n)
}

// warnExpiring tells the owners of pods that expire within ExpiryWarning.
// The key names the expiry time, so each expiry is told once, and a pod
// extended since is told again before its new expiry.
func (s *Service) warnExpiring(ctx context.Context) {
	if s.Notifier == nil {
		return
	}
	warn := s.ExpiryWarning
	if warn <= 0 {
		warn = time.Hour
	}
	now := s.Store.Now()
	soon, err := s.Store.ExpiredPods(ctx, now.Add(warn))
	if err != nil {
		s.Logger.Error("reaper: list pods expiring soon", "err", err)
		return
	}
	for _, e := range soon {
		if e.ExpiresAt == nil || !e.ExpiresAt.After(now) {
			continue // expired: destroyed now
		}
		at := e.ExpiresAt.Format(time.RFC3339)
		spacepods.Notify(ctx, s.Notifier, spacepods.Notice{
			Kind: spacepods.NoticePodExpiring, Subject: "pod:" + e.Name, Env: e.Name, Owner: e.Owner,
			Key:    fmt.Sprintf("pod:%s:expiring:%d", e.Name, e.ExpiresAt.Unix()),
			Text:   fmt.Sprintf("Pod %s expires at %s (in %s): `spacepods pod extend %s` keeps it", e.Name, at, e.ExpiresAt.Sub(now).Round(time.Minute), e.Name),
			Fields: map[string]string{"expires_at": at},
		})
	}
}
