package relay

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpPair is two ends of a real TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server
}

// TestSpliceCarriesHalfClose: the client half-closes after its request, and
// still gets the reply the far server sends after reading EOF.
func TestSpliceCarriesHalfClose(t *testing.T) {
	client, near := tcpPair(t)
	far, farServer := tcpPair(t)
	type counts struct{ ab, ba int64 }
	spliced := make(chan counts, 1)
	go func() {
		ab, ba := Splice(near, far)
		spliced <- counts{ab, ba}
	}()
	// The far server reads everything, then answers.
	go func() {
		req, _ := io.ReadAll(farServer)
		_, _ = farServer.Write(append([]byte("got:"), req...))
		_ = farServer.Close()
	}()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := client.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := client.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	reply, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if string(reply) != "got:request" {
		t.Fatalf("reply %q", reply)
	}
	c := <-spliced
	if c.ab != 7 || c.ba != 11 {
		t.Fatalf("counted %d and %d bytes, want 7 and 11", c.ab, c.ba)
	}
}

func TestDatagramFraming(t *testing.T) {
	var buf bytes.Buffer
	msgs := [][]byte{[]byte("one"), {}, bytes.Repeat([]byte{7}, MaxDatagram)}
	for _, m := range msgs {
		if err := WriteDatagram(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteDatagram(&buf, make([]byte, MaxDatagram+1)); err == nil {
		t.Fatal("an oversized datagram was framed")
	}
	rd := make([]byte, MaxDatagram)
	for _, m := range msgs {
		n, err := ReadDatagram(&buf, rd)
		if err != nil || !bytes.Equal(rd[:n], m) {
			t.Fatalf("read %d bytes, %v; want %d", n, err, len(m))
		}
	}
	if _, err := ReadDatagram(&buf, rd); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v, want EOF", err)
	}
	if _, err := ReadDatagram(bytes.NewReader([]byte{0, 5, 'a'}), rd); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated frame: %v", err)
	}
}

func TestCounters(t *testing.T) {
	var c Counters
	done := c.Open()
	c.Open()
	c.Fail()
	done(10, 20)
	done(10, 20) // counted once
	s := c.Snapshot()
	if s != (CounterSnapshot{Opened: 2, Active: 1, Failed: 1, BytesSent: 10, BytesReceived: 20}) {
		t.Fatalf("snapshot %+v", s)
	}
}

func FuzzReadDatagram(f *testing.F) {
	f.Add([]byte{0, 3, 'a', 'b', 'c', 0, 0})
	f.Add([]byte{0xff, 0xff, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bytes.NewReader(stream)
		buf := make([]byte, MaxDatagram)
		var out bytes.Buffer
		for {
			n, err := ReadDatagram(r, buf)
			if err != nil {
				break
			}
			if err := WriteDatagram(&out, buf[:n]); err != nil {
				t.Fatal(err)
			}
		}
		// What was read re-frames to a prefix of the input.
		if !bytes.HasPrefix(stream, out.Bytes()) {
			t.Fatalf("re-framed %x is not a prefix of %x", out.Bytes(), stream)
		}
	})
}

func TestCarryDatagramsBothWaysThenIdle(t *testing.T) {
	overlay, far := tcpPair(t)
	defer far.Close()
	in := make(chan []byte, 4)
	var mu sync.Mutex
	var replies []string
	type result struct{ sent, received int64 }
	ended := make(chan result, 1)
	go func() {
		s, r := CarryDatagrams(overlay, in, func(d []byte) error {
			mu.Lock()
			replies = append(replies, string(d))
			mu.Unlock()
			return nil
		}, 300*time.Millisecond, nil)
		ended <- result{s, r}
	}()
	in <- []byte("ping")
	buf := make([]byte, MaxDatagram)
	n, err := ReadDatagram(far, buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("far side read %q, %v; want ping", buf[:n], err)
	}
	// Replies alone keep the flow alive past the idle limit.
	for i := 0; i < 4; i++ {
		if err := WriteDatagram(far, []byte("pong")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	var res result
	select {
	case res = <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("an idle flow did not end")
	}
	if res.sent != 4 || res.received != 16 {
		t.Fatalf("carried %d bytes out and %d back, want 4 and 16", res.sent, res.received)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(replies) != 4 {
		t.Fatalf("replies %q, want four pongs: replies must keep the flow open", replies)
	}
	if _, err := ReadDatagram(far, buf); err == nil {
		t.Fatal("the overlay connection is still open after the flow ended")
	}
}

func TestCarryDatagramsStops(t *testing.T) {
	overlay, far := tcpPair(t)
	defer far.Close()
	stop := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		CarryDatagrams(overlay, make(chan []byte), func([]byte) error { return nil }, time.Hour, stop)
		close(ended)
	}()
	close(stop)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not end the flow")
	}
}
