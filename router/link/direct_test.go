//go:build linux

package link

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"
)

// sequenced is the body of the i-th frame a test sends on a circuit: its index, then filler
// that makes every seventh frame too large to be written by its sender.
func sequenced(i int) []byte {
	body := binary.LittleEndian.AppendUint32(nil, uint32(i))
	size := 60
	if i%7 == 0 {
		size = 3 * maxDirectWrite
	}
	return append(body, bytes.Repeat([]byte{byte(i)}, size)...)
}

// TestSenderWrittenFramesKeepTheirOrder: several circuits send at once, small frames that
// their senders may write themselves and large ones that always take the writer; the peer
// gets every frame of each circuit, whole and in order.
func TestSenderWrittenFramesKeepTheirOrder(t *testing.T) {
	m := testManager(t, "c", &fakeState{routers: meshRouters("b", "c")})
	l, peer := linkFrom(t, m, "b")
	const circuits, perCircuit = 4, 300
	var wg sync.WaitGroup
	for c := range circuits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perCircuit {
				if !l.send(frameData, 0, uint32(2*c+2), nil, sequenced(i), nil) {
					t.Errorf("circuit %d: frame %d refused by an open link", c, i)
					return
				}
			}
		}()
	}
	next := make(map[uint32]int)
	for range circuits * perCircuit {
		f := peer.next()
		want := sequenced(next[f.circuit])
		if f.typ != frameData || !bytes.Equal(f.body(), want) {
			t.Fatalf("circuit %d: frame %d arrived as %s of %d bytes (index %d)", f.circuit, next[f.circuit],
				frameTypeName(f.typ), len(f.body()), binary.LittleEndian.Uint32(f.body()))
		}
		next[f.circuit]++
		f.release()
	}
	wg.Wait()
	// With the link idle, a small frame is written by its sender (once the peer's kernel
	// acknowledged everything before it).
	for try := 0; l.directWrites.Load() == 0; try++ {
		if try == 100 {
			t.Fatal("no frame was written by its sender on an idle link")
		}
		time.Sleep(10 * time.Millisecond)
		l.send(frameData, 0, 99, nil, []byte("idle"), nil)
		peer.expectData(99, "idle")
	}
}

// TestSenderNeverWaitsOnAPeerThatStopsReading: once the peer stops reading and the send
// buffer fills, senders queue their frames for the writer instead of writing into a full
// socket, so a send never waits; when the peer reads again, everything arrives in order.
func TestSenderNeverWaitsOnAPeerThatStopsReading(t *testing.T) {
	m := testManager(t, "c", &fakeState{routers: meshRouters("b", "c")})
	l, peer := linkFrom(t, m, "b")
	const frames = 20000 // 20,000 frames of 1 KiB: far more than the socket buffers hold
	body := func(i int) []byte {
		return append(binary.LittleEndian.AppendUint32(nil, uint32(i)), bytes.Repeat([]byte{'x'}, 1020)...)
	}
	sent := make(chan error, 1)
	go func() {
		for i := range frames {
			if !l.send(frameData, 0, 2, nil, body(i), nil) {
				sent <- fmt.Errorf("frame %d refused by an open link", i)
				return
			}
		}
		sent <- nil
	}()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(writeTimeout / 2):
		t.Fatal("a send waited on a peer that stopped reading")
	}
	for i := range frames {
		f := peer.next()
		if f.typ != frameData || !bytes.Equal(f.body(), body(i)) {
			t.Fatalf("frame %d arrived as %s with index %d", i, frameTypeName(f.typ), binary.LittleEndian.Uint32(f.body()))
		}
		f.release()
	}
}

// TestFrameThatCannotBeWrittenAtOnceKeepsItsPlace: a sender that found the writer idle but
// then the send buffer busy hands its frame to the writer ahead of frames other senders
// queued in the meantime, which came after it.
func TestFrameThatCannotBeWrittenAtOnceKeepsItsPlace(t *testing.T) {
	m := testManager(t, "c", &fakeState{routers: meshRouters("b", "c")})
	l, peer := linkFrom(t, m, "b")
	var once sync.Once
	l.wmu.Lock()
	l.tryWrite = func([]byte) (bool, error) {
		// While the first sender tries to write, a second one sends.
		once.Do(func() { l.send(frameData, 0, 2, nil, []byte("second"), nil) })
		return false, nil
	}
	l.wmu.Unlock()
	l.send(frameData, 0, 2, nil, []byte("first"), nil)
	peer.expectData(2, "first")
	peer.expectData(2, "second")
}
