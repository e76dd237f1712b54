package link

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ostium-net/ostium/router/splice"
	"github.com/ostium-net/ostium/sdk/wire"
)

// plainSender is a local endpoint that can only Send.
type plainSender struct{ sent int }

func (s *plainSender) Send(context.Context, *wire.Message) error { s.sent++; return nil }

// trySender is a local endpoint that takes a message at once when accept says so.
type trySender struct {
	plainSender
	accept bool
	err    error
	tried  int
}

func (s *trySender) TrySend(*wire.Message) (bool, error) {
	s.tried++
	return s.accept, s.err
}

// TestDeliveredAtOnceReturnsCredit: the link's reader may write a message from the far
// router straight to an idle local client; credit goes back for it as for a message the
// circuit's pump wrote, and only for a message really written.
func TestDeliveredAtOnceReturnsCredit(t *testing.T) {
	m := testManager(t, "c", &fakeState{routers: meshRouters("b", "c")})
	l, b := linkFrom(t, m, "b")
	term := m.newTerminal("x", []string{"b", "c"}, false)
	term.established = true
	if !l.attach(1, term) {
		t.Fatal("attach")
	}
	term.mu.Lock()
	term.link, term.num = l, 1
	term.mu.Unlock()
	data := func() *wire.Message {
		return &wire.Message{ContentType: wire.ContentTypeData, Body: []byte("hello")}
	}
	delivered := func() uint64 {
		term.mu.Lock()
		defer term.mu.Unlock()
		return term.delivered
	}

	// An endpoint that cannot write at once is never asked to.
	plain := term.Deliver(splice.Endpoint{Conn: &plainSender{}}).Conn.(*creditingSender)
	if sent, err := plain.TrySend(data()); sent || err != nil {
		t.Fatalf("TrySend through a plain sender: %v, %v", sent, err)
	}

	inner := &trySender{}
	ts := term.Deliver(splice.Endpoint{Conn: inner}).Conn.(*creditingSender)
	// Refused: not written, no credit.
	if sent, err := ts.TrySend(data()); sent || err != nil || inner.tried != 1 {
		t.Fatalf("a refused TrySend: %v, %v after %d tries", sent, err, inner.tried)
	}
	// Written but failed: the client never got it, no credit.
	inner.accept, inner.err = true, errors.New("broken pipe")
	if sent, err := ts.TrySend(data()); !sent || err == nil {
		t.Fatalf("a failed TrySend: %v, %v", sent, err)
	}
	if d := delivered(); d != 0 {
		t.Fatalf("%d delivered after no message was written", d)
	}
	// Written: credit for each, and a credit frame after creditEvery of them.
	inner.err = nil
	for i := range creditEvery {
		if sent, err := ts.TrySend(data()); !sent || err != nil {
			t.Fatalf("TrySend %d: %v, %v", i, sent, err)
		}
	}
	want := uint64(creditEvery) * uint64(cost(data()))
	if d := delivered(); d != want {
		t.Fatalf("%d delivered, want %d", d, want)
	}
	f := b.next()
	if f.typ != frameCredit || f.circuit != 1 || uint64(binary.LittleEndian.Uint32(f.body())) != want {
		t.Fatalf("got %s %v, want credit for %d", frameTypeName(f.typ), f.body(), want)
	}
	f.release()
	if inner.sent != 0 {
		t.Fatalf("Send was called %d times; every message went through TrySend", inner.sent)
	}
}
