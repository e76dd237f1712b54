package router

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/internal/ops"
)

// controlCollector reads the control channel's state at each scrape.
type controlCollector struct {
	r                    *Router
	up, synced, connects *prometheus.Desc
}

func newControlCollector(r *Router) *controlCollector {
	return &controlCollector{r: r,
		up: prometheus.NewDesc("ostium_router_control_channel_up",
			"1 while the control channel to a controller is connected, 0 while the router is without one.", nil, nil),
		synced: prometheus.NewDesc("ostium_router_control_channel_synced",
			"1 once the router holds the token state a controller pushed (kept while the controller is away).", nil, nil),
		connects: prometheus.NewDesc("ostium_router_control_channel_connects_total",
			"Control channel connections established; more than one means the router reconnected.", nil, nil),
	}
}

func (c *controlCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.synced
	ch <- c.connects
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *controlCollector) Collect(ch chan<- prometheus.Metric) {
	ctrl := c.r.ctrl
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, bit(ctrl.Connected()))
	ch <- prometheus.MustNewConstMetric(c.synced, prometheus.GaugeValue, bit(ctrl.Synced()))
	ch <- prometheus.MustNewConstMetric(c.connects, prometheus.CounterValue, float64(ctrl.Connects()))
}

// HealthReport is the router's answer to /health on its ops listener. The
// router is healthy once it holds the controller's token state (pushed, or
// saved by an earlier run): from then on it admits clients, and keeps doing so
// from its cache while the controller is away (controlChannel says whether it
// is connected now). A router that drains before it stops is not healthy.
type HealthReport struct {
	// Status is "ok", "unavailable" or "draining" (stopping: it takes no new clients, its
	// circuits finish; answered with 503 like unavailable).
	Status   string `json:"status"`
	RouterID string `json:"routerId"`
	// ControlChannel is "connected" or "disconnected".
	ControlChannel string `json:"controlChannel"`
	Synced         bool   `json:"synced"`
	EdgeListener   string `json:"edgeListener"`
	Circuits       int    `json:"circuits"`
	Links          int    `json:"links"`
}

// Health checks the router (see HealthReport).
func (r *Router) Health(context.Context) (bool, any) {
	rep := HealthReport{RouterID: r.ID, ControlChannel: "disconnected", Synced: r.ctrl.Synced(),
		EdgeListener: r.edgeLn.Addr().String(), Circuits: r.edge.Stats().Circuits, Links: len(r.mesh.Links())}
	if r.ctrl.Connected() {
		rep.ControlChannel = "connected"
	}
	ok := rep.Synced
	select {
	case <-r.done:
		ok = false
	default:
	}
	rep.Status = "ok"
	switch {
	case r.draining.Load():
		ok, rep.Status = false, "draining"
	case !ok:
		rep.Status = "unavailable"
	}
	return ok, rep
}

// OpsAddr is the ops listener's address, empty when none is configured.
func (r *Router) OpsAddr() string {
	if r.ops == nil {
		return ""
	}
	return r.ops.Addr()
}

// startOps registers the router's own collectors and, with ops.listen, serves
// the registry.
func (r *Router) startOps(reg prometheus.Registerer) error {
	if err := ops.Register(reg, newControlCollector(r)); err != nil {
		return err
	}
	if !r.cfg.Ops.Enabled() {
		return nil
	}
	s, err := ops.Start(r.cfg.Ops, ops.Gatherer(reg), ops.HealthHandler(r.Health), r.log.With("component", "ops"))
	if err != nil {
		return err
	}
	r.ops = s
	return nil
}
