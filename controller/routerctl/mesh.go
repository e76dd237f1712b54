package routerctl

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/wire"
)

// The mesh as the controller sees it: routers tell their link listener in their Hello (kept
// on their record, so every node and every router learns it through the store), and report
// their links as they change. The reports live in memory on the node the router is attached
// to; they are merged into the topology pushed to every router, from which routers compute
// paths. Circuits are asked of the routers when listed: the router a circuit starts on
// reports it, with its path and byte counts.

// Bounds of a link report.
const (
	maxReportedLinks = 1024
	maxLinkIDLength  = 128
)

// meshLinks holds the link reports of the routers attached to this node.
type meshLinks struct {
	// changeMu orders changes of reports, so that the link events each
	// change publishes follow one another.
	changeMu sync.Mutex
	mu       sync.Mutex
	reports  map[string][]ctrlproto.LinkState // by reporting router
	dirty    chan struct{}
}

func (s *Server) meshInit() {
	s.meshOnce.Do(func() {
		s.mesh = &meshLinks{reports: map[string][]ctrlproto.LinkState{}, dirty: make(chan struct{}, 1)}
		s.goTracked(s.topologyLoop)
	})
}

// linkReport records what a router says of its links.
func (rc *routerConn) linkReport(m *wire.Message) {
	defer m.Release()
	var r ctrlproto.LinkReport
	if err := ctrlproto.Decode(m.Body, &r); err != nil {
		rc.s.Log.Warn("bad link report", "router", rc.id, "err", err)
		return
	}
	if len(r.Links) > maxReportedLinks {
		rc.s.Log.Warn("link report too long", "router", rc.id, "links", len(r.Links))
		return
	}
	links := make([]ctrlproto.LinkState, 0, len(r.Links))
	for _, l := range r.Links {
		if l.ID == "" || len(l.ID) > maxLinkIDLength || (l.Source != rc.id && l.Dest != rc.id) || l.Source == l.Dest ||
			(l.State != ctrlproto.LinkConnected && l.State != ctrlproto.LinkFailed) || l.LatencyMicros < 0 {
			continue
		}
		links = append(links, l)
	}
	s := rc.s
	s.mesh.changeMu.Lock()
	defer s.mesh.changeMu.Unlock()
	before := s.linksForEvents()
	s.mesh.mu.Lock()
	s.mesh.reports[rc.id] = links
	s.mesh.mu.Unlock()
	s.publishLinkChanges(before)
	s.topologyChanged()
}

// dropLinkReport forgets a router's report when its control channel ends.
func (s *Server) dropLinkReport(routerID string) {
	s.mesh.changeMu.Lock()
	defer s.mesh.changeMu.Unlock()
	before := s.linksForEvents()
	s.mesh.mu.Lock()
	_, had := s.mesh.reports[routerID]
	delete(s.mesh.reports, routerID)
	s.mesh.mu.Unlock()
	if had {
		s.publishLinkChanges(before)
		s.topologyChanged()
	}
}

func (s *Server) topologyChanged() {
	select {
	case s.mesh.dirty <- struct{}{}:
	default:
	}
}

// Links returns the links the routers attached to this node report, each once: a link both
// ends report is connected when either says so, and the lower latency is kept.
func (s *Server) Links() []ctrlproto.LinkState {
	s.meshInit()
	s.mesh.mu.Lock()
	defer s.mesh.mu.Unlock()
	byID := map[string]ctrlproto.LinkState{}
	for _, reports := range s.mesh.reports {
		for _, l := range reports {
			have, ok := byID[l.ID]
			switch {
			case !ok:
				byID[l.ID] = l
			case have.State != ctrlproto.LinkConnected && l.State == ctrlproto.LinkConnected:
				byID[l.ID] = l
			case have.State == l.State && l.LatencyMicros > 0 && (have.LatencyMicros == 0 || l.LatencyMicros < have.LatencyMicros):
				have.LatencyMicros = l.LatencyMicros
				byID[l.ID] = have
			}
		}
	}
	out := slices.Collect(maps.Values(byID))
	slices.SortFunc(out, func(a, b ctrlproto.LinkState) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// topologyLoop pushes the topology to every router when it changes, at most every 100 ms.
func (s *Server) topologyLoop() {
	for {
		select {
		case <-s.mesh.dirty:
		case <-s.stopped():
			return
		}
		body, err := ctrlproto.Encode(ctrlproto.Topology{Links: s.Links()})
		if err == nil {
			for _, rc := range s.connected() {
				rc.push(ctrlproto.TypeTopology, body)
			}
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-s.stopped():
			return
		}
	}
}

// push sends a message to the router without making the caller wait.
func (rc *routerConn) push(contentType int32, body []byte) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rc.wc.Send(ctx, wire.NewMessage(contentType, body))
	}()
}

// connected returns the routers attached now.
func (s *Server) connected() []*routerConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Values(s.routers))
}

// Circuits asks every attached router for the circuits that start on it.
func (s *Server) Circuits(ctx context.Context) ([]ctrlproto.Circuit, error) {
	routers := s.connected()
	var (
		mu   sync.Mutex
		out  []ctrlproto.Circuit
		wg   sync.WaitGroup
		errs []error
	)
	for _, rc := range routers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got ctrlproto.Circuits
			if err := rc.request(ctx, ctrlproto.TypeCircuitsRequest, nil, &got); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("router %s: %w", rc.id, err))
				mu.Unlock()
				return
			}
			mu.Lock()
			for _, c := range got.Circuits {
				if c.ID != "" && len(c.Path) > 0 && c.Path[0] == rc.id {
					out = append(out, c)
				}
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b ctrlproto.Circuit) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// CloseCircuit asks every attached router to close a circuit; it reports whether one held it.
func (s *Server) CloseCircuit(ctx context.Context, id, reason string) (bool, error) {
	routers := s.connected()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		found bool
	)
	for _, rc := range routers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rc.request(ctx, ctrlproto.TypeCircuitClose, ctrlproto.CircuitClose{ID: id, Reason: reason}, nil) == nil {
				mu.Lock()
				found = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return found, nil
}

// request sends a request to the router and decodes the body of its successful Result.
func (rc *routerConn) request(ctx context.Context, contentType int32, body, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = ctrlproto.Encode(body); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reply, err := rc.wc.Request(ctx, wire.NewMessage(contentType, raw))
	if err != nil {
		return err
	}
	defer reply.Release()
	if !reply.ResultSuccess() {
		return fmt.Errorf("router refused: %s", reply.Body)
	}
	if out != nil {
		return ctrlproto.Decode(reply.Body, out)
	}
	return nil
}

// routerOf describes a router record for the mesh.
func meshRouterOf(r *store.EdgeRouter) *ctrlproto.Router {
	out := &ctrlproto.Router{ID: r.ID, Name: r.Name, Fingerprint: r.Fingerprint, Disabled: r.Disabled, NoTraversal: r.NoTraversal}
	if r.LinkAddress != "" {
		out.Link = &ctrlproto.LinkListener{Address: r.LinkAddress, Cost: r.LinkCost}
	}
	return out
}

func meshTerminatorOf(t *store.Terminator) *ctrlproto.Terminator {
	return &ctrlproto.Terminator{ID: t.ID, LocalID: t.Address, ServiceID: t.ServiceID, RouterID: t.RouterID,
		HostID: t.IdentityID, Identity: t.Identity, Cost: t.Cost, Precedence: t.Precedence}
}
