package routerctl

import (
	"fmt"
	"time"

	"github.com/ostium-net/ostium/controller/events"
	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/wire"
)

// Events of the routers attached to this node: router.online and
// router.offline as their control channels come and go (server.go), link.up
// and link.down as the links they report change state, and circuit.created
// and circuit.closed from the usage records the dialer's router sends.

// maxCircuitPath bounds the path of a reported circuit.
const maxCircuitPath = 64

// linksForEvents is the merged view of the links, when events are published.
func (s *Server) linksForEvents() map[string]ctrlproto.LinkState {
	if s.Events == nil {
		return nil
	}
	out := map[string]ctrlproto.LinkState{}
	for _, l := range s.Links() {
		out[l.ID] = l
	}
	return out
}

// publishLinkChanges publishes link.up for links connected now that were not
// before, and link.down for links connected before that are no longer.
func (s *Server) publishLinkChanges(before map[string]ctrlproto.LinkState) {
	if s.Events == nil {
		return
	}
	after := s.linksForEvents()
	now := time.Now()
	fields := func(l ctrlproto.LinkState) map[string]any {
		f := map[string]any{"linkId": l.ID, "sourceRouterId": l.Source, "destRouterId": l.Dest, "state": l.State}
		if l.LatencyMicros > 0 {
			f["latencyMs"] = float64(l.LatencyMicros) / 1000
		}
		return f
	}
	for id, l := range after {
		if l.State == ctrlproto.LinkConnected && before[id].State != ctrlproto.LinkConnected {
			s.Events.Publish(events.New(events.LinkUp, now, fields(l)))
		}
	}
	for id, l := range before {
		if l.State != ctrlproto.LinkConnected {
			continue
		}
		if a, ok := after[id]; !ok || a.State != ctrlproto.LinkConnected {
			if ok {
				l = a
			} else {
				l.State = "gone"
			}
			s.Events.Publish(events.New(events.LinkDown, now, fields(l)))
		}
	}
}

// circuitUsage publishes the circuit records a router sent.
func (rc *routerConn) circuitUsage(m *wire.Message) {
	defer m.Release()
	evs, err := circuitEvents(rc.id, m.Body)
	if err != nil {
		rc.s.Log.Warn("bad circuit usage", "router", rc.id, "err", err)
		return
	}
	for _, e := range evs {
		rc.s.Events.Publish(e)
	}
}

// circuitEvents reads a CircuitUsage body of router routerID into events.
// Only circuits that start on that router are taken.
func circuitEvents(routerID string, body []byte) ([]events.Event, error) {
	var u ctrlproto.CircuitUsage
	if err := ctrlproto.Decode(body, &u); err != nil {
		return nil, err
	}
	if len(u.Records) > ctrlproto.MaxCircuitUsage {
		return nil, fmt.Errorf("%d circuit records, more than %d", len(u.Records), ctrlproto.MaxCircuitUsage)
	}
	var out []events.Event
	for _, r := range u.Records {
		if r.ID == "" || len(r.Path) == 0 || len(r.Path) > maxCircuitPath || r.Path[0] != routerID {
			continue
		}
		f := map[string]any{"circuitId": r.ID, "serviceId": r.ServiceID, "dialerIdentityId": r.IdentityID,
			"hostIdentityId": r.HostIdentityID, "routerId": routerID, "path": r.Path, "createdAt": r.CreatedAt.UTC()}
		switch r.Event {
		case ctrlproto.CircuitStarted:
			out = append(out, events.New(events.CircuitCreated, r.CreatedAt, f))
		case ctrlproto.CircuitEnded:
			f["bytesUp"], f["bytesDown"] = r.BytesUp, r.BytesDown
			f["durationMs"] = max(r.EndedAt.Sub(r.CreatedAt).Milliseconds(), 0)
			f["reason"] = r.Reason
			out = append(out, events.New(events.CircuitClosed, r.EndedAt, f))
		}
	}
	return out, nil
}
