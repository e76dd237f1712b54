package controller

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/controller/routerctl"
	"github.com/ostium-net/ostium/controller/store"
)

// stateCollector reads, at each scrape, what the controller's store holds:
// its size, the API sessions and sessions open, and the edge routers online
// (connected to any controller of the cluster).
type stateCollector struct {
	store    *store.Store
	presence *routerctl.Presence

	size, apiSessions, sessions, routers, routersOnline *prometheus.Desc
}

func newStateCollector(s *store.Store, p *routerctl.Presence) *stateCollector {
	return &stateCollector{store: s, presence: p,
		size:          prometheus.NewDesc("ostium_store_size_bytes", "Size of the controller's database file.", nil, nil),
		apiSessions:   prometheus.NewDesc("ostium_api_sessions", "API sessions open in the network.", nil, nil),
		sessions:      prometheus.NewDesc("ostium_sessions", "Dial and bind sessions open in the network.", nil, nil),
		routers:       prometheus.NewDesc("ostium_routers", "Edge routers defined in the network.", nil, nil),
		routersOnline: prometheus.NewDesc("ostium_routers_online", "Edge routers connected to a controller of the cluster.", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.size, c.apiSessions, c.sessions, c.routers, c.routersOnline} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if size, err := c.store.Size(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(size))
	}
	var apiSessions, sessions int
	var routers []string
	err := c.store.View(func(tx *store.Tx) error {
		apiSessions = tx.Count(store.APISessions)
		sessions = tx.Count(store.Sessions)
		routers = tx.IDs(store.EdgeRouters)
		return nil
	})
	if err != nil {
		return
	}
	online := 0
	for _, id := range routers {
		if c.presence.Online(id) {
			online++
		}
	}
	ch <- prometheus.MustNewConstMetric(c.apiSessions, prometheus.GaugeValue, float64(apiSessions))
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(sessions))
	ch <- prometheus.MustNewConstMetric(c.routers, prometheus.GaugeValue, float64(len(routers)))
	ch <- prometheus.MustNewConstMetric(c.routersOnline, prometheus.GaugeValue, float64(online))
}
