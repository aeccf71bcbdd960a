// Package config composes the env vars a container gets: the standard set
// Spacepods adds (environment, app, build, git SHA, port, database URL,
// dependency URLs), then the app's defaults from its manifest. Standard
// vars always win; the manifest cannot override them (validation rejects it).
package config

import (
	"fmt"
	"strconv"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Inputs is everything the standard vars are made from.
type Inputs struct {
	Env         string
	App         spacepods.App
	Build       spacepods.Build
	DatabaseURL string            // "" when the app has no database
	Deps        map[string]string // dependency app name → URL reachable inside the environment
}

// DependencyURL is how apps of one environment reach a web dependency: by
// its network alias (the app name) on its own port.
func DependencyURL(dep spacepods.App) string {
	if dep.Kind != spacepods.KindWeb || dep.Port == 0 {
		return ""
	}
	return fmt.Sprintf("http://%s:%d", dep.Name, dep.Port)
}

// Compose returns the container's env: the app's defaults overlaid with the
// standard vars.
func Compose(in Inputs) map[string]string {
	vars := map[string]string{}
	for k, v := range in.App.Env {
		vars[k] = v
	}
	vars["SPACEPODS_ENV"] = in.Env
	vars["SPACEPODS_APP"] = in.App.Name
	vars["SPACEPODS_BUILD"] = strconv.Itoa(in.Build.Number)
	vars["SPACEPODS_GIT_SHA"] = in.Build.GitSHA
	if in.App.Port > 0 {
		vars["PORT"] = strconv.Itoa(in.App.Port)
	}
	if in.DatabaseURL != "" {
		vars["DATABASE_URL"] = in.DatabaseURL
	}
	for dep, u := range in.Deps {
		if u != "" {
			vars[spacepods.EnvVarName(dep)+"_URL"] = u
		}
	}
	return vars
}
