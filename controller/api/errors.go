package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	oaerrors "github.com/go-openapi/errors"

	"github.com/ostium-net/ostium/controller/cluster"
	"github.com/ostium-net/ostium/controller/filter"
	"github.com/ostium-net/ostium/controller/store"
)

// APIError is an error with its envelope code and HTTP status.
type APIError struct {
	Status  int
	Code    string
	Message string
	Cause   *FieldCause
	Err     error
	// RetryAfter, when set, becomes a Retry-After header (seconds).
	RetryAfter int
}

// FieldCause names the field a validation error is about.
type FieldCause struct {
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
	Value  any    `json:"value,omitempty"`
}

func (e *APIError) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *APIError) Unwrap() error { return e.Err }

// Error codes of the envelope (EDGE-API-FACTS.md).
const (
	CodeUnauthorized           = "UNAUTHORIZED"
	CodeInvalidAuth            = "INVALID_AUTH"
	CodeNotFound               = "NOT_FOUND"
	CodeCouldNotValidate       = "COULD_NOT_VALIDATE"
	CodeInvalidFilter          = "INVALID_FILTER"
	CodeInvalidPagination      = "INVALID_PAGINATION"
	CodeConflict               = "CONFLICT"
	CodeReferenced             = "REFERENCED"
	CodeMethodNotAllowed       = "METHOD_NOT_ALLOWED"
	CodeUnhandled              = "UNHANDLED"
	CodeUnavailable            = "SERVICE_UNAVAILABLE"
	CodeUnsupportedMediaType   = "UNSUPPORTED_MEDIA_TYPE"
	CodeNotAcceptable          = "NOT_ACCEPTABLE"
	CodeNoEdgeRoutersAvailable = "NO_EDGE_ROUTERS_AVAILABLE"
	CodeIdempotencyKeyReused   = "IDEMPOTENCY_KEY_REUSED"
	// CodeOutcomeUnknown is a 503 for a write that may have been applied;
	// SERVICE_UNAVAILABLE says nothing was.
	CodeOutcomeUnknown = "OUTCOME_UNKNOWN"
)

func newErr(status int, code, msg string) *APIError {
	return &APIError{Status: status, Code: code, Message: msg}
}

// Common errors.
var (
	errUnauthorized = newErr(http.StatusUnauthorized, CodeUnauthorized, "the request could not be completed: the session is missing, invalid or lacks permission")
	errNotFound     = newErr(http.StatusNotFound, CodeNotFound, "the resource requested was not found or is not available to the caller")
)

func validationError(field, reason string, value any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: CodeCouldNotValidate,
		Message: "the supplied request contains an invalid document or no valid accept content were available, see cause",
		Cause:   &FieldCause{Field: field, Reason: reason, Value: value}}
}

// toAPIError maps any error to the envelope: the single table from domain
// errors to codes and statuses. Unknown errors become a 500 UNHANDLED whose
// message does not leak internals.
func toAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	var fe *store.FieldError
	hasField := errors.As(err, &fe)
	cause := func() *FieldCause {
		if !hasField {
			return nil
		}
		return &FieldCause{Field: fe.Field, Reason: fe.Reason, Value: fe.Value}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNotFound
	case errors.Is(err, filter.ErrInvalidPagination):
		return &APIError{Status: 400, Code: CodeInvalidPagination, Message: err.Error(), Err: err}
	case errors.Is(err, filter.ErrInvalidFilter):
		return &APIError{Status: 400, Code: CodeInvalidFilter, Message: err.Error(), Err: err}
	case errors.Is(err, store.ErrConflict):
		return &APIError{Status: 409, Code: CodeConflict, Message: msgOf(fe, err), Cause: cause(), Err: err}
	case errors.Is(err, store.ErrInvalidReference):
		if hasField && fe.Field == "id" {
			return &APIError{Status: 409, Code: CodeReferenced, Message: msgOf(fe, err), Cause: cause(), Err: err}
		}
		return &APIError{Status: 400, Code: CodeCouldNotValidate, Message: msgOf(fe, err), Cause: cause(), Err: err}
	case errors.Is(err, store.ErrInvalid):
		return &APIError{Status: 400, Code: CodeCouldNotValidate, Message: msgOf(fe, err), Cause: cause(), Err: err}
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		return &APIError{Status: 503, Code: CodeOutcomeUnknown, Err: err, RetryAfter: 1,
			Message: "the write reached the cluster, but whether it was applied could not be learned in time (the leader changed or lost its quorum); it may have been applied: retry with the same Idempotency-Key to learn the outcome, or read before writing again"}
	case errors.Is(err, cluster.ErrIdempotencyKeyReused):
		return &APIError{Status: 422, Code: CodeIdempotencyKeyReused, Err: err,
			Message: "this Idempotency-Key was already used for a different request; use a new key for a new request"}
	case errors.Is(err, store.ErrUnauthorized):
		return errUnauthorized
	case errors.Is(err, cluster.ErrNoLeader):
		return &APIError{Status: 503, Code: CodeUnavailable, Message: "the cluster has no leader reachable from this controller right now, and nothing was changed; retry shortly, here or on another controller", Err: err, RetryAfter: 1}
	}
	var oe oaerrors.Error
	if errors.As(err, &oe) {
		return fromOpenAPIError(oe)
	}
	return &APIError{Status: 500, Code: CodeUnhandled, Message: "an unexpected error occurred", Err: err}
}

