package builds

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// Notifications turns registry push notifications into builds: a push of a
// tag to an app's repository records a build; a push that cannot be mapped
// is kept as a rejected event with its reason.
type Notifications struct {
	Store *store.Store
	// Images reads the pushed image's labels from its registry.
	Images *Client
	// Token is the bearer token the registry sends (see Authorize).
	Token  string
	Logger *slog.Logger
}

// Authorize checks the notification's Authorization header against Token,
// in constant time. EUNAUTHORIZED otherwise, and always when no token is
// set (the endpoint is then closed).
func (n *Notifications) Authorize(header string) error {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if n.Token == "" || !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(n.Token)) != 1 {
		return spacepods.Errorf(spacepods.EUNAUTHORIZED, "registry notifications need 'Authorization: Bearer <token>' with the token of <data-dir>/registry/notify.token (set it in the registry's notification endpoint headers: docs/registry.md)")
	}
	return nil
}

// registryActor is who records builds from notifications (audit log,
// builds' created_by).
var registryActor = &spacepods.Token{Name: "registry", Role: spacepods.RoleDeveloper}

// Take handles one notification body: each tag push records a build or a
// rejected event; a retried delivery changes nothing. An error (registry or
// store unreachable) makes the registry retry the delivery later.
func (n *Notifications) Take(ctx context.Context, body []byte) (spacepods.RegistryHookResult, error) {
	var res spacepods.RegistryHookResult
	pushes, ignored, err := ParseEnvelope(body)
	if err != nil {
		return res, err
	}
	res.Ignored = ignored
	ctx = spacepods.WithActor(ctx, registryActor)
	var apps []spacepods.App
	for i, p := range pushes {
		if i == 0 {
			if apps, err = n.allApps(ctx); err != nil {
				return res, err
			}
		}
		ev, build, err := n.build(ctx, apps, p)
		if err != nil {
			return res, err
		}
		ev, taken, err := n.Store.TakeRegistryEvent(ctx, ev, build)
		if err != nil {
			return res, err
		}
		switch {
		case !taken:
			res.Duplicate++
		case ev.Status == spacepods.RegistryEventRecorded:
			res.Recorded++
			n.logger().Info("build recorded from a registry push", "app", ev.App, "build", ev.Build, "push", p.String())
		default:
			res.Rejected++
			n.logger().Warn("registry push rejected", "push", p.String(), "reason", ev.Reason)
		}
	}
	return res, nil
}

func (n *Notifications) logger() *slog.Logger {
	if n.Logger == nil {
		return slog.Default()
	}
	return n.Logger
}

// build maps a push to a build, or to a rejected event saying why not. An
// error only when the registry could not be asked (the delivery is retried).
func (n *Notifications) build(ctx context.Context, apps []spacepods.App, p TagPush) (spacepods.RegistryEvent, *spacepods.Build, error) {
	ev := spacepods.RegistryEvent{ID: p.EventID, Repository: p.Repository, Tag: p.Tag, Digest: p.Digest, Status: spacepods.RegistryEventRejected}
	app, reason := appOf(apps, p.Repository)
	if app == "" {
		ev.Reason = reason
		return ev, nil, nil
	}
	ev.App = app
	if n.Store != nil {
		// A retried delivery is answered before asking the registry again.
		if seen, err := n.seen(ctx, p.EventID); err != nil || seen {
			return ev, nil, err
		}
	}
	host := n.Images.Registry.Host
	if host == "" {
		host = p.Host
	}
	labels, err := n.Images.Labels(ctx, host, p.Repository, p.Digest)
	switch spacepods.ErrorCode(err) {
	case "":
	case spacepods.ENOTFOUND:
		// Deleted since: nothing to build from, and asking again will not help.
		ev.Reason = err.Error()
		return ev, nil, nil
	default:
		return ev, nil, err
	}
	b, reason := buildFromLabels(app, p.Tag, labels)
	if b == nil {
		ev.Reason = reason
		return ev, nil, nil
	}
	b.Image, b.Digest = n.Images.Registry.Ref(p.Repository, p.Tag), p.Digest
	if n.Images.Registry.Host == "" {
		b.Image = host + "/" + p.Repository + ":" + p.Tag
	}
	if err := b.Validate(); err != nil {
		ev.Reason = err.Error()
		return ev, nil, nil
	}
	ev.Status, ev.Build = spacepods.RegistryEventRecorded, b.Number
	return ev, b, nil
}

func (n *Notifications) seen(ctx context.Context, id string) (bool, error) {
	_, err := n.Store.GetRegistryEvent(ctx, id)
	if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
		return false, nil
	}
	return err == nil, err
}

// allApps reads every registered app, a page at a time.
func (n *Notifications) allApps(ctx context.Context) ([]spacepods.App, error) {
	var all []spacepods.App
	after := ""
	for {
		page, err := n.Store.ListApps(ctx, store.ListOptions{After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all, nil
		}
		after = page[len(page)-1].Name
	}
}

// appOf returns the app whose builds are pushed to repository: the one
// whose manifest names it (image.repository), else the one named like its
// last path element that names no other repository. Else "" and why.
func appOf(apps []spacepods.App, repository string) (app, reason string) {
	var claim, byName []string
	for i := range apps {
		a := &apps[i]
		if a.ImageRepository() == repository {
			claim = append(claim, a.Name)
		} else if a.ImageRepository() == "" && a.MatchesRepository(repository) {
			byName = append(byName, a.Name)
		}
	}
	switch {
	case len(claim) == 1:
		return claim[0], ""
	case len(claim) > 1:
		return "", fmt.Sprintf("apps %s all name repository %s in their manifests' image.repository: keep it in one", strings.Join(claim, ", "), repository)
	case len(byName) == 1:
		return byName[0], ""
	}
	last := repository[strings.LastIndex(repository, "/")+1:]
	return "", fmt.Sprintf("no app's images are pushed to repository %s: register an app named %s, or add image: {repository: %s} to the app's manifest", repository, last, repository)
}

// buildFromLabels makes the build of app from a pushed tag and its image's
// labels, or says what is missing.
func buildFromLabels(app, tag string, labels map[string]string) (*spacepods.Build, string) {
	b := &spacepods.Build{App: app, GitSHA: labels[LabelRevision], Branch: labels[LabelBranch]}
	number, err := strconv.Atoi(tag)
	if err != nil || number < 1 {
		v, ok := labels[LabelBuild]
		if !ok {
			return nil, fmt.Sprintf("tag %q is not a build number and the image has no %s label: push the build number as the tag, or label the image (docker build --label %s=N)", tag, LabelBuild, LabelBuild)
		}
		if number, err = strconv.Atoi(v); err != nil || number < 1 {
			return nil, fmt.Sprintf("label %s=%q is not a build number (a positive whole number)", LabelBuild, v)
		}
	}
	b.Number = number
	if b.GitSHA == "" {
		return nil, fmt.Sprintf("the image has no %s label, so its commit is unknown: build it with --label %s=$(git rev-parse HEAD)", LabelRevision, LabelRevision)
	}
	if b.Branch == "" {
		b.Branch = spacepods.DefaultBranch
	}
	if v, ok := labels[LabelPR]; ok && v != "" {
		pr, err := strconv.Atoi(v)
		if err != nil || pr < 1 {
			return nil, fmt.Sprintf("label %s=%q is not a pull request number", LabelPR, v)
		}
		b.PR = pr
	}
	return b, ""
}
