package main

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/ostium-net/ostium/internal/ops"
	"github.com/ostium-net/ostium/tunnel"
)

// opsListener is the tunneler's ops listener: /metrics from its counters and
// /health, 503 until the tunneler has signed in and started.
type opsListener struct {
	srv   *ops.Server
	stats atomic.Pointer[func() tunnel.Stats]
}

// startOps serves cfg when it names a listener; a nil *opsListener (none
// configured) ignores serve.
func startOps(cfg ops.Config, log *slog.Logger) (*opsListener, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	o := &opsListener{}
	reg := ops.NewRegistry()
	reg.MustRegister(tunnel.NewCollector(func() tunnel.Stats {
		if f := o.stats.Load(); f != nil {
			return (*f)()
		}
		return tunnel.Stats{}
	}))
	srv, err := ops.Start(cfg, reg, ops.HealthHandler(o.health), log.With("component", "ops"))
	if err != nil {
		return nil, err
	}
	o.srv = srv
	return o, nil
}

// serve makes stats the source of the metrics and reports the tunneler started.
func (o *opsListener) serve(stats func() tunnel.Stats) {
	if o != nil {
		o.stats.Store(&stats)
	}
}

// healthReport is the tunneler's /health answer.
type healthReport struct {
	// Status is "ok" once the tunneler runs, "starting" while it signs in.
	Status      string `json:"status"`
	Intercepted int    `json:"intercepted"`
	Hosted      int    `json:"hosted"`
	Listeners   int    `json:"listeners"`
}

func (o *opsListener) health(context.Context) (bool, any) {
	f := o.stats.Load()
	if f == nil {
		return false, healthReport{Status: "starting"}
	}
	s := (*f)()
	return true, healthReport{Status: "ok", Intercepted: len(s.Intercepted), Hosted: len(s.Hosted), Listeners: s.Listeners}
}

func (o *opsListener) close() {
	if o != nil {
		_ = o.srv.Close()
	}
}
