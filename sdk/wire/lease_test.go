package wire

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// leaseClient is a leasable Conn over real TCP whose handler records each message's body and
// whether it ran inside the test's LeaseRead; the far end is a raw net.Conn.
type leaseClient struct {
	conn    *Conn
	raw     net.Conn // the peer's end
	leasing atomic.Bool
	yield   atomic.Bool // the handler calls YieldRead
	waiting atomic.Bool // ReadersWaiting's answer

	mu     sync.Mutex
	got    []string
	inside []bool
	seen   chan struct{}
}

func newLeaseClient(t *testing.T) *leaseClient {
	t.Helper()
	a, b := tcpPair(t)
	lc := &leaseClient{raw: b, seen: make(chan struct{}, 64)}
	lc.conn = NewConn(a, func(m *Message) {
		lc.mu.Lock()
		lc.got = append(lc.got, string(m.Body))
		lc.inside = append(lc.inside, lc.leasing.Load())
		lc.mu.Unlock()
		m.Release()
		if lc.yield.Load() {
			lc.conn.YieldRead()
		}
		lc.seen <- struct{}{}
	}, ConnConfig{Leasable: true, ReadersWaiting: lc.waiting.Load})
	// The idle watcher would end the spells without a holder these tests look at; the one
	// test of the watcher turns it back on.
	lc.conn.lease.unwatched = true
	t.Cleanup(func() {
		lc.conn.Close()
		b.Close()
		lc.conn.Wait()
	})
	return lc
}

func (lc *leaseClient) send(t *testing.T, body string) {
	t.Helper()
	m := NewMessage(ContentTypeData, []byte(body))
	m.Sequence = 1
	if _, err := lc.raw.Write(m.AppendFrame(nil)); err != nil {
		t.Error(err) // may run on a goroutine of the test's
	}
}

func (lc *leaseClient) await(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-lc.seen:
		case <-time.After(5 * time.Second):
			t.Fatal("a message was not dispatched")
		}
	}
}

// count is a LeaseRead condition: go on until n messages in all were dispatched.
func (lc *leaseClient) count(n int) func() bool {
	return func() bool {
		lc.mu.Lock()
		defer lc.mu.Unlock()
		return len(lc.got) < n
	}
}

func (lc *leaseClient) holder() holder {
	lc.conn.lease.mu.Lock()
	defer lc.conn.lease.mu.Unlock()
	return lc.conn.lease.holder
}

func (lc *leaseClient) lease(n int) bool {
	lc.leasing.Store(true)
	defer lc.leasing.Store(false)
	return lc.conn.LeaseRead(lc.count(n), time.Time{})
}

func TestLeaseReadsOnTheCallerOnceTheReadGoroutineYields(t *testing.T) {
	lc := newLeaseClient(t)
	if lc.lease(1) {
		t.Fatal("a lease was granted while the read goroutine holds the stream")
	}
	lc.yield.Store(true)
	lc.send(t, "first")
	lc.await(t, 1)
	lc.yield.Store(false)
	waitHolder(t, lc, heldByNobody)
	lc.conn.lease.mu.Lock()
	lc.conn.lease.unwatched = false
	lc.conn.lease.mu.Unlock()

	go func() {
		time.Sleep(30 * time.Millisecond) // the lease waits in the socket for these
		lc.send(t, "second")
		lc.send(t, "third")
	}()
	if !lc.lease(3) {
		t.Fatal("no lease while nobody holds the stream")
	}
	lc.await(t, 2)
	lc.mu.Lock()
	got, inside := fmt.Sprint(lc.got), fmt.Sprint(lc.inside)
	lc.mu.Unlock()
	if got != "[first second third]" || inside != "[false true true]" {
		t.Fatalf("dispatched %s, inside the lease %s; want [first second third], [false true true]", got, inside)
	}

	// Left to nobody, the stream goes back to the read goroutine within a couple of ticks.
	waitHolder(t, lc, heldByLoop)
	lc.send(t, "fourth")
	lc.await(t, 1)
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.got[3] != "fourth" || lc.inside[3] {
		t.Fatalf("fourth message: %q inside a lease %v", lc.got[3], lc.inside[3])
	}
}

