package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tests/harness"
)

// dialedPaths are the paths of the circuits router r's mesh carries as their dialer's end.
func dialedPaths(r *harness.Router) [][]string {
	var out [][]string
	for _, c := range r.Running().Mesh().Circuits() {
		if c.Dialing {
			out = append(out, c.Path)
		}
	}
	return out
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
// megabytes flowing both ways over a plain and an end-to-end encrypted circuit, the middle
// router the plain circuit crosses stops: the circuits over it move to the other one, every
// byte arrives once and in order both ways (the encrypted stream would not decrypt
// otherwise), and they go on.
func TestMeshCircuitMovesToAnotherPath(t *testing.T) {
	m := newMeshNetwork(t, "mesh-move")
	d := m.n.RouterWith("mesh-d", harness.LinkListen)
	for _, service := range []string{"mesh-move", "mesh-move-sealed"} {
		ln, err := m.host.Listen(service)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		go serveEcho(ln)
	}
	m.waitPath(t, m.a, m.c)
	// A and C each link to both middle routers.
	waitUntil(t, "A and C linked to B and D", 20*time.Second, func() bool {
		return len(m.a.Running().Mesh().Links()) == 2 && len(m.c.Running().Mesh().Links()) == 2
	})
	dial := func(service string) net.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		conn, err := m.client.Dial(ctx, service)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if err := echoOnce(conn, "before the break"); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	conn := dial("mesh-move")
	path := dialedPaths(m.a)[0]
	sealed := dial("mesh-move-sealed")
	middle, other := m.b, d
	if path[1] == d.ID {
		middle, other = d, m.b
	}
	// Paths follow measured latency, so one may also cross the B–D link
	// (A→B→D→C); stopping the router after A leaves A→(the other)→C.
	if len(path) < 3 || len(path) > 4 || path[1] != middle.ID {
		t.Fatalf("the circuit's path %v crosses neither B nor D", path)
	}
	crossing := 0
	for _, p := range dialedPaths(m.a) {
		if slices.Contains(p[1:len(p)-1], middle.ID) {
			crossing++
		}
	}

	const size = 12 << 20
	sealedDone := make(chan error, 1)
	go func() {
		n, err := streamThrough(sealed, size, func() {})
		if err != nil {
			err = fmt.Errorf("the encrypted circuit, after %d of %d bytes echoed: %w", n, size, err)
		}
		sealedDone <- err
	}()
	var stopped time.Time
	n, err := streamThrough(conn, size, func() {
		stopped = time.Now()
		middle.Stop()
	})
	if err != nil {
		t.Fatalf("after %d of %d bytes echoed (the middle router stopped %s before): %v", n, size, time.Since(stopped).Round(time.Millisecond), err)
	}
	if err := <-sealedDone; err != nil {
		t.Fatal(err)
	}
	if stopped.IsZero() {
		t.Fatal("the middle router was never stopped")
	}
	sa, sc := m.a.Running().Mesh().MendStats(), m.c.Running().Mesh().MendStats()
	t.Logf("%d circuits crossed the stopped router; moved: at A %+v, at C %+v", crossing, sa, sc)
	if sa.Moved != uint64(crossing) || sc.Moved != uint64(crossing) || sa.Failed != 0 || sc.Failed != 0 {
		t.Fatalf("mending at A %+v and at C %+v, want %d circuits moved at each", sa, sc, crossing)
	}
	for _, p := range dialedPaths(m.a) {
		if len(p) != 3 || p[1] != other.ID || p[2] != m.c.ID {
			t.Fatalf("after the break a circuit runs over %v, want through %s", p, other.Name)
		}
	}
	for _, c := range m.a.Listener().Circuits() {
		if len(c.Path) != 3 || c.Path[1] != other.ID {
			t.Fatalf("the edge listener of A shows circuits %+v", c)
		}
	}
	// They go on: more bytes both ways, then an orderly half-close travels end to end.
	for _, c := range []net.Conn{conn, sealed} {
		if err := echoOnce(c, "after the break"); err != nil {
			t.Fatal(err)
		}
		sum, got, err := echoBulk(c, 1<<20)
		if err != nil || got != 1<<20 || sum != patternSHA(1<<20) {
			t.Fatalf("bulk echo after the break: %d bytes, %v", got, err)
		}
		if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
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
