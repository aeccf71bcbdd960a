package ui

import (
	"net/http"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

type testData struct {
	Run     spacepods.TestRun
	Env     *spacepods.Environment
	EnvPath string
	Log     string
	LogErr  string // why the output is not shown (protected environment)
}

// testPage shows one Gatekeeper test run with its whole output: the target
// of a pull request's spacepods/tests status.
func (u *UI) testPage(w http.ResponseWriter, r *http.Request) error {
	if u.cfg.Tests == nil {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "this server runs no test runner (--runtime none)")
	}
	ctx := r.Context()
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return err
	}
	run, err := u.cfg.Tests.Get(ctx, id)
	if err != nil {
		return err
	}
	d := testData{Run: run}
	if e, err := u.cfg.Store.GetEnvironment(ctx, run.Env); err == nil {
		d.Env, d.EnvPath = &e, envPath(e)
	}
	if d.Log, err = u.cfg.Tests.Log(ctx, id); err != nil {
		if spacepods.ErrorCode(err) != spacepods.EFORBIDDEN {
			return err
		}
		d.LogErr = spacepods.ErrorMessage(err)
	}
	return u.render(w, http.StatusOK, "test", u.newView(r, "Test run "+strconv.FormatInt(id, 10), "pods", &d))
}
