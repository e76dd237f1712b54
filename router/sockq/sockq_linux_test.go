package sockq

import (
	"net"
	"testing"
	"time"
)

// TestEmptyProbe: on a real TCP connection the probe reports room while everything
// written has been taken by the peer's kernel, and none once writes pile up unread.
func TestEmptyProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	defer b.Close()

	empty := EmptyProbe(a.(*net.TCPConn))
	if empty == nil {
		t.Fatal("no probe for a TCP connection")
	}
	if !empty() {
		t.Fatal("a fresh connection reports a busy send buffer")
	}
	// The peer reads nothing: fill its receive buffer and ours until a write would wait.
	chunk := make([]byte, 64<<10)
	for {
		_ = a.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := a.Write(chunk); err != nil {
			break
		}
	}
	if empty() {
		t.Fatal("the probe reports room on a connection whose peer stopped reading")
	}
	if EmptyProbe(nopCloser{}) != nil {
		t.Fatal("a probe for a stream that is not a TCP connection")
	}
}

type nopCloser struct{}

func (nopCloser) Write([]byte) (int, error) { return 0, nil }
