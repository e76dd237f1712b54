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
	})
}

type meshCollector struct {
	m                        *Manager
	links, failing, circuits *prometheus.Desc
}

func (c *meshCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.links
	ch <- c.failing
	ch <- c.circuits
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
}