func waitHolder(t *testing.T, lc *leaseClient, want holder) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for lc.holder() != want {
		if time.Now().After(deadline) {
			t.Fatalf("holder %d, want %d", lc.holder(), want)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// yieldOnce makes the read goroutine leave the stream after one message.
func yieldOnce(t *testing.T, lc *leaseClient) {
	t.Helper()
	lc.yield.Store(true)
	lc.send(t, "yield")
	lc.await(t, 1)
	lc.yield.Store(false)
	waitHolder(t, lc, heldByNobody)
}

func TestInterruptLeaseNeverCutsAMessage(t *testing.T) {
	lc := newLeaseClient(t)
	yieldOnce(t, lc)

	// Interrupted while waiting for a message: the lease asks its condition again and ends.
	var stop atomic.Bool
	done := make(chan bool)
	go func() {
		lc.leasing.Store(true)
		done <- lc.conn.LeaseRead(func() bool { return !stop.Load() }, time.Time{})
		lc.leasing.Store(false)
	}()
	waitLeaseWaiting(t, lc)
	stop.Store(true)
	lc.conn.InterruptLease()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("the lease was not granted")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an interrupted lease did not end")
	}

	// Interrupted in the middle of a message: the message is read whole first.
	stop.Store(false)
	m := NewMessage(ContentTypeData, []byte("split in two"))
	m.Sequence = 2
	frame := m.AppendFrame(nil)
	go func() {
		lc.leasing.Store(true)
		done <- lc.conn.LeaseRead(func() bool { return !stop.Load() }, time.Time{})
		lc.leasing.Store(false)
	}()
	waitLeaseWaiting(t, lc)
	if _, err := lc.raw.Write(frame[:5]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	stop.Store(true)
	lc.conn.InterruptLease()
	time.Sleep(20 * time.Millisecond)
	lc.waiting.Store(true) // the lease ends to the read goroutine
	if _, err := lc.raw.Write(frame[5:]); err != nil {
		t.Fatal(err)
	}
	lc.await(t, 1)
	<-done

	// No deadline is left behind: the stream reads on (through the read goroutine now).
	lc.sendLastAndCheck(t, "[yield split in two after]")
}

// sendLastAndCheck sends a last message, waits for it and checks the Conn is still open and
// everything was dispatched, in order.
func (lc *leaseClient) sendLastAndCheck(t *testing.T, want string) {
	t.Helper()
	lc.send(t, "after")
	lc.await(t, 1)
	if err := lc.conn.Err(); err != nil {
		t.Fatalf("the Conn failed: %v", err)
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if fmt.Sprint(lc.got) != want {
		t.Fatalf("dispatched %v, want %s", lc.got, want)
	}
}

func waitLeaseWaiting(t *testing.T, lc *leaseClient) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lc.conn.lease.mu.Lock()
		w := lc.conn.lease.waiting
		lc.conn.lease.mu.Unlock()
		if w {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease never waited for a message")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestLeaseEndsToTheReadGoroutineWhenReadersWait(t *testing.T) {
	lc := newLeaseClient(t)
	yieldOnce(t, lc)
	lc.waiting.Store(true)
	go lc.send(t, "one")
	if !lc.lease(2) {
		t.Fatal("no lease")
	}
	if h := lc.holder(); h != heldByLoop {
		t.Fatalf("holder after a lease with readers waiting: %d, want the read goroutine", h)
	}
	lc.send(t, "two")
	lc.await(t, 2)
}

func TestRequestTakesTheStreamBackFromNobody(t *testing.T) {
	a, b := tcpPair(t)
	var server *Conn
	server = NewConn(b, echoHandler(&server), ConnConfig{})
	var client *Conn
	client = NewConn(a, func(m *Message) { client.YieldRead(); m.Release() }, ConnConfig{Leasable: true})
	client.lease.unwatched = true // only the Request may end the idle spell
	t.Cleanup(func() { client.Close(); server.Close(); client.Wait(); server.Wait() })

	// An unsolicited message makes the read goroutine leave the stream.
	if err := server.Send(context.Background(), NewMessage(ContentTypeData, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		client.lease.mu.Lock()
		h := client.lease.holder
		client.lease.mu.Unlock()
		if h == heldByNobody {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the read goroutine kept the stream")
		}
		time.Sleep(100 * time.Microsecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := client.Request(ctx, NewMessage(ContentTypeDial, []byte("ping")))
	if err != nil || string(reply.Body) != "ping" {
		t.Fatalf("request: %v %v", reply, err)
	}
}

func TestCloseEndsALease(t *testing.T) {
	lc := newLeaseClient(t)
	yieldOnce(t, lc)
	done := make(chan bool)
	go func() { done <- lc.conn.LeaseRead(func() bool { return true }, time.Time{}) }()
	waitLeaseWaiting(t, lc)
	lc.conn.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a lease outlived its Conn")
	}
	if lc.conn.LeaseRead(func() bool { return true }, time.Time{}) {
		t.Fatal("a closed Conn granted a lease")
	}
}

func TestReadGoroutineKeepsTheStreamWhileReadersWait(t *testing.T) {
	lc := newLeaseClient(t)
	lc.yield.Store(true)
	lc.waiting.Store(true)
	lc.send(t, "one")
	lc.await(t, 1)
	lc.send(t, "two")
	lc.await(t, 1) // read by the read goroutine: it did not leave the stream
	if h := lc.holder(); h != heldByLoop {
		t.Fatalf("holder %d after a yield with readers waiting, want the read goroutine", h)
	}
	lc.waiting.Store(false)
	lc.send(t, "three")
	lc.await(t, 1)
	waitHolder(t, lc, heldByNobody)
}

func TestLeaseDeadlineEndsTheLeaseNotTheConn(t *testing.T) {
	lc := newLeaseClient(t)
	yieldOnce(t, lc)
	start := time.Now()
	if !lc.conn.LeaseRead(lc.count(2), start.Add(50*time.Millisecond)) {
		t.Fatal("no lease")
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Fatalf("the lease ended after %v, before its deadline", waited)
	}
	if err := lc.conn.Err(); err != nil {
		t.Fatalf("a lease's deadline closed the Conn: %v", err)
	}
	// The read goroutine takes the stream with the passed deadline cleared.
	lc.waiting.Store(true)
	lc.conn.EnsureReader()
	lc.send(t, "between")
	lc.await(t, 1)
	lc.waiting.Store(false)
	yieldOnce(t, lc)

	// A frame begun before a later lease's deadline is read whole after it.
	m := NewMessage(ContentTypeData, []byte("slow frame"))
	m.Sequence = 3
	frame := m.AppendFrame(nil)
	if _, err := lc.raw.Write(frame[:7]); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(150 * time.Millisecond)
		lc.raw.Write(frame[7:])
	}()
	if !lc.conn.LeaseRead(lc.count(4), time.Now().Add(50*time.Millisecond)) {
		t.Fatal("no second lease")
	}
	lc.await(t, 1)

	lc.waiting.Store(true)
	lc.conn.EnsureReader()
	lc.sendLastAndCheck(t, "[yield between yield slow frame after]")
}
