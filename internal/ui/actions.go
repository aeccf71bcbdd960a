package ui

import "github.com/spacepods/spacepods/internal/spacepods"

// releaseActions is what the "release-actions" partial renders: the
// promote and roll-back forms of one app in one environment. The
// environments page, an environment's page and a deploy's page use it.
type releaseActions struct {
	CSRF      string
	Env, App  string
	Build     int
	PromoteTo string // the next environment, "" when there is no promote button
	Rollback  bool   // show the roll-back button
	Long      bool   // the deploy page's button says what it rolls back
}

// ReleaseActions returns the actions of row in env, whose next master
// environment is next (nil for the last one or a pod). A promote needs a
// live release and the right to deploy to next.
func (v view) ReleaseActions(env string, row envRow, next *spacepods.Environment) releaseActions {
	a := releaseActions{CSRF: v.CSRF, Env: env, App: row.App, Build: row.Build, Rollback: row.CanRollback}
	if next != nil && row.Release > 0 && v.CanDeploy(next.Protected) {
		a.PromoteTo = next.Name
	}
	return a
}

// RollbackAction returns the deploy page's roll-back form of app in env.
func (v view) RollbackAction(env, app string) releaseActions {
	return releaseActions{CSRF: v.CSRF, Env: env, App: app, Rollback: true, Long: true}
}
