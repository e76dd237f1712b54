// Package routerctl owns the controller's side of its link with edge routers:
// which routers are connected now (Presence), and, as the control channel
// grows, the pushes of API-session, session and terminator changes to them.
package routerctl

import (
	"sync"
	"time"
)

// Presence records which edge routers hold a live control channel to this
// controller. It is node-local: each controller knows the routers connected
// to it.
type Presence struct {
	mu     sync.RWMutex
	online map[string]time.Time // router id → connected since
}

// NewPresence returns an empty registry: no router is online.
func NewPresence() *Presence {
	return &Presence{online: map[string]time.Time{}}
}

// Connected marks a router online.
func (p *Presence) Connected(routerID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.online[routerID]; !ok {
		p.online[routerID] = time.Now()
	}
}

// Disconnected marks a router offline.
func (p *Presence) Disconnected(routerID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.online, routerID)
}

// Online reports whether a router is connected.
func (p *Presence) Online(routerID string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	_, ok := p.online[routerID]
	return ok
}

// Since reports when a connected router connected.
func (p *Presence) Since(routerID string) (time.Time, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	t, ok := p.online[routerID]
	return t, ok
}
