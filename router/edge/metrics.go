package edge

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/internal/ops"
	"github.com/ostium-net/ostium/router/splice"
	"github.com/ostium-net/ostium/sdk/wire"
)

// metrics are the listener's counters. The label values are bounded: dial
// failure reasons are the fixed set of failureReason.
type metrics struct {
	circuitsTotal prometheus.Counter
	dialDuration  prometheus.Histogram
	dialFailures  *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		circuitsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ostium_router_circuits_total",
			Help: "Circuits established on this router: dials of its clients, and dials of its terminators arriving over the mesh.",
		}),
		dialDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ostium_router_dial_duration_seconds",
			Help:    "Time from a client's Connect to its circuit being established (token checks, terminator choice, the host's answer, across the mesh when the terminator is elsewhere).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		dialFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ostium_router_dial_failures_total",
			Help: "Connects refused, by reason.",
		}, []string{"reason"}),
	}
	// Every reason shows from the start, at 0.
	for _, r := range failureReasons {
		m.dialFailures.WithLabelValues(r)
	}
	return m
}

// Reasons a dial fails, the values of the reason label.
const (
	reasonInvalidAPISession  = "invalid_api_session"
	reasonInvalidSession     = "invalid_session"
	reasonWrongSessionType   = "wrong_session_type"
	reasonEncryptionRequired = "encryption_required"
	reasonNoTerminator       = "no_terminator"
	reasonHostTimeout        = "host_timeout"
	reasonHostRefused        = "host_refused"
	reasonHostError          = "host_error"
	reasonMesh               = "mesh"
	reasonCancelled          = "cancelled"
	reasonInternal           = "internal"
)

var failureReasons = []string{reasonInvalidAPISession, reasonInvalidSession, reasonWrongSessionType, reasonEncryptionRequired,
	reasonNoTerminator, reasonHostTimeout, reasonHostRefused, reasonHostError, reasonMesh, reasonCancelled, reasonInternal}

// failureReason names why a Connect was refused.
func failureReason(err error) string {
	var ce *connectError
	if !errors.As(err, &ce) {
		return reasonInternal
	}
	if ce.reason != "" {
		return ce.reason
	}
	switch ce.code {
	case wire.ErrorCodeInvalidAPISession:
		return reasonInvalidAPISession
	case wire.ErrorCodeInvalidSession:
		return reasonInvalidSession
	case wire.ErrorCodeWrongSessionType:
		return reasonWrongSessionType
	case wire.ErrorCodeEncryptionDataMissing:
		return reasonEncryptionRequired
	case wire.ErrorCodeInvalidTerminator:
		return reasonNoTerminator
	}
	return reasonInternal
}

// because gives a refusal its reason label.
func because(reason string, err error) error {
	var ce *connectError
	if errors.As(err, &ce) {
		ce.reason = reason
	}
	return err
}

// dialed records the outcome of a Connect that started at start.
func (m *metrics) dialed(start time.Time, err error) {
	if err != nil {
		m.dialFailures.WithLabelValues(failureReason(err)).Inc()
		return
	}
	m.dialDuration.Observe(time.Since(start).Seconds())
	m.circuitsTotal.Inc()
}

// register puts the listener's metrics on reg, with those read at each
// scrape: circuits, channels, terminators and the bytes circuits forwarded.
func (l *Listener) registerMetrics(reg prometheus.Registerer) error {
	return ops.Register(reg, l.met.circuitsTotal, l.met.dialDuration, l.met.dialFailures, &listenerCollector{l: l,
		circuits:    prometheus.NewDesc("ostium_router_circuits", "Circuits open on this router now.", nil, nil),
		channels:    prometheus.NewDesc("ostium_router_edge_connections", "SDK and tunneler connections to the edge listener now.", nil, nil),
		terminators: prometheus.NewDesc("ostium_router_terminators", "Terminators (binds of services) hosted on this router now.", nil, nil),
		bytes: prometheus.NewDesc("ostium_router_circuit_bytes_total",
			"Payload bytes forwarded by circuits on this router: direction up from dialers towards hosts, down from hosts towards dialers.",
			[]string{"direction"}, nil),
	})
}

type listenerCollector struct {
	l                                      *Listener
	circuits, channels, terminators, bytes *prometheus.Desc
}

func (c *listenerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.circuits
	ch <- c.channels
	ch <- c.terminators
	ch <- c.bytes
}

func (c *listenerCollector) Collect(ch chan<- prometheus.Metric) {
	l := c.l
	l.mu.Lock()
	circuits, channels := len(l.circuits), len(l.channels)
	bytes := l.closedBytes
	live := make([]*splice.Circuit, 0, len(l.circuits))
	for _, rec := range l.circuits {
		if rec.circuit != nil {
			live = append(live, rec.circuit)
		}
	}
	l.mu.Unlock()
	for _, circuit := range live {
		st := circuit.Stats()
		bytes[splice.Dialer] += st.Forwarded[splice.Dialer]
		bytes[splice.Host] += st.Forwarded[splice.Host]
	}
	ch <- prometheus.MustNewConstMetric(c.circuits, prometheus.GaugeValue, float64(circuits))
	ch <- prometheus.MustNewConstMetric(c.channels, prometheus.GaugeValue, float64(channels))
	ch <- prometheus.MustNewConstMetric(c.terminators, prometheus.GaugeValue, float64(l.terminators.count()))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(bytes[splice.Dialer]), "up")
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(bytes[splice.Host]), "down")
}
