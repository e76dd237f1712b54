package routerctl

import (
	"context"
	"slices"
	"time"

	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/wire"
)

// controllersCheckInterval is how often the cluster's controller list is
// compared with what routers were last told.
const controllersCheckInterval = 2 * time.Second

// controllerEndpoints is the cluster's control-channel endpoints, sorted,
// or nil when the Server has no source for them.
func (s *Server) controllerEndpoints() []string {
	if s.Controllers == nil {
		return nil
	}
	eps := slices.Clone(s.Controllers())
	slices.Sort(eps)
	return slices.Compact(eps)
}

// sendControllers tells one router every controller it may reconnect to.
func (s *Server) sendControllers(wc *wire.Conn, endpoints []string) {
	if len(endpoints) == 0 {
		return
	}
	body, err := ctrlproto.Encode(ctrlproto.Controllers{Endpoints: endpoints})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := wc.Send(ctx, wire.NewMessage(ctrlproto.TypeControllers, body)); err != nil {
		s.Log.Debug("sending the controller list failed", "err", err)
	}
}

// watchControllers tells every connected router when the cluster's
// controllers change, until the Server closes.
func (s *Server) watchControllers() {
	if s.Controllers == nil {
		return
	}
	last := s.controllerEndpoints()
	t := time.NewTicker(controllersCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopped():
			return
		case <-t.C:
		}
		now := s.controllerEndpoints()
		if slices.Equal(now, last) {
			continue
		}
		last = now
		s.mu.Lock()
		conns := make([]*wire.Conn, 0, len(s.routers))
		for _, r := range s.routers {
			conns = append(conns, r.wc)
		}
		s.mu.Unlock()
		for _, wc := range conns {
			s.sendControllers(wc, now)
		}
	}
}
