package wire

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestTrySendWritesOnlyWhenNothingWaits: TrySend writes (numbering the message in line with
// Send) when the stream reports room and no write is under way, and otherwise reports false
// without touching the message.
func TestTrySendWritesOnlyWhenNothingWaits(t *testing.T) {
	a, b := net.Pipe()
	var ready atomic.Bool
	got := make(chan *Message, 16)
	sender := NewConn(a, nil, ConnConfig{WriteReady: ready.Load})
	receiver := NewConn(b, func(m *Message) { got <- m }, ConnConfig{})
	t.Cleanup(func() { sender.Close(); receiver.Close() })

	m := NewData(1, 1, 0, []byte("not yet"))
	if sent, err := sender.TrySend(m); sent || err != nil {
		t.Fatalf("TrySend on a stream without room: %v %v", sent, err)
	}
	if m.Sequence != 0 {
		t.Fatalf("a refused message got sequence %d", m.Sequence)
	}

	ready.Store(true)
	if sent, err := sender.TrySend(m); !sent || err != nil {
		t.Fatalf("TrySend with room: %v %v", sent, err)
	}
	if err := sender.Send(context.Background(), NewData(1, 2, 0, []byte("then"))); err != nil {
		t.Fatal(err)
	}
	for want := int32(1); want <= 2; want++ {
		select {
		case r := <-got:
			if r.Sequence != want {
				t.Fatalf("sequence %d, want %d", r.Sequence, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("nothing arrived")
		}
	}

	if sent, _ := sender.TrySend(NewData(1, 3, 0, make([]byte, MaxTrySendLen))); sent {
		t.Fatal("TrySend wrote a message above MaxTrySendLen")
	}

	// A write under way (held here as Send holds it) makes TrySend refuse rather than wait.
	sender.writeSem <- struct{}{}
	if sent, _ := sender.TrySend(NewData(1, 4, 0, []byte("busy"))); sent {
		t.Fatal("TrySend wrote while another write was under way")
	}
	<-sender.writeSem

	c, d := net.Pipe()
	plain := NewConn(c, nil, ConnConfig{})
	t.Cleanup(func() { plain.Close(); d.Close() })
	if sent, _ := plain.TrySend(NewData(1, 5, 0, nil)); sent {
		t.Fatal("TrySend wrote without a WriteReady probe")
	}
}

// TestTrySendThroughTryWrite: with a TryWrite, TrySend writes each frame whole through it;
// when it does not start after WriteReady said it would (a write of the stream's own got in
// between), the frame, numbered already, is written the ordinary way, so the numbering has
// no gap.
func TestTrySendThroughTryWrite(t *testing.T) {
	a, b := net.Pipe()
	var tried, taken atomic.Int32
	var refuse atomic.Bool
	got := make(chan *Message, 16)
	sender := NewConn(a, nil, ConnConfig{
		WriteReady: func() bool { return true },
		TryWrite: func(p []byte) (bool, error) {
			tried.Add(1)
			if refuse.Load() {
				return false, nil
			}
			taken.Add(1)
			_, err := a.Write(p)
			return true, err
		},
	})
	receiver := NewConn(b, func(m *Message) { got <- m }, ConnConfig{})
	t.Cleanup(func() { sender.Close(); receiver.Close() })

	for i, body := range []string{"through TryWrite", "refused, then written"} {
		refuse.Store(i == 1)
		if sent, err := sender.TrySend(NewData(1, uint32(i+1), 0, []byte(body))); !sent || err != nil {
			t.Fatalf("TrySend %q: %v %v", body, sent, err)
		}
		select {
		case r := <-got:
			if string(r.Body) != body || r.Sequence != int32(i+1) {
				t.Fatalf("got %q with sequence %d, want %q with %d", r.Body, r.Sequence, body, i+1)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q never arrived", body)
		}
	}
	if tried.Load() != 2 || taken.Load() != 1 {
		t.Fatalf("TryWrite tried %d times and took %d frames, want 2 and 1", tried.Load(), taken.Load())
	}
	// Through TryWrite, which never waits, messages above MaxTrySendLen go too, up to
	// MaxTryWriteLen.
	refuse.Store(false)
	big := make([]byte, 16*MaxTrySendLen)
	if sent, err := sender.TrySend(NewData(1, 3, 0, big)); !sent || err != nil {
		t.Fatalf("TrySend of %d bytes through TryWrite: %v %v", len(big), sent, err)
	}
	select {
	case r := <-got:
		if len(r.Body) != len(big) {
			t.Fatalf("got %d bytes, want %d", len(r.Body), len(big))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the large message never arrived")
	}
	if sent, _ := sender.TrySend(NewData(1, 4, 0, make([]byte, MaxTryWriteLen))); sent {
		t.Fatal("TrySend wrote a message above MaxTryWriteLen")
	}
}
