package ui

import (
	"net/http"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// deliveriesPageSize is how many forge deliveries one page shows.
const deliveriesPageSize = 100

type deliveriesData struct {
	Deliveries []spacepods.ForgeDelivery
	Older      int64 // the "before" of the next page, 0 = no more
	Newest     bool
}

// deliveriesPage is the forge delivery log: what each webhook delivery
// was, and what it triggered or why not.
func (u *UI) deliveriesPage(w http.ResponseWriter, r *http.Request) error {
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return spacepods.Errorf(spacepods.EINVALID, "before=%q must be a delivery id: use the Older link", v)
		}
		before = n
	}
	ds, err := u.cfg.Store.ListDeliveries(r.Context(), before, deliveriesPageSize)
	if err != nil {
		return err
	}
	d := deliveriesData{Deliveries: ds, Newest: before == 0}
	if len(ds) == deliveriesPageSize {
		d.Older = ds[len(ds)-1].ID
	}
	return u.render(w, http.StatusOK, "deliveries", u.newView(r, "Forge deliveries", "deliveries", &d))
}
