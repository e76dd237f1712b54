package ctrlclient

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/wire"
)

// meshState is the router's copy of what the controller pushes about the mesh: the routers,
// every router's terminators, and the links every router reported. Like the token state, it
// outlives a lost connection, so paths keep being computed while the controller is away.
type meshState struct {
	mu        sync.RWMutex
	routers   map[string]ctrlproto.Router
	terms     map[string]ctrlproto.Terminator // by controller id
	byService map[string]map[string]ctrlproto.Terminator
	topology  []ctrlproto.LinkState
}

func newMeshState() *meshState {
	return &meshState{routers: map[string]ctrlproto.Router{}, terms: map[string]ctrlproto.Terminator{},
		byService: map[string]map[string]ctrlproto.Terminator{}}
}

func (s *meshState) applySync(sync *ctrlproto.Sync) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routers = make(map[string]ctrlproto.Router, len(sync.Routers))
	for _, r := range sync.Routers {
		s.routers[r.ID] = r
	}
	s.terms = make(map[string]ctrlproto.Terminator, len(sync.Terminators))
	s.byService = map[string]map[string]ctrlproto.Terminator{}
	for _, t := range sync.Terminators {
		s.putTermLocked(t)
	}
}

func (s *meshState) putTermLocked(t ctrlproto.Terminator) {
	s.deleteTermLocked(t.ID)
	s.terms[t.ID] = t
	bySvc := s.byService[t.ServiceID]
	if bySvc == nil {
		bySvc = map[string]ctrlproto.Terminator{}
		s.byService[t.ServiceID] = bySvc
	}
	bySvc[t.ID] = t
}

func (s *meshState) deleteTermLocked(id string) {
	old, ok := s.terms[id]
	if !ok {
		return
	}
	delete(s.terms, id)
	if bySvc := s.byService[old.ServiceID]; bySvc != nil {
		delete(bySvc, id)
		if len(bySvc) == 0 {
			delete(s.byService, old.ServiceID)
		}
	}
}

// applyEvents applies the mesh events of a batch; it reports whether any was.
func (s *meshState) applyEvents(ev *ctrlproto.Events) bool {
	changed := false
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range ev.Events {
		switch {
		case e.Router != nil:
			changed = true
			delete(s.routers, e.Router.ID)
			if e.Kind == ctrlproto.EventUpsert {
				s.routers[e.Router.ID] = *e.Router
			}
		case e.Terminator != nil:
			changed = true
			s.deleteTermLocked(e.Terminator.ID)
			if e.Kind == ctrlproto.EventUpsert {
				s.putTermLocked(*e.Terminator)
			}
		}
	}
	return changed
}

func (s *meshState) setTopology(t []ctrlproto.LinkState) {
	s.mu.Lock()
	s.topology = t
	s.mu.Unlock()
}

// Routers returns every router the controller told of (link.State).
func (c *Client) Routers() []ctrlproto.Router {
	c.mesh.mu.RLock()
	defer c.mesh.mu.RUnlock()
	return slices.Collect(maps.Values(c.mesh.routers))
}

// Topology returns the links every router reported, as last pushed (link.State).
func (c *Client) Topology() []ctrlproto.LinkState {
	c.mesh.mu.RLock()
	defer c.mesh.mu.RUnlock()
	return c.mesh.topology
}

// ServiceTerminators returns the terminators of a service on every router (link.State).
func (c *Client) ServiceTerminators(serviceID string) []ctrlproto.Terminator {
	c.mesh.mu.RLock()
	defer c.mesh.mu.RUnlock()
	return slices.Collect(maps.Values(c.mesh.byService[serviceID]))
}

func (c *Client) meshChanged() {
	if c.cfg.OnMeshChanged != nil {
		c.cfg.OnMeshChanged()
	}
}

// ReportLinks sends the router's links to the controller, now when connected and again after
// every reconnect.
func (c *Client) ReportLinks(links []ctrlproto.LinkState) {
	c.mu.Lock()
	c.linkReport = &ctrlproto.LinkReport{Links: links}
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		go c.sendLinkReport(conn)
	}
}

func (c *Client) sendLinkReport(conn *wire.Conn) {
	c.mu.Lock()
	report := c.linkReport
	c.mu.Unlock()
	if report == nil {
		return
	}
	body, err := ctrlproto.Encode(report)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.PingTimeout)
	defer cancel()
	c.reportMu.Lock()
	defer c.reportMu.Unlock()
	if err := conn.Send(ctx, wire.NewMessage(ctrlproto.TypeLinkReport, body)); err != nil {
		c.log.Debug("sending the link report failed", "err", err)
	}
}

// handleMesh serves the mesh messages of the controller; it reports false for other types.
func (c *Client) handleMesh(conn *wire.Conn, m *wire.Message) bool {
	switch m.ContentType {
	case ctrlproto.TypeTopology:
		var t ctrlproto.Topology
		if err := ctrlproto.Decode(m.Body, &t); err != nil {
			c.log.Warn("ignoring a bad topology", "err", err)
			return true
		}
		c.mesh.setTopology(t.Links)
		c.meshChanged()
		c.journal.replaced(false)
		c.stateChanged()
	case ctrlproto.TypeCircuitsRequest:
		var out ctrlproto.Circuits
		if c.cfg.Circuits != nil {
			out.Circuits = c.cfg.Circuits()
		}
		if out.Circuits == nil {
			out.Circuits = []ctrlproto.Circuit{}
		}
		c.replyResult(conn, m, out, nil)
	case ctrlproto.TypeCircuitClose:
		var req ctrlproto.CircuitClose
		err := ctrlproto.Decode(m.Body, &req)
		if err == nil && (c.cfg.CloseCircuit == nil || !c.cfg.CloseCircuit(req.ID, req.Reason)) {
			err = errors.New("not found")
		}
		c.replyResult(conn, m, nil, err)
	default:
		return false
	}
	return true
}

// replyResult answers a request of the controller.
func (c *Client) replyResult(conn *wire.Conn, req *wire.Message, body any, err error) {
	var reply *wire.Message
	if err != nil {
		reply = wire.NewResult(false, err.Error())
	} else {
		reply = wire.NewResult(true, "")
		if body != nil {
			b, eerr := ctrlproto.Encode(body)
			if eerr != nil {
				reply = wire.NewResult(false, eerr.Error())
			} else {
				reply.Body = b
			}
		}
	}
	reply.ReplyTo(req)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Send(ctx, reply); err != nil {
		c.log.Debug("answering the controller failed", "err", err)
	}
}
