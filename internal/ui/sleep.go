package ui

import (
	"net/http"
	"net/url"
)

func (u *UI) sleepPod(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	name := r.PathValue("name")
	if _, err := u.cfg.Pods.Sleep(r.Context(), name, ""); err != nil {
		return err
	}
	return redirect(w, r, "/pods/"+url.PathEscape(name), "asleep")
}

func (u *UI) wakePod(w http.ResponseWriter, r *http.Request) error {
	if err := u.needRuntime(); err != nil {
		return err
	}
	name := r.PathValue("name")
	if _, err := u.cfg.Pods.Wake(r.Context(), name); err != nil {
		return err
	}
	return redirect(w, r, "/pods/"+url.PathEscape(name), "woken")
}
