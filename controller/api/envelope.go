package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"
)

// API versions reported in every meta block.
const (
	apiVersion           = "0.0.1"
	apiEnrollmentVersion = "0.0.1"
)

type meta struct {
	APIVersion           string      `json:"apiVersion"`
	APIEnrollmentVersion string      `json:"apiEnrollmentVersion"`
	Pagination           *pagination `json:"pagination,omitempty"`
	FilterableFields     []string    `json:"filterableFields,omitempty"`
}

type pagination struct {
	Limit      int64 `json:"limit"`
	Offset     int64 `json:"offset"`
	TotalCount int64 `json:"totalCount"`
}

func newMeta() *meta {
	return &meta{APIVersion: apiVersion, APIEnrollmentVersion: apiEnrollmentVersion}
}

type envelope struct {
	Data any   `json:"data"`
	Meta *meta `json:"meta"`
}

// respond is a Responder that writes {data, meta} with a status.
type respond struct {
	status int
	body   any
	header map[string]string
}

func (r respond) WriteResponse(w http.ResponseWriter, _ runtime.Producer) {
	for k, v := range r.header {
		w.Header().Set(k, v)
	}
	writeJSON(w, r.status, r.body)
}

// ok answers 200 with data in the envelope.
func ok(data any) middleware.Responder {
	return respond{status: 200, body: envelope{Data: data, Meta: newMeta()}}
}

// okEmpty answers 200 {"data": {}, "meta": {}} (updates and deletes).
func okEmpty() middleware.Responder { return ok(map[string]any{}) }

// created answers 201 with the new entity's id and self link.
func created(id, self string) middleware.Responder {
	return respond{status: 201, body: envelope{Data: map[string]any{"id": id, "_links": links(self)}, Meta: newMeta()}}
}

// list answers 200 with a page of data.
func list(data any, p pagination) middleware.Responder {
	m := newMeta()
	m.Pagination = &p
	return respond{status: 200, body: envelope{Data: data, Meta: m}}
}

// fail answers with the error envelope.
func fail(err error) middleware.Responder { return failure{err: err} }

// failure is the answer of a failed operation; code that calls a handler
// for its work (OIDC sign-in) reads the error back from it.
type failure struct{ err error }

func (f failure) WriteResponse(w http.ResponseWriter, _ runtime.Producer) { writeError(w, nil, f.err) }

type link struct {
	Href string `json:"href"`
}

func links(self string) map[string]link {
	return map[string]link{"self": {Href: self}}
}

type ctxKey int

const requestIDKey ctxKey = 1

func requestID(r *http.Request) string {
	if r == nil {
		return ""
	}
	if v, ok := r.Context().Value(requestIDKey).(string); ok {
		return v
	}
	return ""
}

// requestWriter carries, for responders that never see the request, the
// request's id and what to log an unexpected failure with.
type requestWriter struct {
	http.ResponseWriter
	id     string
	log    *slog.Logger
	method string
	path   string
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *requestWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *requestWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// requestOf finds the request's writer under w.
func requestOf(w http.ResponseWriter) *requestWriter {
	for w != nil {
		if rw, ok := w.(*requestWriter); ok {
			return rw
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

// withRequestID tags every request with a random id, echoed in the error
// envelope (its requestId) and in the log of unexpected failures.
func withRequestID(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		rw := &requestWriter{ResponseWriter: w, id: id, log: log, method: r.Method, path: r.URL.Path}
		next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}
