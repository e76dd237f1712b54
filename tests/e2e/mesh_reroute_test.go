package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tests/harness"
)

// meshCircuitPath is the path of the one circuit router r's mesh carries as its dialer's end.
func meshCircuitPath(t testing.TB, r *harness.Router) []string {
	t.Helper()
	for _, c := range r.Running().Mesh().Circuits() {
		if c.Dialing {
			return c.Path
		}
	}
	t.Fatalf("router %s carries no circuit it dialed", r.Name)
	return nil
}

// streamThrough writes size bytes of a pattern to an echoing connection while it reads the
// echo back and checks it byte by byte, in order; once half is back it calls midway (once).
// It returns the bytes read back that matched.
func streamThrough(c net.Conn, size int, midway func()) (int, error) {
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	defer c.SetDeadline(time.Time{})
	want := patternBytes(size)
	werr := make(chan error, 1)
	go func() {
		// 32 KiB writes, so that the stream crosses the break in many messages.
		var err error
		for off := 0; off < size && err == nil; off += 32 << 10 {
			_, err = c.Write(want[off:min(off+32<<10, size)])
		}
		werr <- err
	}()
	got := make([]byte, 64<<10)
	n, called := 0, false
	for n < size {
		k, err := c.Read(got[:min(len(got), size-n)])
		if k > 0 && !bytes.Equal(got[:k], want[n:n+k]) {
			return n, fmt.Errorf("bytes %d to %d of the echo differ from what was sent", n, n+k)
		}
		n += k
		if err != nil {
			return n, err
		}
		if !called && n >= size/2 {
			called = true
			midway()
		}
	}
	return n, <-werr
}

// TestMeshCircuitMovesToAnotherPath: a client pinned to A, a host pinned to C, and two
// middle routers B and D that listen for links, so a circuit crosses A→B→C or A→D→C. With
// megabytes flowing both ways, the middle router the circuit crosses stops: the circuit moves
// to the other one, every byte arrives once and in order both ways, and it goes on.
func TestMeshCircuitMovesToAnotherPath(t *testing.T) {
	m := newMeshNetwork(t, "mesh-move")
	d := m.n.RouterWith("mesh-d", harness.LinkListen)
	ln, err := m.host.Listen("mesh-move")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go serveEcho(ln)
	m.waitPath(t, m.a, m.c)
	// A and C each link to both middle routers.
	waitUntil(t, "A and C linked to B and D", 20*time.Second, func() bool {
		return len(m.a.Running().Mesh().Links()) == 2 && len(m.c.Running().Mesh().Links()) == 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := m.client.Dial(ctx, "mesh-move")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := echoOnce(conn, "before the break"); err != nil {
		t.Fatal(err)
	}
	path := meshCircuitPath(t, m.a)
	middle, other := m.b, d
	if path[1] == d.ID {
		middle, other = d, m.b
	}
	if len(path) != 3 || path[1] != middle.ID {
		t.Fatalf("the circuit's path %v crosses neither B nor D", path)
	}

	const size = 12 << 20
	var stopped time.Time
	n, err := streamThrough(conn, size, func() {
		stopped = time.Now()
		middle.Stop()
	})
	if err != nil {
		t.Fatalf("after %d of %d bytes echoed (the middle router stopped %s before): %v", n, size, time.Since(stopped).Round(time.Millisecond), err)
	}
	if stopped.IsZero() {
		t.Fatal("the middle router was never stopped")
	}
	sa, sc := m.a.Running().Mesh().MendStats(), m.c.Running().Mesh().MendStats()
	t.Logf("moved after the break: at A %+v, at C %+v", sa, sc)
	if sa.Moved != 1 || sc.Moved != 1 || sa.Failed != 0 || sc.Failed != 0 {
		t.Fatalf("mending at A %+v and at C %+v, want one circuit moved at each", sa, sc)
	}
	if p := meshCircuitPath(t, m.a); len(p) != 3 || p[1] != other.ID || p[2] != m.c.ID {
		t.Fatalf("after the break the circuit runs over %v, want through %s", p, other.Name)
	}
	if c := m.a.Listener().Circuits(); len(c) != 1 || len(c[0].Path) != 3 || c[0].Path[1] != other.ID {
		t.Fatalf("the edge listener of A shows circuits %+v", c)
	}
	// It goes on: more bytes both ways, then an orderly half-close travels end to end.
	if err := echoOnce(conn, "after the break"); err != nil {
		t.Fatal(err)
	}
	sum, got, err := echoBulk(conn, 1<<20)
	if err != nil || got != 1<<20 || sum != patternSHA(1<<20) {
		t.Fatalf("bulk echo after the break: %d bytes, %v", got, err)
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if rest, err := io.ReadAll(conn); err != nil || len(rest) != 0 {
			t.Fatalf("after the half-close the echo ends with %d bytes, %v; want EOF", len(rest), err)
		}
	}
}

// TestMeshCircuitWithoutAnotherPathFails: with a single middle router, stopping it mid-flow
// ends the circuit with an error the SDK reports (not the end of the stream) at both ends: at
// once at the dialer's, which finds no other path, and once the host's router stopped
// waiting for the circuit to be moved at the host's.
func TestMeshCircuitWithoutAnotherPathFails(t *testing.T) {
	m := newMeshNetwork(t, "mesh-nopath")
	ln, err := m.host.Listen("mesh-nopath")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	// The host echoes, and tells how its side ended.
	hostEnded := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			hostEnded <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		hostEnded <- err
	}()
	m.waitPath(t, m.a, m.c)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := m.client.Dial(ctx, "mesh-nopath")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var stopped time.Time
	var once sync.Once
	_, err = streamThrough(conn, 16<<20, func() {
		once.Do(func() {
			// A circuit that neither moves nor ends hangs until this deadline.
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			stopped = time.Now()
			m.b.Stop()
		})
	})
	took := time.Since(stopped)
	t.Logf("the circuit ended %s after the middle router stopped: %v", took.Round(time.Millisecond), err)
	var ce *sdk.ConnectionError
	switch {
	case stopped.IsZero():
		t.Fatalf("the stream ended before the middle router stopped: %v", err)
	case errors.Is(err, io.EOF) || err == nil:
		t.Fatalf("the circuit ended as if the host closed it (%v), not with an error", err)
	case !errors.As(err, &ce):
		t.Fatalf("the circuit ended with %v, not an error saying the network failed it", err)
	}
	// The host's side, which waited for the circuit to be moved, ends with an error too.
	select {
	case err := <-hostEnded:
		t.Logf("the host's side ended %s after the middle router stopped: %v", time.Since(stopped).Round(time.Millisecond), err)
		if !errors.As(err, &ce) {
			t.Fatalf("the host's side ended with %v, not an error saying the network failed it", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the host's side of the circuit hangs")
	}
}
