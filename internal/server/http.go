// Package server is Spacepods' HTTP layer: the REST API under /api/v1, its
// OpenAPI document, health, metrics and authentication; errors are answered
// through internal/httpjson's one table of error codes and HTTP status. Handlers parse, validate, call a domain
// service and respond; they hold no SQL and no runtime calls.
package server

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/spacepods/spacepods/internal/httpjson"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 4 << 20

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }

// reply writes v with status unless err is set, which it returns for the
// route wrapper to write.
func reply(w http.ResponseWriter, status int, v any, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

// writeError responds with err's code and user message; internal errors are
// logged, never shown.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := spacepods.ErrorCode(err)
	if code == spacepods.EINTERNAL {
		logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	httpjson.WriteError(w, err)
}

// decode reads a JSON body strictly: size-limited, unknown fields rejected,
// one value only.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var maxErr *http.MaxBytesError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &maxErr):
			return spacepods.Errorf(spacepods.ETOOLARGE, "request body over %d bytes: send less", MaxBodyBytes)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return spacepods.Errorf(spacepods.EINVALID, "request body is not valid JSON: it ends in the middle of a value")
		case errors.Is(err, io.EOF):
			return spacepods.Errorf(spacepods.EINVALID, "request body is empty: send a JSON object")
		case errors.As(err, &syn):
			return spacepods.Errorf(spacepods.EINVALID, "request body is not valid JSON (at byte %d): %v", syn.Offset, err)
		case errors.As(err, &typ):
			return spacepods.Errorf(spacepods.EINVALID, "field %q must be a %s, not a JSON %s", typ.Field, typ.Type, typ.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return spacepods.Errorf(spacepods.EINVALID, "%s: remove it (see /api/v1/openapi.json for the fields this endpoint takes)", strings.TrimPrefix(err.Error(), "json: "))
		}
		return spacepods.Errorf(spacepods.EINVALID, "bad request body: %v", err)
	}
	if dec.More() {
		return spacepods.Errorf(spacepods.EINVALID, "request body has more than one JSON value: send exactly one object")
	}
	return nil
}

// pathName returns a path parameter that must be a valid name.
func pathName(r *http.Request, key, what string) (string, error) {
	v := r.PathValue(key)
	return v, spacepods.ValidateName(what, v)
}

// queryInt parses an optional integer query parameter.
func queryInt(r *http.Request, key string, def int) (int, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, spacepods.Errorf(spacepods.EINVALID, "query parameter %s=%q must be an integer", key, v)
	}
	return n, nil
}

func pathInt(r *http.Request, key string) (int, error) {
	v := r.PathValue(key)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, spacepods.Errorf(spacepods.EINVALID, "%s %q must be a positive integer", key, v)
	}
	return n, nil
}

func notFoundRoute(w http.ResponseWriter, r *http.Request, logger *slog.Logger) {
	writeError(w, r, logger, spacepods.Errorf(spacepods.ENOTFOUND, "no API route %s %s: see /api/v1/openapi.json", r.Method, r.URL.Path))
}
