package ui

import (
	"net/http"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

type notificationsData struct {
	Deliveries []spacepods.NoticeDelivery
	Target     string
	Older      int64 // the "before" of the next page, 0 = no more
	Newest     bool
}

// notificationsPage is the notification delivery log: each notice's
// delivery to each target, its attempts and last error.
func (u *UI) notificationsPage(w http.ResponseWriter, r *http.Request) error {
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return spacepods.Errorf(spacepods.EINVALID, "before=%q must be a delivery id: use the Older link", v)
		}
		before = n
	}
	target := r.URL.Query().Get("target")
	ds, err := u.cfg.Store.ListNoticeDeliveries(r.Context(), target, before, deliveriesPageSize)
	if err != nil {
		return err
	}
	d := notificationsData{Deliveries: ds, Target: target, Newest: before == 0}
	if len(ds) == deliveriesPageSize {
		d.Older = ds[len(ds)-1].ID
	}
	return u.render(w, http.StatusOK, "notifications", u.newView(r, "Notifications", "notifications", &d))
}
