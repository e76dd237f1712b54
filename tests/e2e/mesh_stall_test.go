package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestMeshStalledCircuitDoesNotStallOthers: across A→B→C, a host that stops
// reading one circuit holds up only that circuit. Its dialer's writes stop
// after a bounded amount (the circuit's window and the buffers on the way,
// not the whole stream), while another circuit over the same links, between
// another client and host, moves a megabyte both ways. Closing the stalled
// circuit frees its writer. (An edge channel carries all of one client's
// circuits over one TLS connection, as the edge protocol has it: a stalled
// circuit holds up that client's and that host's channel, not the links.)
func TestMeshStalledCircuitDoesNotStallOthers(t *testing.T) {
	m := newMeshNetwork(t, "mesh-stall")
	ln, err := m.host.Listen("mesh-stall")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	stalled := make(chan net.Conn, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				mode := make([]byte, 1)
				if _, err := io.ReadFull(c, mode); err != nil {
					_ = c.Close()
					return
				}
				if mode[0] == 'S' {
					stalled <- c // never read again
					return
				}
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	m.waitPath(t, m.a, m.c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	slow, err := m.client.Dial(ctx, "mesh-stall")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write([]byte("S")); err != nil {
		t.Fatal(err)
	}
	var written atomic.Int64
	writerDone := make(chan error, 1)
	go func() {
		chunk := bytes.Repeat([]byte{0x5a}, 32<<10)
		for {
			n, err := slow.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				writerDone <- err
				return
			}
		}
	}()
	// Wait until the writer makes no progress for a second.
	last, since := int64(-1), time.Now()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if n := written.Load(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writer of a circuit whose host stopped reading never stopped (%d bytes written)", written.Load())
		}
	}
	const bound = 64 << 20 // mostly the kernel's socket buffers of the two edge legs
	if last > bound {
		t.Fatalf("%d bytes were taken from the writer of a stalled circuit, more than %d: something buffers without bound", last, bound)
	}
	t.Logf("the stalled circuit took %d KiB before holding its writer", last>>10)

	host2 := m.n.Context(m.n.Identity("mesh-host-2", "mesh-stall-sealed-bind", "mesh-host"))
	ln2, err := host2.Listen("mesh-stall-sealed")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln2.Close() })
	go serveEcho(ln2)
	client2 := m.n.Context(m.n.Identity("mesh-client-2", "mesh-stall-sealed-dial", "mesh-client"))
	var other net.Conn
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if other, err = client2.Dial(ctx, "mesh-stall-sealed"); err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("dial beside a stalled circuit: %v", err)
		}
	}
	defer other.Close()
	want := sha256.Sum256(patternBytes(1 << 20))
	got, n, err := echoBulk(other, 1<<20)
	if err != nil || n != 1<<20 || got != want {
		t.Fatalf("another circuit over the same links, beside a stalled one: %d bytes, match %v, err %v", n, got == want, err)
	}

	// The stalled circuit still holds its host's end; closing the dialer's
	// end frees the writer.
	select {
	case c := <-stalled:
		defer c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the host never received the stalled circuit")
	}
	_ = slow.Close()
	select {
	case <-writerDone:
	case <-time.After(10 * time.Second):
		t.Fatal("closing a stalled circuit left its writer blocked")
	}
}
