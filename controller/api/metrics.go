package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-openapi/runtime/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// The API's metrics. Every label has a bounded set of values: the API
// (client, management, oidc, health, other), the operation id of the route
// the request matched in the spec ("unmatched" for a path or method the spec
// lacks), the HTTP status, and the authentication method and result.
// Identities, sessions and paths with ids in them are never labels.
type apiMetrics struct {
	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	authentications *prometheus.CounterVec
}

func newAPIMetrics() *apiMetrics {
	return &apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ostium_api_requests_total",
			Help: "Requests answered by the client, management and OIDC APIs, by API, operation (the spec's operation id) and HTTP status.",
		}, []string{"api", "operation", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ostium_api_request_duration_seconds",
			Help:    "Time to answer a request of the client, management and OIDC APIs, by API and operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"api", "operation"}),
		authentications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ostium_authentications_total",
			Help: "Authentication attempts by method (password, cert, ext-jwt, mfa) and result (success, failure).",
		}, []string{"method", "result"}),
	}
}

func (m *apiMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.authentications}
}

// Label values outside the spec's operations.
const (
	apiClient     = "client"
	apiManagement = "management"
	apiOIDC       = "oidc"
	apiHealth     = "health"
	apiOther      = "other"
	opUnmatched   = "unmatched"
)

// routeLabel is what a request's metrics are labelled with; the handlers
// below the instrumentation fill it in as the request is routed.
type routeLabel struct {
	api, operation string
}

type routeLabelKey struct{}

func labelOf(r *http.Request) *routeLabel {
	l, _ := r.Context().Value(routeLabelKey{}).(*routeLabel)
	return l
}

// instrument counts and times every request that reaches next.
func (m *apiMetrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		label := &routeLabel{api: apiOther, operation: opUnmatched}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), routeLabelKey{}, label)))
		m.requests.WithLabelValues(label.api, label.operation, strconv.Itoa(sw.statusCode())).Inc()
		m.duration.WithLabelValues(label.api, label.operation).Observe(time.Since(start).Seconds())
	})
}

// forAPI names the API of the requests next serves, and, for a handler that
// is not generated from a spec, their operation.
func forAPI(api, operation string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l := labelOf(r); l != nil {
			l.api = api
			if operation != "" {
				l.operation = operation
			}
		}
		next.ServeHTTP(w, r)
	})
}

// routeBuilder is the generated servers' middleware builder: it runs once
// the router has matched the request to an operation of the spec, and
// labels the request with that operation's id.
func routeBuilder(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l := labelOf(r); l != nil {
			if route := middleware.MatchedRouteFrom(r); route != nil && route.Operation != nil {
				if route.Operation.ID != "" {
					l.operation = route.Operation.ID
				} else {
					l.operation = route.PathPattern
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// authMethods are the values of the method label; any other method is
// counted as "other".
var authMethods = map[string]bool{"password": true, "cert": true, "ext-jwt": true, "mfa": true}

// authenticated counts an authentication attempt by how it was answered.
func (m *apiMetrics) authenticated(method string, resp middleware.Responder) {
	if !authMethods[method] {
		method = "other"
	}
	result := "failure"
	if r, ok := resp.(respond); ok && r.status < 300 {
		result = "success"
	}
	m.authentications.WithLabelValues(method, result).Inc()
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController and the envelope reach the writer beneath.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes of streamed answers on.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		f.Flush()
	}
}
