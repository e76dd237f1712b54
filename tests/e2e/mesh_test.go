package e2e

import (
	"context"
	"crypto/sha256"
	"io"
	"net"
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

func newMeshNetwork(t *testing.T, service string, encrypted bool) *meshNetwork {
	t.Helper()
	n := harness.Start(t)
	serviceID := n.Service(service, encrypted)
	n.Create("/service-edge-router-policies", map[string]any{"name": "all-services", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	a := n.Router("mesh-a")
	b := n.RouterWith("mesh-b", harness.LinkListen)
	c := n.Router("mesh-c")
	n.Create("/edge-router-policies", map[string]any{"name": "client-on-a", "semantic": "AnyOf", "identityRoles": []string{"#mesh-client"}, "edgeRouterRoles": []string{"@" + a.ID}})
	n.Create("/edge-router-policies", map[string]any{"name": "host-on-c", "semantic": "AnyOf", "identityRoles": []string{"#mesh-host"}, "edgeRouterRoles": []string{"@" + c.ID}})
	m := &meshNetwork{n: n, a: a, b: b, c: c, serviceID: serviceID}
	m.host = n.Context(n.Identity("mesh-host", service+"-bind", "mesh-host"))
	m.client = n.Context(n.Identity("mesh-client", service+"-dial", "mesh-client"))
	return m
}

// waitPath waits until router from holds a path to router to and a terminator of the
// service there.
func (m *meshNetwork) waitPath(t *testing.T, from, to *harness.Router) []string {
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

func TestMeshCircuitCrossesThreeRouters(t *testing.T) {
	for _, tc := range []struct {
		name      string
		encrypted bool
	}{{"plain", false}, {"encrypted", true}} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMeshNetwork(t, "mesh-echo", tc.encrypted)
			ln, err := m.host.Listen("mesh-echo")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			go serveEcho(ln)
			path := m.waitPath(t, m.a, m.c)
			if len(path) != 3 || path[1] != m.b.ID {
				t.Fatalf("path from A to C = %v, want through B", path)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			conn, err := m.client.Dial(ctx, "mesh-echo")
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
			want := sha256.Sum256(patternBytes(size))
			if n != size || sum != want {
				t.Fatalf("echoed %d bytes, hash match %v", n, sum == want)
			}
			circuits := m.a.Running().Edge().Circuits()
			if len(circuits) != 1 || len(circuits[0].Path) != 3 || circuits[0].BytesUp < size || circuits[0].BytesDown < size {
				t.Fatalf("router A's circuits: %+v", circuits)
			}
			if st := m.b.Listener().Stats(); st.Circuits != 0 {
				t.Fatalf("the middle router holds %d edge circuits; it should only forward", st.Circuits)
			}
		})
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
