// Package routerctl owns the controller's side of its link with edge routers:
// which routers are connected now (Presence), and, as the control channel
// grows, the pushes of API-session, session and terminator changes to them.
package routerctl

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ostium-net/ostium/controller/domain"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
)

// DefaultLease is how long a router counts as online on the other nodes of
// the cluster after the node holding its control channel last vouched for
// it. The node renews every third of it.
const DefaultLease = 15 * time.Second

// Presence records which edge routers are online. Those holding a control
// channel to this node are known at once. Once Share runs, this node's
// routers are also written to the replicated state as leases it renews, and
// Online answers for the routers every other node holds: a router attached
// to any controller is listed by all of them. Sharing is a hint that never
// holds anything up: a router connects whether or not the write succeeds,
// and a failed write is tried again at the next renewal.
type Presence struct {
	mu     sync.RWMutex
	online map[string]time.Time // router id → connected since (this node)
	leases map[string]time.Time // router id → lease end (any node)

	kick chan struct{}
}

// NewPresence returns an empty registry: no router is online.
func NewPresence() *Presence {
	return &Presence{online: map[string]time.Time{}, leases: map[string]time.Time{}, kick: make(chan struct{}, 1)}
}

// Connected marks a router online.
func (p *Presence) Connected(routerID string) {
	p.mu.Lock()
	_, known := p.online[routerID]
	if !known {
		p.online[routerID] = time.Now()
	}
	p.mu.Unlock()
	if !known {
		p.changed()
	}
}

// Disconnected marks a router offline.
func (p *Presence) Disconnected(routerID string) {
	p.mu.Lock()
	_, known := p.online[routerID]
	delete(p.online, routerID)
	p.mu.Unlock()
	if known {
		p.changed()
	}
}

func (p *Presence) changed() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Online reports whether a router is connected to this node, or to another
// node that vouched for it within its lease.
func (p *Presence) Online(routerID string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if _, ok := p.online[routerID]; ok {
		return true
	}
	until, ok := p.leases[routerID]
	return ok && time.Now().Before(until)
}

// Since reports when a router connected to this node.
func (p *Presence) Since(routerID string) (time.Time, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	t, ok := p.online[routerID]
	return t, ok
}

// Local lists, sorted, the routers connected to this node.
func (p *Presence) Local() []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Sorted(maps.Keys(p.online))
}

// Share keeps this node's routers in the replicated state as leases of
// lease (DefaultLease when zero), renewed at once when a router comes or
// goes and every third of a lease, and follows the leases of every node.
// It runs until ctx ends, then releases this node's leases if it still can.
func (p *Presence) Share(ctx context.Context, st *state.State, nodeID string, lease time.Duration, log *slog.Logger) {
	if lease <= 0 {
		lease = DefaultLease
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stop := st.Store.Listen(func(_ uint64, changes []store.Change) {
		for _, c := range changes {
			if c.Kind == store.RouterPresences {
				p.follow(c)
			}
		}
	})
	defer stop()
	p.reload(st)
	renew := time.NewTicker(lease / 3)
	defer renew.Stop()
	var wrote []string
	for {
		select {
		case <-ctx.Done():
			if len(wrote) > 0 {
				release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				_ = st.Apply(release, &domain.RenewRouterLeases{NodeID: nodeID, RouterIDs: []string{}, Lease: lease})
				cancel()
			}
			return
		case <-p.kick:
		case <-renew.C:
			p.reload(st) // catches up after a snapshot restore, which notifies no listener
		}
		local := p.Local()
		if len(local) == 0 && len(wrote) == 0 {
			continue
		}
		apply, cancel := context.WithTimeout(ctx, lease/3)
		err := st.Apply(apply, &domain.RenewRouterLeases{NodeID: nodeID, RouterIDs: local, Lease: lease})
		cancel()
		if err != nil {
			log.Debug("could not share router presence; retrying at the next renewal", "routers", len(local), "err", err)
			continue
		}
		wrote = local
	}
}

func (p *Presence) follow(c store.Change) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.New == nil {
		delete(p.leases, c.Old.Base().ID)
		return
	}
	r := c.New.(*store.RouterPresence)
	p.leases[r.ID] = r.LeaseUntil
}

func (p *Presence) reload(st *state.State) {
	leases := map[string]time.Time{}
	_ = st.View(func(tx *store.Tx) error {
		return tx.ForEach(store.RouterPresences, func(r store.Record) error {
			leases[r.Base().ID] = r.(*store.RouterPresence).LeaseUntil
			return nil
		})
	})
	p.mu.Lock()
	p.leases = leases
	p.mu.Unlock()
}
