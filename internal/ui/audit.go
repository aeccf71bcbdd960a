package ui

import (
	"net/http"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// auditPageSize is how many audit entries one page shows.
const auditPageSize = 100

type auditData struct {
	Entries []spacepods.AuditEntry
	Older   int64 // the "before" of the next page, 0 = no more
	Newest  bool
}

func (u *UI) auditPage(w http.ResponseWriter, r *http.Request) error {
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return spacepods.Errorf(spacepods.EINVALID, "before=%q must be an audit entry id: use the Older link", v)
		}
		before = n
	}
	es, err := u.cfg.Store.ListAudit(r.Context(), before, auditPageSize)
	if err != nil {
		return err
	}
	d := auditData{Entries: es, Newest: before == 0}
	if len(es) == auditPageSize {
		d.Older = es[len(es)-1].ID
	}
	return u.render(w, http.StatusOK, "audit", u.newView(r, "Audit log", "audit", &d))
}

type leaksData struct {
	Leaks   []spacepods.Leak
	Removed bool
}

func (u *UI) leaksPage(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	ls, err := u.cfg.Pods.Leaks(r.Context(), false)
	if err != nil {
		return err
	}
	return u.render(w, http.StatusOK, "leaks", u.newView(r, "Leaks", "leaks", &leaksData{Leaks: ls}))
}

// removeLeaks removes every leak and shows what was removed (no redirect:
// the result is only known now).
func (u *UI) removeLeaks(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	ls, err := u.cfg.Pods.Leaks(r.Context(), true)
	if err != nil {
		return err
	}
	v := u.newView(r, "Leaks", "leaks", &leaksData{Leaks: ls, Removed: true})
	v.Flash = flashes["leaks"]
	return u.render(w, http.StatusOK, "leaks", v)
}
