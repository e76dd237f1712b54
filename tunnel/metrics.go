package tunnel

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/tunnel/relay"
)

// Collector exposes a tunneler's counters as Prometheus metrics, read from
// stats at each scrape. The side label is intercept (local clients into the
// network) or host (the network to targets); bytes are counted as each
// connection ends.
func NewCollector(stats func() Stats) prometheus.Collector {
	return &collector{stats: stats,
		opened: prometheus.NewDesc("ostium_tunnel_connections_total",
			"Connections carried by the tunneler, by side: intercept (local clients dialing services) or host (the network dialing targets).",
			[]string{"side"}, nil),
		active: prometheus.NewDesc("ostium_tunnel_connections", "Connections open now, by side.", []string{"side"}, nil),
		failed: prometheus.NewDesc("ostium_tunnel_dial_failures_total",
			"Connections that could not be set up, by side: the service could not be dialed (intercept) or the target not reached (host).",
			[]string{"side"}, nil),
		bytes: prometheus.NewDesc("ostium_tunnel_bytes_total",
			"Bytes carried by connections that ended, by side and direction: sent from the local side into the network, received from it.",
			[]string{"side", "direction"}, nil),
		services:  prometheus.NewDesc("ostium_tunnel_services", "Services intercepted or hosted now, by side.", []string{"side"}, nil),
		listeners: prometheus.NewDesc("ostium_tunnel_listeners", "Local endpoints the intercepts listen on now.", nil, nil),
	}
}

// Collector is NewCollector of this tunneler.
func (t *Tunneler) Collector() prometheus.Collector { return NewCollector(t.Stats) }

type collector struct {
	stats                                              func() Stats
	opened, active, failed, bytes, services, listeners *prometheus.Desc
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.opened, c.active, c.failed, c.bytes, c.services, c.listeners} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, side := range []struct {
		name     string
		counters relay.CounterSnapshot
		services int
	}{{"intercept", s.Intercept, len(s.Intercepted)}, {"host", s.Host, len(s.Hosted)}} {
		n := side.counters
		ch <- prometheus.MustNewConstMetric(c.opened, prometheus.CounterValue, float64(n.Opened), side.name)
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(n.Active), side.name)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(n.Failed), side.name)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(n.BytesSent), side.name, "sent")
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(n.BytesReceived), side.name, "received")
		ch <- prometheus.MustNewConstMetric(c.services, prometheus.GaugeValue, float64(side.services), side.name)
	}
	ch <- prometheus.MustNewConstMetric(c.listeners, prometheus.GaugeValue, float64(s.Listeners))
}
