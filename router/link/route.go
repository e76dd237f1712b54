package link

import (
	"container/heap"
	"slices"
	"sync"

	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/router/edge"
	"github.com/ostium-net/ostium/sdk/wire"
)

// Paths are computed on each router, from what it holds: the links every router reported
// (pushed by the controller as the topology), overridden by this router's own live links and
// their latency as it measures them. The cost of a link is the static cost of the listener
// it was dialed to plus its round trip in whole milliseconds (at least 1); a path costs the
// sum of its links. Routers marked noTraversal only start or end paths. Paths are cached
// until the links, the routers or the topology change.

// route is the cheapest path to a router.
type route struct {
	cost int
	path []string
}

type routeCache struct {
	mu    sync.Mutex
	valid bool
	paths map[string]route
}

func (c *routeCache) invalidate() {
	c.mu.Lock()
	c.valid = false
	c.mu.Unlock()
}

// routesNow returns the cheapest path to every reachable router.
func (m *Manager) routesNow() map[string]route {
	m.routes.mu.Lock()
	defer m.routes.mu.Unlock()
	if !m.routes.valid {
		m.routes.paths = m.computeRoutes()
		m.routes.valid = true
	}
	return m.routes.paths
}

// linkWeight is the cost of crossing a link.
func linkWeight(cost uint16, latencyMicros int64) int {
	ms := int((latencyMicros + 999) / 1000)
	return int(cost) + max(ms, 1)
}

type edgeTo struct {
	to     string
	weight int
}

// liveLink is one of this router's links as the path computation sees it.
type liveLink struct {
	peer   string
	weight int
}

func (m *Manager) computeRoutes() map[string]route {
	return m.computeRoutesWith(m.liveLinks(), avoidance{})
}

// liveLinks are this router's open links with their weights.
func (m *Manager) liveLinks() []liveLink {
	routers := m.routerTable()
	var live []liveLink
	for _, l := range m.Links() {
		if l.isClosed() {
			continue
		}
		dest := l.peerID
		if !l.dialed {
			dest = m.cfg.RouterID
		}
		live = append(live, liveLink{peer: l.peerID, weight: linkWeight(linkCost(routers, dest), l.Latency().Microseconds())})
	}
	return live
}

// avoidance is what a path must not use: routers, and links between two routers.
type avoidance struct {
	routers map[string]bool
	links   map[[2]string]bool
}

func (a *avoidance) avoidRouter(id string) {
	if a.routers == nil {
		a.routers = map[string]bool{}
	}
	a.routers[id] = true
}

func (a *avoidance) avoidLink(x, y string) {
	if a.links == nil {
		a.links = map[[2]string]bool{}
	}
	a.links[[2]string{x, y}] = true
	a.links[[2]string{y, x}] = true
}

func (a avoidance) clone() avoidance {
	var out avoidance
	for id := range a.routers {
		out.avoidRouter(id)
	}
	for l := range a.links {
		out.avoidLink(l[0], l[1])
	}
	return out
}

func (a avoidance) skips(x, y string) bool {
	return a.routers[x] || a.routers[y] || a.links[[2]string{x, y}]
}

// pathAvoiding is the cheapest path to a router that avoids what avoid names, computed now
// (not cached) from the open links and the topology.
func (m *Manager) pathAvoiding(dest string, avoid avoidance) ([]string, bool) {
	r, ok := m.computeRoutesWith(m.liveLinks(), avoid)[dest]
	return r.path, ok
}

func (m *Manager) computeRoutesWith(live []liveLink, avoid avoidance) map[string]route {
	self := m.cfg.RouterID
	routers := m.routerTable()
	graph := map[string][]edgeTo{}
	add := func(a, b string, w int) {
		if avoid.skips(a, b) {
			return
		}
		graph[a] = append(graph[a], edgeTo{b, w})
		graph[b] = append(graph[b], edgeTo{a, w})
	}
	// This router's own links, as measured here.
	for _, l := range live {
		if r, ok := routers[l.peer]; ok && r.usable() {
			add(self, l.peer, l.weight)
		}
	}
	// Everyone else's, as reported.
	seen := map[string]bool{}
	for _, ls := range m.cfg.State.Topology() {
		if ls.State != ctrlproto.LinkConnected || ls.Source == self || ls.Dest == self || seen[ls.ID] {
			continue
		}
		seen[ls.ID] = true
		if r, ok := routers[ls.Source]; !ok || !r.usable() {
			continue
		}
		if r, ok := routers[ls.Dest]; !ok || !r.usable() {
			continue
		}
		add(ls.Source, ls.Dest, linkWeight(ls.Cost, ls.LatencyMicros))
	}
	// Dijkstra from this router.
	dist := map[string]int{self: 0}
	prev := map[string]string{}
	pq := &routeQueue{{node: self}}
	done := map[string]bool{}
	for pq.Len() > 0 {
		it := heap.Pop(pq).(routeItem)
		if done[it.node] {
			continue
		}
		done[it.node] = true
		if it.node != self && routers[it.node].NoTraversal {
			continue // a path may end here but not go on
		}
		for _, e := range graph[it.node] {
			d := it.dist + e.weight
			if old, ok := dist[e.to]; !ok || d < old || (d == old && it.node < prev[e.to]) {
				dist[e.to] = d
				prev[e.to] = it.node
				heap.Push(pq, routeItem{node: e.to, dist: d})
			}
		}
	}
	out := make(map[string]route, len(dist))
	for node, d := range dist {
		if node == self {
			continue
		}
		path := []string{node}
		for at := node; at != self; {
			at = prev[at]
			path = append(path, at)
		}
		slices.Reverse(path)
		out[node] = route{cost: d, path: path}
	}
	return out
}

type routeItem struct {
	node string
	dist int
}

type routeQueue []routeItem

func (q routeQueue) Len() int { return len(q) }
func (q routeQueue) Less(i, j int) bool {
	if q[i].dist != q[j].dist {
		return q[i].dist < q[j].dist
	}
	return q[i].node < q[j].node
}
func (q routeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *routeQueue) Push(x any)   { *q = append(*q, x.(routeItem)) }
func (q *routeQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// Terminators returns the terminators of a service on other routers that a path reaches,
// with the path and its cost (edge.Fabric).
func (m *Manager) Terminators(serviceID string) []edge.RemoteTerminator {
	terms := m.cfg.State.ServiceTerminators(serviceID)
	if len(terms) == 0 {
		return nil
	}
	routes := m.routesNow()
	out := make([]edge.RemoteTerminator, 0, len(terms))
	for _, t := range terms {
		if t.RouterID == m.cfg.RouterID {
			continue // this router's own terminators are in the edge listener's table
		}
		r, ok := routes[t.RouterID]
		if !ok {
			continue
		}
		out = append(out, edge.RemoteTerminator{
			Terminator: edge.Terminator{ID: t.LocalID, ServiceID: t.ServiceID, RouterID: t.RouterID, HostID: t.HostID,
				Identity: t.Identity, Cost: t.Cost, Precedence: precedenceOf(t.Precedence), ListenerID: t.ListenerID},
			Path: slices.Clone(r.path), PathCost: r.cost,
		})
	}
	return out
}

// PathTo returns the cheapest path to a router and its cost.
func (m *Manager) PathTo(routerID string) ([]string, int, bool) {
	r, ok := m.routesNow()[routerID]
	return slices.Clone(r.path), r.cost, ok
}

func precedenceOf(name string) wire.Precedence {
	switch name {
	case "required":
		return wire.PrecedenceRequired
	case "failed":
		return wire.PrecedenceFailed
	}
	return wire.PrecedenceDefault
}
