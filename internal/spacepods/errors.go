// Package spacepods holds the domain: types, their validation, service
// interfaces and the one vocabulary of error codes used everywhere.
package spacepods

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in internal/httpjson.
const (
	ECONFLICT     = "conflict"     // the thing already exists or is busy
	EINTERNAL     = "internal"     // a bug or an outside system failed
	EINVALID      = "invalid"      // the input is wrong; the message says how
	ENOTFOUND     = "not_found"    // no such thing
	EUNAUTHORIZED = "unauthorized" // no or bad token
	EFORBIDDEN    = "forbidden"    // token is fine, role is not enough
	ETOOLARGE     = "too_large"    // body or value over a limit
	EUNAVAILABLE  = "unavailable"  // an outside system (Docker, PostgreSQL, Vault) cannot be reached
	ENOTIMPL      = "not_implemented"
	ELIMIT        = "too_many"               // over a limit of open things (live streams); retry later
	EMEDIATYPE    = "unsupported_media_type" // the body is not in a format the endpoint takes
)

// Error is an application error with a code and a message meant for users.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("spacepods error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err. Internal errors get a
// generic message so that internals never leak to users.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error; the server log has the details"
}
