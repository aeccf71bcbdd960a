// Package httpjson is JSON over HTTP the Spacepods way, for both ends: the
// one table between error codes and HTTP status, the error envelope
// ({"error":{"code","message"}}), replies, and a client that sends JSON and
// turns any answer that is not 2xx back into a *spacepods.Error with the
// server's code. The API server, the web UI, the router's control API and
// both clients (client/ and router.Client) use it. It imports only the
// domain package, so the public client links nothing else of the module.
package httpjson

import (
	"encoding/json"
	"net/http"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// codeStatus is the one table from error code to HTTP status; every code
// of internal/spacepods is in it, each with its own status.
var codeStatus = map[string]int{
	spacepods.ECONFLICT:     http.StatusConflict,
	spacepods.EINVALID:      http.StatusBadRequest,
	spacepods.ENOTFOUND:     http.StatusNotFound,
	spacepods.EUNAUTHORIZED: http.StatusUnauthorized,
	spacepods.EFORBIDDEN:    http.StatusForbidden,
	spacepods.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	spacepods.EMEDIATYPE:    http.StatusUnsupportedMediaType,
	spacepods.ELIMIT:        http.StatusTooManyRequests,
	spacepods.EUNAVAILABLE:  http.StatusServiceUnavailable,
	spacepods.ENOTIMPL:      http.StatusNotImplemented,
	spacepods.EINTERNAL:     http.StatusInternalServerError,
}

// statusCode is codeStatus the other way, plus the statuses a proxy or a
// plain mux answers without an envelope.
var statusCode = func() map[int]string {
	m := map[int]string{
		http.StatusMethodNotAllowed: spacepods.ENOTFOUND, // a route that exists for other methods only
		http.StatusBadGateway:       spacepods.EUNAVAILABLE,
		http.StatusGatewayTimeout:   spacepods.EUNAVAILABLE,
	}
	for c, s := range codeStatus {
		m[s] = c
	}
	return m
}()

// StatusOf returns the HTTP status of an error code (500 for a code it
// does not know).
func StatusOf(code string) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// CodeOf returns the error code of an HTTP status, for an error answer
// without an envelope (EINTERNAL for a status it does not know).
func CodeOf(status int) string {
	if c, ok := statusCode[status]; ok {
		return c
	}
	return spacepods.EINTERNAL
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Write answers v as indented JSON with status.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // a client gone mid-write is not the server's error
}

// WriteError answers err's code, with its status, and its user message:
// internal errors get a generic message (log them before calling this).
func WriteError(w http.ResponseWriter, err error) {
	var body ErrorBody
	body.Error.Code = spacepods.ErrorCode(err)
	body.Error.Message = spacepods.ErrorMessage(err)
	Write(w, StatusOf(body.Error.Code), body)
}
