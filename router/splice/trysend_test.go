package splice

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// trySender wraps a peer's router Conn as a TrySender whose TrySend writes when accept says
// so (refusing otherwise, as a busy or full channel would) and counts the messages it wrote.
type trySender struct {
	*wire.Conn
	accept func(n int) bool
	calls  atomic.Int64
	direct atomic.Int64
	fail   error
}

func (s *trySender) TrySend(m *wire.Message) (bool, error) {
	n := int(s.calls.Add(1))
	if !s.accept(n) {
		return false, nil
	}
	if s.fail != nil {
		return true, s.fail
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	s.direct.Add(1)
	return true, s.Send(ctx, m)
}

// TestCircuitTrySenderKeepsOrder: messages a destination takes at once and messages it
// refuses (which go through the queue and the pump) reach it in the order they were read.
func TestCircuitTrySenderKeepsOrder(t *testing.T) {
	dialer := newPeer(t, func(*wire.Message) {})
	host := newPeer(t, func(*wire.Message) {})
	// Accept in runs, so that refused messages are queued while later ones arrive.
	ts := &trySender{Conn: host.router, accept: func(n int) bool { return n%7 < 4 }}
	c := New("c-try", Endpoint{Conn: dialer.router, ConnID: 7}, Endpoint{Conn: ts, ConnID: 9}, Config{})
	c.Start(nil)
	const total = 300
	for i := 1; i <= total; i++ {
		c.Forward(Dialer, wire.NewData(7, uint32(i), 0, []byte("payload")))
	}
	for i := 1; i <= total; i++ {
		m := host.expect(wire.ContentTypeData)
		if seq, _ := m.EdgeSeq(); seq != uint32(i) {
			t.Fatalf("message %d arrived as number %d", seq, i)
		}
		if id, _ := m.ConnID(); id != 9 {
			t.Fatalf("conn id %d", id)
		}
	}
	if ts.direct.Load() == 0 || ts.direct.Load() == total {
		t.Fatalf("%d of %d messages written at once: both paths should have been taken", ts.direct.Load(), total)
	}
}

// TestCircuitTrySenderRefusingDoesNotHoldTheReader: a destination that does not read (its
// TrySend refuses, its Send waits) leaves Forward free to return: the messages wait in the
// queue, not in the reading goroutine.
func TestCircuitTrySenderRefusingDoesNotHoldTheReader(t *testing.T) {
	dialer := newPeer(t, func(*wire.Message) {})
	host := newPeer(t, func(*wire.Message) {})
	host.gate = make(chan struct{})
	ts := &trySender{Conn: host.router, accept: func(int) bool { return false }}
	c := New("c-stuck", Endpoint{Conn: dialer.router, ConnID: 7}, Endpoint{Conn: ts, ConnID: 9}, Config{})
	c.Start(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 20; i++ {
			c.Forward(Dialer, wire.NewData(7, uint32(i), 0, []byte("to a reader that is away")))
		}
	}()
	select {
	case <-done:
	case <-time.After(testWait):
		t.Fatal("Forward waited for a destination that does not read")
	}
	close(host.gate)
	for i := 1; i <= 20; i++ {
		if seq, _ := host.expect(wire.ContentTypeData).EdgeSeq(); seq != uint32(i) {
			t.Fatalf("message %d arrived as number %d", seq, i)
		}
	}
}

// TestCircuitTrySenderFailureClosesOtherSide: a write made at once that fails ends the
// circuit like a failed write of the pump: the other side is told why.
func TestCircuitTrySenderFailureClosesOtherSide(t *testing.T) {
	dialer := newPeer(t, func(*wire.Message) {})
	host := newPeer(t, func(*wire.Message) {})
	ts := &trySender{Conn: host.router, accept: func(int) bool { return true }, fail: errors.New("stream reset")}
	c := New("c-fail", Endpoint{Conn: dialer.router, ConnID: 7}, Endpoint{Conn: ts, ConnID: 9}, Config{})
	c.Start(nil)
	c.Forward(Dialer, wire.NewData(7, 1, 0, []byte("lost")))
	m := dialer.expect(wire.ContentTypeStateClosed)
	if !strings.Contains(string(m.Body), "stream reset") {
		t.Fatalf("reason %q", m.Body)
	}
	select {
	case <-c.Done():
	case <-time.After(testWait):
		t.Fatal("circuit still open")
	}
}
