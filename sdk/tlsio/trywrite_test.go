//go:build unix

package tlsio

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair connects a client Conn over plain TCP (no counting wrapper, so TryWrite can reach
// the socket) to a crypto/tls server, both handshaken.
func tcpPair(t *testing.T) (*Conn, *tls.Conn) {
	t.Helper()
	srvCfg, cliCfg := configs(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *tls.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		s := tls.Server(c, srvCfg)
		_ = s.Handshake()
		accepted <- s
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cliCfg.ServerName = "127.0.0.1"
	client := Client(raw, cliCfg)
	if ok, _ := client.TryWrite([]byte("x")); ok {
		t.Fatal("TryWrite wrote before the handshake")
	}
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server
}

// numbered is the i-th message of a stream: its index and filler.
func numbered(i, size int) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(i)), bytes.Repeat([]byte{byte(i)}, size-4)...)
}

// within fails the test when f has not returned after a generous while: TryWrite must never
// wait for a peer that does not read.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not return while the peer was not reading", what)
	}
}

// TestTryWriteNeverWaitsAndLosesNothing: with the peer not reading, TryWrite keeps returning
// at once; once the kernel's buffers are full it takes one more write, keeping what the
// socket did not take, and then refuses until that is written. Writes made meanwhile wait
// behind it. When the peer reads, it gets every message whole and in order.
func TestTryWriteNeverWaitsAndLosesNothing(t *testing.T) {
	client, server := tcpPair(t)
	const size = 3000
	var sent int
	within(t, "TryWrite", func() {
		for {
			if !client.WriteIdle() {
				t.Error("WriteIdle says no before a TryWrite was refused")
				return
			}
			ok, err := client.TryWrite(numbered(sent, size))
			if err != nil {
				t.Error(err)
				return
			}
			if !ok {
				t.Error("TryWrite refused while WriteIdle said yes")
				return
			}
			sent++
			client.sock.mu.Lock()
			pending := client.sock.tail != nil
			client.sock.mu.Unlock()
			if pending {
				return
			}
			if sent > 1<<20/size*64 {
				t.Error("the kernel took 64 MiB from a peer that reads nothing")
				return
			}
		}
	})
	if t.Failed() {
		return
	}
	if client.WriteIdle() {
		t.Fatal("WriteIdle says yes with a tail pending")
	}
	within(t, "a refused TryWrite", func() {
		if ok, _ := client.TryWrite(numbered(sent, size)); ok {
			t.Error("TryWrite wrote with a tail pending")
		}
	})
	// An ordinary write waits for the tail, then follows it.
	written := make(chan error, 1)
	go func() {
		_, err := client.Write(numbered(sent, size))
		written <- err
	}()
	for i := range sent + 1 {
		got := make([]byte, size)
		if _, err := io.ReadFull(server, got); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, numbered(i, size)) {
			t.Fatalf("message %d arrived as message %d", i, binary.LittleEndian.Uint32(got))
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	// The tail is gone: TryWrite writes again, straight to the socket.
	if !client.WriteIdle() {
		t.Fatal("WriteIdle says no once everything was read")
	}
	if ok, err := client.TryWrite(numbered(sent+1, size)); !ok || err != nil {
		t.Fatalf("TryWrite after the tail: %v, %v", ok, err)
	}
	got := make([]byte, size)
	if _, err := io.ReadFull(server, got); err != nil || !bytes.Equal(got, numbered(sent+1, size)) {
		t.Fatalf("the last message: %v", err)
	}
}

// TestTryWriteToAClosedPeerFails: TryWrite reports the broken connection as Write does.
func TestTryWriteToAClosedPeerFails(t *testing.T) {
	client, server := tcpPair(t)
	_ = server.Close()
	var err error
	for range 100 {
		var ok bool
		if ok, err = client.TryWrite(make([]byte, 4000)); err != nil {
			break
		}
		if !ok {
			t.Fatal("TryWrite refused on an idle connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err == nil {
		t.Fatal("TryWrite to a closed peer kept succeeding")
	}
}

// TestTryWriteNeedsASocket: over a connection that is not a socket, TryWrite never writes.
func TestTryWriteNeedsASocket(t *testing.T) {
	srvCfg, cliCfg := configs(t)
	a, b := net.Pipe()
	cliCfg.ServerName = "127.0.0.1"
	client := Client(a, cliCfg)
	server := tls.Server(b, srvCfg)
	go func() { _ = server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	defer server.Close()
	if client.WriteIdle() {
		t.Fatal("WriteIdle says yes over a pipe")
	}
	if ok, err := client.TryWrite([]byte("x")); ok || err != nil {
		t.Fatalf("TryWrite over a pipe: %v, %v", ok, err)
	}
}
