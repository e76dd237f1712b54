package link

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/ostium-net/ostium/internal/ctrlproto"
)

type fakeState struct {
	routers  []ctrlproto.Router
	topology []ctrlproto.LinkState
	terms    []ctrlproto.Terminator
}

func (s *fakeState) Routers() []ctrlproto.Router     { return s.routers }
func (s *fakeState) Topology() []ctrlproto.LinkState { return s.topology }
func (s *fakeState) ServiceTerminators(id string) []ctrlproto.Terminator {
	var out []ctrlproto.Terminator
	for _, t := range s.terms {
		if t.ServiceID == id {
			out = append(out, t)
		}
	}
	return out
}

func testManager(t *testing.T, self string, st *fakeState) *Manager {
	t.Helper()
	m, err := New(Config{RouterID: self, CAs: x509.NewCertPool(), State: st,
		Certificate: func() (*tls.Certificate, error) { return &tls.Certificate{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func up(id, src, dst string, latencyMicros int64, cost uint16) ctrlproto.LinkState {
	return ctrlproto.LinkState{ID: id, Source: src, Dest: dst, State: ctrlproto.LinkConnected, LatencyMicros: latencyMicros, Cost: cost}
}

// TestRoutesNeedLiveLinks: the topology alone gives no path: a router reaches others only
// through links it holds now, and its own links in the topology are ignored.
func TestRoutesNeedLiveLinks(t *testing.T) {
	routers := []ctrlproto.Router{{ID: "a", Fingerprint: "f"}, {ID: "b", Fingerprint: "f"}, {ID: "c", Fingerprint: "f"}}
	m := testManager(t, "a", &fakeState{routers: routers, topology: []ctrlproto.LinkState{
		up("1", "a", "b", 1000, 0), up("2", "b", "c", 1000, 0),
	}})
	if routes := m.computeRoutes(); len(routes) != 0 {
		t.Fatalf("a router without live links reaches %v", routes)
	}
	if r := m.computeRoutesWith([]liveLink{{peer: "b", weight: 1}}, avoidance{})["c"]; len(r.path) != 3 || r.cost != 2 {
		t.Fatalf("with a live link to b, c is reached by %v at %d", r.path, r.cost)
	}
	// Weights: cost + latency in whole milliseconds (at least 1).
	if w := linkWeight(0, 0); w != 1 {
		t.Fatalf("weight of an unmeasured free link = %d", w)
	}
	if w := linkWeight(10, 1500); w != 12 {
		t.Fatalf("weight of cost 10, 1.5 ms = %d", w)
	}
}

// TestDijkstraThroughTopology checks path choice on a graph where this router's live links
// are stood in for by reported ones of a neighbour.
func TestDijkstraThroughTopology(t *testing.T) {
	routers := []ctrlproto.Router{{ID: "a", Fingerprint: "f"}, {ID: "b", Fingerprint: "f"}, {ID: "c", Fingerprint: "f"}, {ID: "d", Fingerprint: "f"}}
	st := &fakeState{routers: routers}
	m := testManager(t, "a", st)
	graph := func(topology ...ctrlproto.LinkState) map[string]route {
		st.topology = topology
		return m.computeRoutesWith([]liveLink{{peer: "b", weight: 1}, {peer: "d", weight: 1}}, avoidance{})
	}
	r := graph(up("bc", "b", "c", 9000, 0), up("dc", "d", "c", 2000, 0))
	if p := r["c"].path; len(p) != 3 || p[1] != "d" {
		t.Fatalf("path to c = %v (cost %d), want through d", p, r["c"].cost)
	}
	r = graph(up("bc", "b", "c", 1000, 0), up("dc", "d", "c", 1000, 50))
	if p := r["c"].path; len(p) != 3 || p[1] != "b" {
		t.Fatalf("with d's link dear, path to c = %v, want through b", p)
	}
	st.routers[3].NoTraversal = true
	r = graph(up("bc", "b", "c", 9000, 0), up("dc", "d", "c", 1000, 0))
	if p := r["c"].path; len(p) != 3 || p[1] != "b" {
		t.Fatalf("with d noTraversal, path to c = %v, want through b", p)
	}
	if p := r["d"].path; len(p) != 2 {
		t.Fatalf("a noTraversal router is still reachable itself: %v", p)
	}
	st.routers[3].NoTraversal = false
	failed := up("bc", "b", "c", 1000, 0)
	failed.State = ctrlproto.LinkFailed
	r = graph(failed)
	if _, ok := r["c"]; ok {
		t.Fatalf("a failed link was used: %v", r["c"])
	}
	st.routers[1].Disabled = true
	r = graph(up("bc", "b", "c", 1000, 0))
	if _, ok := r["c"]; ok {
		t.Fatalf("a path crossed a disabled router: %v", r["c"])
	}
}

// TestPathAvoiding: a path mended around a lost router or a lost link avoids it, using
// only links that are open now and the topology.
func TestPathAvoiding(t *testing.T) {
	st := &fakeState{routers: []ctrlproto.Router{{ID: "a", Fingerprint: "f"}, {ID: "b", Fingerprint: "f"}, {ID: "c", Fingerprint: "f"}, {ID: "d", Fingerprint: "f"}}}
	m := testManager(t, "a", st)
	st.topology = []ctrlproto.LinkState{up("bc", "b", "c", 1000, 0), up("dc", "d", "c", 9000, 0), up("bd", "b", "d", 1000, 0)}
	live := []liveLink{{peer: "b", weight: 1}, {peer: "d", weight: 1}}
	if p := m.computeRoutesWith(live, avoidance{})["c"].path; len(p) != 3 || p[1] != "b" {
		t.Fatalf("cheapest path to c = %v, want through b", p)
	}
	var noB avoidance
	noB.avoidRouter("b")
	if p := m.computeRoutesWith(live, noB)["c"].path; len(p) != 3 || p[1] != "d" {
		t.Fatalf("avoiding b, path to c = %v, want through d", p)
	}
	var noBC avoidance
	noBC.avoidLink("c", "b")
	if p := m.computeRoutesWith(live, noBC)["c"].path; len(p) != 3 || p[1] != "d" {
		t.Fatalf("avoiding the link b–c, path to c = %v, want a–d–c", p)
	}
	var neither avoidance
	neither.avoidRouter("b")
	neither.avoidRouter("d")
	if r, ok := m.computeRoutesWith(live, neither)["c"]; ok {
		t.Fatalf("avoiding b and d, c is still reached by %v", r.path)
	}
	// Without open links there is no path at all.
	if _, ok := m.pathAvoiding("c", avoidance{}); ok {
		t.Fatal("a path without any open link")
	}
}
