package e2e

import (
	"context"
	"crypto/sha256"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tests/harness"
)

// meshNetwork is a network of three routers where only B listens for links, the client may
// use only A and the host only C: every circuit crosses A→B→C.
type meshNetwork struct {
	n         *harness.Network
	a, b, c   *harness.Router
	serviceID string
	host      *sdk.Context
	client    *sdk.Context
}

// newMeshNetwork makes the network with a plain service and an end-to-end encrypted one,
// service+"-sealed".
func newMeshNetwork(t testing.TB, service string) *meshNetwork {
	t.Helper()
	n := harness.Start(t)
	serviceID := n.Service(service, false)
	n.Service(service+"-sealed", true)
	n.Create("/service-edge-router-policies", map[string]any{"name": "all-services", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	a := n.Router("mesh-a")
	b := n.RouterWith("mesh-b", harness.LinkListen)
	c := n.Router("mesh-c")
	n.Create("/edge-router-policies", map[string]any{"name": "client-on-a", "semantic": "AnyOf", "identityRoles": []string{"#mesh-client"}, "edgeRouterRoles": []string{"@" + a.ID}})
	n.Create("/edge-router-policies", map[string]any{"name": "host-on-c", "semantic": "AnyOf", "identityRoles": []string{"#mesh-host"}, "edgeRouterRoles": []string{"@" + c.ID}})
	m := &meshNetwork{n: n, a: a, b: b, c: c, serviceID: serviceID}
	m.host = n.Context(n.Identity("mesh-host", service+"-bind", service+"-sealed-bind", "mesh-host"))
	m.client = n.Context(n.Identity("mesh-client", service+"-dial", service+"-sealed-dial", "mesh-client"))
	return m
}

// waitPath waits until router from holds a path to router to and a terminator of the
// service there.
func (m *meshNetwork) waitPath(t testing.TB, from, to *harness.Router) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mesh := from.Running().Mesh()
		path, _, ok := mesh.PathTo(to.ID)
		if ok && len(mesh.Terminators(m.serviceID)) > 0 {
			return path
		}
		if time.Now().After(deadline) {
			t.Fatalf("router %s has no path to %s (path %v) or no terminator of the service", from.Name, to.Name, path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMeshCircuitCrossesThreeRouters: a client pinned to A dials a host pinned to C, with
// only B listening for links: the circuit crosses A→B→C, bytes arrive intact both ways, plain
// and end-to-end encrypted, and the management API shows the links and the circuit.
func TestMeshCircuitCrossesThreeRouters(t *testing.T) {
	m := newMeshNetwork(t, "mesh-echo")
	for _, service := range []string{"mesh-echo", "mesh-echo-sealed"} {
		ln, err := m.host.Listen(service)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		go serveEcho(ln)
	}
	path := m.waitPath(t, m.a, m.c)
	if len(path) != 3 || path[1] != m.b.ID {
		t.Fatalf("path from A to C = %v, want through B", path)
	}
	for _, service := range []string{"mesh-echo", "mesh-echo-sealed"} {
		t.Run(service, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			conn, err := m.client.Dial(ctx, service)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := echoOnce(conn, "across three routers"); err != nil {
				t.Fatal(err)
			}
			// 8 MB both ways at once, checked by hash.
			const size = 8 << 20
			sum, n, err := echoBulk(conn, size)
			if err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256(patternBytes(size)); n != size || sum != want {
				t.Fatalf("echoed %d bytes, hash match %v", n, sum == want)
			}
			circuits := m.a.Running().Edge().Circuits()
			if len(circuits) != 1 || len(circuits[0].Path) != 3 || circuits[0].BytesUp < size || circuits[0].BytesDown < size {
				t.Fatalf("router A's circuits: %+v", circuits)
			}
			if st := m.b.Listener().Stats(); st.Circuits != 0 {
				t.Fatalf("the middle router holds %d edge circuits; it should only forward", st.Circuits)
			}
			m.checkCircuitsAPI(t, circuits[0].ID, conn)
		})
	}
	m.checkLinksAPI(t)
}

// checkCircuitsAPI lists the circuit through the management API, then closes it there: the
// dialer's connection ends.
func (m *meshNetwork) checkCircuitsAPI(t *testing.T, id string, conn net.Conn) {
	t.Helper()
	var circuits []struct {
		ID      string   `json:"id"`
		Path    []string `json:"path"`
		BytesUp int64    `json:"bytesUp"`
		Service struct {
			Name string `json:"name"`
		} `json:"service"`
		Identity struct {
			Name string `json:"name"`
		} `json:"identity"`
	}
	m.n.Mgmt("GET", "/circuits", nil, &circuits)
	if len(circuits) != 1 || circuits[0].ID != id || len(circuits[0].Path) != 3 || circuits[0].Path[0] != m.a.ID ||
		circuits[0].Path[2] != m.c.ID || circuits[0].Identity.Name != "mesh-client" || circuits[0].BytesUp == 0 {
		t.Fatalf("GET /circuits = %+v", circuits)
	}
	m.n.Mgmt("DELETE", "/circuits/"+id, nil, nil)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection still reads after its circuit was deleted")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the connection did not end when its circuit was deleted")
	}
	if status, raw := m.n.MgmtRaw("DELETE", "/circuits/"+id, nil); status != 404 || !strings.Contains(string(raw), `"NOT_FOUND"`) {
		t.Fatalf("deleting it again: %d %s", status, raw)
	}
}

// checkLinksAPI: GET /links lists A→B and C→B with their routers' names; B's detail shows
// both; bad paging is refused with the error envelope.
func (m *meshNetwork) checkLinksAPI(t *testing.T) {
	t.Helper()
	type ref struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	type linkJSON struct {
		ID      string   `json:"id"`
		Source  ref      `json:"sourceRouter"`
		Dest    ref      `json:"destRouter"`
		State   string   `json:"state"`
		Latency *float64 `json:"latency"`
	}
	var links []linkJSON
	deadline := time.Now().Add(10 * time.Second)
	for {
		links = nil
		m.n.Mgmt("GET", "/links", nil, &links)
		measured := 0
		for _, l := range links {
			if l.Latency != nil && *l.Latency > 0 {
				measured++
			}
		}
		if len(links) == 2 && measured == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /links = %+v", links)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := map[string]string{}
	for _, l := range links {
		if l.State != "connected" || l.Dest.ID != m.b.ID || l.Dest.Name != "mesh-b" {
			t.Fatalf("link %+v", l)
		}
		got[l.Source.Name] = l.ID
	}
	if got["mesh-a"] == "" || got["mesh-c"] == "" {
		t.Fatalf("links by source: %v", got)
	}
	var detail struct {
		Links []linkJSON `json:"links"`
	}
	m.n.Mgmt("GET", "/edge-routers/"+m.b.ID, nil, &detail)
	if len(detail.Links) != 2 {
		t.Fatalf("router B's detail shows links %+v", detail.Links)
	}
	for _, bad := range []string{"/links?limit=-1", "/links?limit=abc", "/circuits?offset=-5", "/circuits?limit=100000"} {
		if status, raw := m.n.MgmtRaw("GET", bad, nil); status != 400 || !strings.Contains(string(raw), `"error"`) {
			t.Errorf("GET %s: %d %s", bad, status, raw)
		}
	}
	if status, raw := m.n.MgmtRaw("DELETE", "/circuits/"+strings.Repeat("x", 300), nil); status != 404 || !strings.Contains(string(raw), `"error"`) {
		t.Errorf("DELETE an over-long circuit id: %d %s", status, raw)
	}
}

func patternBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(newPattern(7), b)
	return b
}

// echoBulk writes size bytes of a pattern while reading the echo, and hashes what came back.
func echoBulk(c net.Conn, size int) ([32]byte, int64, error) {
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	defer c.SetDeadline(time.Time{})
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, werr = c.Write(patternBytes(size))
	}()
	h := sha256.New()
	n, err := io.CopyN(h, c, int64(size))
	wg.Wait()
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if err == nil {
		err = werr
	}
	return sum, n, err
}

// TestMeshKeepsWorkingWithoutController: with the controller stopped, a circuit across three
// routers keeps flowing, and a new dial over the path the routers know still works (the
// client reuses its session; the routers check it, find the terminator and the path from
// what they hold).
func TestMeshKeepsWorkingWithoutController(t *testing.T) {
	m := newMeshNetwork(t, "mesh-alone")
	ln, err := m.host.Listen("mesh-alone")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go serveEcho(ln)
	m.waitPath(t, m.a, m.c)
	dial := func() net.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		conn, err := m.client.Dial(ctx, "mesh-alone")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	conn := dial()
	if err := echoOnce(conn, "with the controller"); err != nil {
		t.Fatal(err)
	}
	m.n.StopController()
	if err := echoOnce(conn, "the controller is gone, the circuit flows"); err != nil {
		t.Fatal(err)
	}
	again := dial()
	if err := echoOnce(again, "a new circuit without the controller"); err != nil {
		t.Fatal(err)
	}
	if c := m.a.Running().Edge().Circuits(); len(c) != 2 || len(c[0].Path) != 3 || len(c[1].Path) != 3 {
		t.Fatalf("router A's circuits without the controller: %+v", c)
	}
}
