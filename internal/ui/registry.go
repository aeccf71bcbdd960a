package ui

import (
	"context"
	"net/http"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// registryPageSize is how many registry events the page shows.
const registryPageSize = 100

type registryData struct {
	Events []spacepods.RegistryEvent
	Status string // the filter: "", recorded or rejected
}

// registryPage lists the tag pushes registries notified: the build each
// recorded, or why none (live: a push shows up as it arrives).
func (u *UI) registryPage(w http.ResponseWriter, r *http.Request) error {
	status := r.URL.Query().Get("status")
	switch status {
	case "", spacepods.RegistryEventRecorded, spacepods.RegistryEventRejected:
	default:
		return spacepods.Errorf(spacepods.EINVALID, "status %q: use recorded or rejected (or the Registry link for both)", status)
	}
	evs, err := u.cfg.Store.ListRegistryEvents(r.Context(), status, registryPageSize)
	if err != nil {
		return err
	}
	v := u.newView(r, "Registry", "registry", &registryData{Events: evs, Status: status})
	v.Live, v.State = "/ui/events/registry", registryState(evs).Hash
	return u.render(w, http.StatusOK, "registry", v)
}

// registryState hashes what the registry page shows.
func registryState(evs []spacepods.RegistryEvent) liveState {
	parts := []any{len(evs)}
	for _, e := range evs {
		parts = append(parts, e.ID, e.Status)
	}
	return liveState{Hash: hashOf(parts...), Status: "live"}
}

// registryEvents streams the registry page's state: a new push changes it.
func (u *UI) registryEvents(w http.ResponseWriter, r *http.Request) error {
	ctx, done, err := u.openStream(r)
	if err != nil {
		return err
	}
	defer done()
	state := func() (liveState, error) { return u.registryStateNow(ctx) }
	first, err := state()
	if err != nil {
		return err
	}
	// Registry events are signalled to every watcher (topic ""), so the
	// stream watches "" too; it has no progress lines.
	return u.stream(ctx, startSSE(w), "", first, func() error { return nil }, state)
}

func (u *UI) registryStateNow(ctx context.Context) (liveState, error) {
	evs, err := u.cfg.Store.ListRegistryEvents(ctx, "", registryPageSize)
	if err != nil {
		return liveState{}, err
	}
	return registryState(evs), nil
}
