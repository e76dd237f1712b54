package link

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/internal/ops"
)

// newLatency is the histogram of measured link round trips (no label: a
// link's peer is not one).
func newLatency() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ostium_router_link_latency_seconds",
		Help:    "Round trips measured by the probes of this router's links.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
}

// registerMetrics puts the mesh's metrics on reg: the latency histogram and,
// read at each scrape, the links up, the peers failing to link and the
// circuits carried over links.
func (m *Manager) registerMetrics(reg prometheus.Registerer) error {
	return ops.Register(reg, m.latency, &meshCollector{m: m,
		links:    prometheus.NewDesc("ostium_router_links", "Links from this router to other routers that are up now.", nil, nil),
		failing:  prometheus.NewDesc("ostium_router_links_failing", "Routers this router should link to but fails to reach now.", nil, nil),
		circuits: prometheus.NewDesc("ostium_router_link_circuits", "Circuits carried over this router's links now.", nil, nil),
		moved:    prometheus.NewDesc("ostium_router_link_circuits_moved_total", "Circuits ending on this router moved to another path after theirs broke.", nil, nil),
		unmended: prometheus.NewDesc("ostium_router_link_circuits_unmended_total", "Circuits ending on this router closed because their broken path could not be mended.", nil, nil),
		resent:   prometheus.NewDesc("ostium_router_link_frames_resent_total", "Data frames sent again over a new path because the far end had not received them.", nil, nil),
	})
}

type meshCollector struct {
	m                        *Manager
	links, failing, circuits *prometheus.Desc
	moved, unmended, resent  *prometheus.Desc
}

func (c *meshCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.links
	ch <- c.failing
	ch <- c.circuits
	ch <- c.moved
	ch <- c.unmended
	ch <- c.resent
}

func (c *meshCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	failing := len(m.failed)
	m.mu.Unlock()
	up, circuits := 0, 0
	for _, l := range m.Links() {
		if l.isClosed() {
			continue
		}
		up++
		circuits += l.circuitCount()
	}
	ch <- prometheus.MustNewConstMetric(c.links, prometheus.GaugeValue, float64(up))
	ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, float64(failing))
	ch <- prometheus.MustNewConstMetric(c.circuits, prometheus.GaugeValue, float64(circuits))
	st := m.MendStats()
	ch <- prometheus.MustNewConstMetric(c.moved, prometheus.CounterValue, float64(st.Moved))
	ch <- prometheus.MustNewConstMetric(c.unmended, prometheus.CounterValue, float64(st.Failed))
	ch <- prometheus.MustNewConstMetric(c.resent, prometheus.CounterValue, float64(st.Resent))
}