func msgOf(fe *store.FieldError, err error) string {
	if fe != nil {
		return fe.Error()
	}
	return err.Error()
}

// fromOpenAPIError maps the go-openapi runtime's errors (codes 600–606 for
// validation, plus HTTP codes) to the envelope. Validation never leaves as a
// 6xx status: it is a 400 COULD_NOT_VALIDATE with the field in the cause.
func fromOpenAPIError(oe oaerrors.Error) *APIError {
	code := int(oe.Code())
	switch {
	case (code >= 600 && code < 700) || code == http.StatusUnprocessableEntity || isValidationComposite(oe):
		ae := &APIError{Status: 400, Code: CodeCouldNotValidate, Message: oe.Error(), Err: oe}
		if first := firstLeaf(oe); first != nil {
			ae.Message = first.Error()
			var ve *oaerrors.Validation
			var pe *oaerrors.ParseError
			switch {
			case errors.As(first, &ve):
				ae.Cause = &FieldCause{Field: ve.Name, Reason: ve.Error(), Value: ve.Value}
			case errors.As(first, &pe):
				ae.Cause = &FieldCause{Field: pe.Name, Reason: pe.Error()}
			}
		}
		return ae
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return errUnauthorized
	case code == http.StatusNotFound:
		return errNotFound
	case code == http.StatusMethodNotAllowed:
		return &APIError{Status: 405, Code: CodeMethodNotAllowed, Message: oe.Error(), Err: oe}
	case code == http.StatusUnsupportedMediaType:
		return &APIError{Status: 415, Code: CodeUnsupportedMediaType, Message: oe.Error(), Err: oe}
	case code == http.StatusNotAcceptable:
		return &APIError{Status: 406, Code: CodeNotAcceptable, Message: oe.Error(), Err: oe}
	case code >= 400 && code < 500:
		return &APIError{Status: code, Code: CodeCouldNotValidate, Message: oe.Error(), Err: oe}
	}
	return &APIError{Status: 500, Code: CodeUnhandled, Message: "an unexpected error occurred", Err: oe}
}

// isValidationComposite reports a composite error that holds only request
// problems (parse failures, validation failures or plain decoding errors):
// the runtime sometimes reports a body it could not decode with code 500.
func isValidationComposite(err error) bool {
	var ce *oaerrors.CompositeError
	return errors.As(err, &ce) && len(ce.Errors) > 0
}

// firstLeaf finds the first concrete error inside nested composite errors.
func firstLeaf(err error) error {
	var ce *oaerrors.CompositeError
	if errors.As(err, &ce) {
		for _, e := range ce.Errors {
			if leaf := firstLeaf(e); leaf != nil {
				return leaf
			}
		}
		return nil
	}
	return err
}

// writeError writes the error envelope, with the request's id; an
// unexpected failure (a 500) is logged with it.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	id := requestID(r)
	if rw := requestOf(w); rw != nil {
		id = rw.id
		if ae.Status == http.StatusInternalServerError && rw.log != nil {
			rw.log.Error("request failed unexpectedly", "requestId", id, "method", rw.method, "path", rw.path, "err", err)
		}
	}
	body := map[string]any{
		"error": map[string]any{
			"code":      ae.Code,
			"message":   ae.Message,
			"requestId": id,
			"args":      map[string]any{"urlVars": map[string]string{}},
		},
		"meta": newMeta(),
	}
	if ae.Cause != nil {
		if secretField(ae.Cause.Field) {
			// Never echo a secret back, not even a rejected one.
			c := *ae.Cause
			c.Value = nil
			c.Reason = strings.ReplaceAll(c.Reason, fmt.Sprint(ae.Cause.Value), "***")
			ae = &APIError{Status: ae.Status, Code: ae.Code, Message: "the value of " + c.Field + " is not valid", Cause: &c, RetryAfter: ae.RetryAfter}
		}
		e := body["error"].(map[string]any)
		e["cause"] = ae.Cause
		e["causeMessage"] = ae.Cause.Reason
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	writeJSON(w, ae.Status, body)
}

// secretField reports fields whose values must never appear in a response.
func secretField(field string) bool {
	f := strings.ToLower(field)
	for _, word := range []string{"password", "secret", "token", "code", "key"} {
		if strings.Contains(f, word) {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		status = 500
		data = []byte(fmt.Sprintf(`{"error":{"code":%q,"message":"could not encode the response"},"meta":{}}`, CodeUnhandled))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
