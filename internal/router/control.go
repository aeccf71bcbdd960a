package router

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// maxControlBody bounds a control API request body.
const maxControlBody = 1 << 20

// Info is what a running router says about itself (GET /v1/healthz, and the
// router.info file in its data dir).
type Info struct {
	Status  string `json:"status"` // "ok"
	PID     int    `json:"pid"`
	Listen  string `json:"listen,omitempty"`  // proxy listener address
	Control string `json:"control,omitempty"` // control API address
	Domain  string `json:"domain"`
	Groups  int    `json:"groups"`
	// Internal is the listener of the apps' calls to their dependencies
	// (InternalHandler); "" when there is none.
	Internal string `json:"internal,omitempty"`
}

// ControlHandler returns the control API of r. Every request must carry
// "Authorization: Bearer <token>". info fills the Listen and Control fields
// of GET /v1/healthz.
//
//	GET    /v1/healthz
//	GET    /v1/groups
//	PUT    /v1/groups/{env}/{app}        GroupSpec
//	DELETE /v1/groups/{env}/{app}
//	GET    /v1/groups/{env}/{app}/stats
//	GET    /v1/environments
//	PUT    /v1/environments/{env}
//	DELETE /v1/environments/{env}
//	GET    /v1/activity                  last request per group
//	GET    /v1/wakes?after=SEQ&wait=25s  wake requests of asleep apps (long poll)
//	POST   /v1/wakes/{env}/{app}         WakeResult: release the held requests
func (r *Router) ControlHandler(token string, info Info) http.Handler {
	c := &control{r: r, info: info}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/healthz", c.healthz)
	mux.HandleFunc("GET /v1/groups", c.listGroups)
	mux.HandleFunc("PUT /v1/groups/{env}/{app}", c.setGroup)
	mux.HandleFunc("DELETE /v1/groups/{env}/{app}", c.deleteGroup)
	mux.HandleFunc("GET /v1/groups/{env}/{app}/stats", c.stats)
	mux.HandleFunc("GET /v1/environments", c.listEnvironments)
	mux.HandleFunc("PUT /v1/environments/{env}", c.setEnvironment)
	mux.HandleFunc("DELETE /v1/environments/{env}", c.removeEnvironment)
	mux.HandleFunc("GET /v1/activity", c.activity)
	mux.HandleFunc("GET /v1/wakes", c.waitWakes)
	mux.HandleFunc("POST /v1/wakes/{env}/{app}", c.finishWake)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		httpjson.WriteError(w, spacepods.Errorf(spacepods.ENOTFOUND, "no control API route %s %s", req.Method, req.URL.Path))
	})
	return requireToken(token, mux)
}

type control struct {
	r    *Router
	info Info
}

// requireToken rejects any request without the shared bearer token.
func requireToken(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got := []byte(req.Header.Get("Authorization"))
		if token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="spacepods-router"`)
			httpjson.WriteError(w, spacepods.Errorf(spacepods.EUNAUTHORIZED,
				"missing or wrong bearer token: use the token in the router's data dir (router.token)"))
			return
		}
		next.ServeHTTP(w, req)
	})
}

func (c *control) healthz(w http.ResponseWriter, req *http.Request) {
	info := c.info
	info.Status = "ok"
	info.PID = os.Getpid()
	info.Domain = c.r.Domain()
	c.r.mu.RLock()
	info.Groups = len(c.r.groups)
	c.r.mu.RUnlock()
	httpjson.Write(w, http.StatusOK, info)
}

func (c *control) listGroups(w http.ResponseWriter, req *http.Request) {
	httpjson.Write(w, http.StatusOK, c.r.Groups())
}

func (c *control) setGroup(w http.ResponseWriter, req *http.Request) {
	var spec GroupSpec
	if err := readJSON(w, req, &spec); err != nil {
		httpjson.WriteError(w, err)
		return
	}
	env, app := req.PathValue("env"), req.PathValue("app")
	if err := c.r.SetGroup(env, app, spec); err != nil {
		httpjson.WriteError(w, err)
		return
	}
	st, err := c.r.Stats(env, app)
	if err != nil {
		httpjson.WriteError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, st)
}

func (c *control) deleteGroup(w http.ResponseWriter, req *http.Request) {
	if err := c.r.DeleteGroup(req.PathValue("env"), req.PathValue("app")); err != nil {
		httpjson.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *control) stats(w http.ResponseWriter, req *http.Request) {
	st, err := c.r.Stats(req.PathValue("env"), req.PathValue("app"))
	if err != nil {
		httpjson.WriteError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, st)
}

func (c *control) listEnvironments(w http.ResponseWriter, req *http.Request) {
	httpjson.Write(w, http.StatusOK, c.r.Environments())
}

// EnvironmentSpec is the optional body of PUT /v1/environments/{env}.
type EnvironmentSpec struct {
	Subnet string `json:"subnet,omitempty"` // its containers' subnet, for the internal listener
}

func (c *control) setEnvironment(w http.ResponseWriter, req *http.Request) {
	var spec EnvironmentSpec
	if req.ContentLength != 0 {
		if err := readJSON(w, req, &spec); err != nil {
			httpjson.WriteError(w, err)
			return
		}
	}
	if err := c.r.SetEnvironment(req.PathValue("env"), spec.Subnet); err != nil {
		httpjson.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *control) removeEnvironment(w http.ResponseWriter, req *http.Request) {
	if err := c.r.RemoveEnvironment(req.PathValue("env")); err != nil {
		httpjson.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readJSON decodes one JSON value strictly: unknown fields are an error, so a
// typo in a field name does not pass silently.
func readJSON(w http.ResponseWriter, req *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxControlBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return spacepods.Errorf(spacepods.ETOOLARGE, "request body over %d bytes", maxControlBody)
		}
		if errors.Is(err, io.EOF) {
			return spacepods.Errorf(spacepods.EINVALID, "empty body: send a JSON object like {\"health_path\":\"/healthz\",\"targets\":[{\"addr\":\"127.0.0.1:8000\",\"weight\":1}]}")
		}
		return spacepods.Errorf(spacepods.EINVALID, "bad JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return spacepods.Errorf(spacepods.EINVALID, "body must hold one JSON object")
	}
	return nil
}
