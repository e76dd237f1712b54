package oidc

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// OAuth error codes (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; RFC 7009).
const (
	ErrCodeInvalidRequest          = "invalid_request"
	ErrCodeInvalidClient           = "invalid_client"
	ErrCodeInvalidGrant            = "invalid_grant"
	ErrCodeUnauthorizedClient      = "unauthorized_client"
	ErrCodeUnsupportedGrantType    = "unsupported_grant_type"
	ErrCodeUnsupportedResponseType = "unsupported_response_type"
	ErrCodeInvalidScope            = "invalid_scope"
	ErrCodeAccessDenied            = "access_denied"
	ErrCodeInvalidToken            = "invalid_token"
	ErrCodeServerError             = "server_error"
	ErrCodeTemporarilyUnavailable  = "temporarily_unavailable"
)

// Error is an OAuth error: rendered as {"error", "error_description"} with
// its status, or, on the authorization endpoint once the redirect URI is
// trusted, sent back to the client in the redirect.
type Error struct {
	Status      int
	Code        string
	Description string
	// RetryAfter, when set, becomes a Retry-After header (seconds).
	RetryAfter int
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func newError(status int, code, description string) *Error {
	return &Error{Status: status, Code: code, Description: description}
}

func badRequest(description string) *Error {
	return newError(http.StatusBadRequest, ErrCodeInvalidRequest, description)
}

func invalidGrant(description string) *Error {
	return newError(http.StatusBadRequest, ErrCodeInvalidGrant, description)
}

// ErrSessionEnded is returned by a Backend for an API session that no
// longer exists (logged out, expired, revoked) or may no longer be used.
var ErrSessionEnded = errors.New("the API session has ended")

// asError turns any error into an OAuth error; one that is not already one
// is a failure of the controller, told without detail.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, ErrSessionEnded) {
		return invalidGrant("the sign-in has ended (logged out, expired or revoked)")
	}
	return &Error{Status: http.StatusServiceUnavailable, Code: ErrCodeTemporarilyUnavailable,
		Description: "the controller cannot complete the request right now; retry shortly", RetryAfter: 1}
}

// writeError answers with the OAuth error JSON.
func writeError(w http.ResponseWriter, err error) {
	e := asError(err)
	h := w.Header()
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Status == http.StatusUnauthorized && e.Code == ErrCodeInvalidClient {
		h.Set("WWW-Authenticate", `Basic realm="openziti-oidc"`)
	}
	if e.Code == ErrCodeInvalidToken {
		h.Set("WWW-Authenticate", `Bearer realm="openziti-oidc", error="invalid_token", error_description=`+strconv.Quote(e.Description))
	}
	writeJSON(w, e.Status, map[string]string{"error": e.Code, "error_description": e.Description})
}

// writeJSON answers with a JSON document that is never to be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error","error_description":"the answer could not be encoded"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
