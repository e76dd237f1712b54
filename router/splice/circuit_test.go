package splice

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

const testWait = 10 * time.Second

// peer is a client at one end of a circuit: the router's Conn to it, and its own Conn whose
// incoming messages land in inbox.
type peer struct {
	t      *testing.T
	router *wire.Conn
	client *wire.Conn
	inbox  chan *wire.Message
	gate   chan struct{} // when not nil, the client stops reading until it is closed
}

// newPeer connects a client over a pipe; messages the router reads from it go to onRouter.
func newPeer(t *testing.T, onRouter func(*wire.Message)) *peer {
	a, b := net.Pipe()
	p := &peer{t: t, inbox: make(chan *wire.Message, 1024)}
	handler := func(m *wire.Message) {
		if g := p.gate; g != nil {
			<-g
		}
		p.inbox <- m
	}
	p.router = wire.NewConn(a, func(m *wire.Message) { onRouter(m) }, wire.ConnConfig{})
	p.client = wire.NewConn(b, handler, wire.ConnConfig{})
	t.Cleanup(func() {
		p.router.Close()
		p.client.Close()
	})
	return p
}

func (p *peer) send(m *wire.Message) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := p.client.Send(ctx, m); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) expect(ct int32) *wire.Message {
	p.t.Helper()
	select {
	case m := <-p.inbox:
		if m.ContentType != ct {
			p.t.Fatalf("got %s %q, want %s", m, m.Body, wire.ContentTypeName(ct))
		}
		return m
	case <-time.After(testWait):
		p.t.Fatalf("no %s arrived", wire.ContentTypeName(ct))
		return nil
	}
}

// testCircuit builds a circuit between two peers; the dialer uses conn id 7, the host 9.
type testCircuit struct {
	c            *Circuit
	dialer, host *peer
	closedWith   atomic.Value
}

func newTestCircuit(t *testing.T, cfg Config) *testCircuit {
	tc := &testCircuit{}
	var ready sync.WaitGroup
	ready.Add(1)
	forward := func(side Side) func(*wire.Message) {
		return func(m *wire.Message) {
			ready.Wait()
			tc.c.Forward(side, m)
		}
	}
	tc.dialer = newPeer(t, forward(Dialer))
	tc.host = newPeer(t, forward(Host))
	cfg.OnClose = func(_ *Circuit, reason string) { tc.closedWith.Store(reason) }
	tc.c = New("c1", Endpoint{Conn: tc.dialer.router, ConnID: 7}, Endpoint{Conn: tc.host.router, ConnID: 9}, cfg)
	ready.Done()
	return tc
}

func TestCircuitForwardsAndRewritesConnIDs(t *testing.T) {
	tc := newTestCircuit(t, Config{})
	connected := wire.NewStateConnected(7)
	if !tc.c.Start(connected) {
		t.Fatal("Start failed")
	}
	tc.dialer.expect(wire.ContentTypeStateConnected)

	up := wire.NewData(7, 1, 0, []byte("hello host"))
	up.Headers.PutUint64(wire.HeaderHeartbeat, 42) // belongs to the dialer's hop only
	up.Headers.PutString(wire.HeaderUUID, "trace")
	tc.dialer.send(up)
	got := tc.host.expect(wire.ContentTypeData)
	if id, _ := got.ConnID(); id != 9 || string(got.Body) != "hello host" {
		t.Fatalf("host got conn %d %q", id, got.Body)
	}
	if seq, _ := got.EdgeSeq(); seq != 1 {
		t.Fatalf("seq %d", seq)
	}
	if got.Headers.Has(wire.HeaderHeartbeat) {
		t.Fatal("channel heartbeat header crossed the circuit")
	}
	if v, _ := got.Headers.GetString(wire.HeaderUUID); v != "trace" {
		t.Fatal("edge header lost")
	}

	tc.host.send(wire.NewData(9, 1, wire.FlagFIN, []byte("bye")))
	got = tc.dialer.expect(wire.ContentTypeData)
	if id, _ := got.ConnID(); id != 7 || got.Flags() != wire.FlagFIN || string(got.Body) != "bye" {
		t.Fatalf("dialer got conn %d flags %d %q", id, got.Flags(), got.Body)
	}
	if st := tc.c.Stats(); st.Forwarded[Dialer] != 10 || st.Forwarded[Host] != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCircuitStateClosedDeliversQueuedDataFirst(t *testing.T) {
	tc := newTestCircuit(t, Config{})
	tc.c.Start(nil)
	for i := range 20 {
		tc.dialer.send(wire.NewData(7, uint32(i), 0, []byte{byte(i)}))
	}
	tc.dialer.send(wire.NewStateClosed(7, 0, "done"))
	for i := range 20 {
		if m := tc.host.expect(wire.ContentTypeData); m.Body[0] != byte(i) {
			t.Fatalf("data %d out of order", i)
		}
	}
	m := tc.host.expect(wire.ContentTypeStateClosed)
	if id, _ := m.ConnID(); id != 9 || string(m.Body) != "done" {
		t.Fatalf("host got StateClosed conn %d %q", id, m.Body)
	}
	<-tc.c.Done()
	tc.c.Wait()
	select {
	case m := <-tc.dialer.inbox:
		t.Fatalf("the closing side got %s", m)
	default:
	}
	if r, _ := tc.closedWith.Load().(string); r != "done" {
		t.Fatalf("OnClose reason %q", r)
	}
}

func TestCircuitCloseTellsBothSides(t *testing.T) {
	tc := newTestCircuit(t, Config{})
	tc.c.Start(nil)
	tc.c.Close("revoked")
	for _, p := range []*peer{tc.dialer, tc.host} {
		if m := p.expect(wire.ContentTypeStateClosed); string(m.Body) != "revoked" {
			t.Fatalf("reason %q", m.Body)
		}
	}
	if tc.c.Start(nil) {
		t.Fatal("a closed circuit started")
	}
	if tc.c.Reason() != "revoked" {
		t.Fatalf("Reason %q", tc.c.Reason())
	}
}

// TestCircuitCutDeliversWhatItHolds: a circuit the router cuts (a router that stops) first
// writes what it had queued for each side, then a StateClosed with the error code.
func TestCircuitCutDeliversWhatItHolds(t *testing.T) {
	tc := newTestCircuit(t, Config{})
	tc.c.Start(nil)
	gate := make(chan struct{})
	tc.host.gate = gate // the host reads nothing for now: the data waits in the router
	for i := range 20 {
		tc.dialer.send(wire.NewData(7, uint32(i), 0, []byte{byte(i)}))
	}
	waitUntil(t, func() bool { return tc.c.Stats().Forwarded[Dialer] == 20 })
	tc.c.Cut(wire.ErrorCodeRouterShuttingDown, "router stopped")
	close(gate)
	for i := range 20 {
		if m := tc.host.expect(wire.ContentTypeData); m.Body[0] != byte(i) {
			t.Fatalf("data %d out of order", i)
		}
	}
	for _, p := range []*peer{tc.host, tc.dialer} {
		m := p.expect(wire.ContentTypeStateClosed)
		if code, _ := m.ErrorCode(); code != wire.ErrorCodeRouterShuttingDown || string(m.Body) != "router stopped" {
			t.Fatalf("StateClosed code %d %q", code, m.Body)
		}
	}
	tc.c.Wait()
	if tc.c.Reason() != "router stopped" {
		t.Fatalf("Reason %q", tc.c.Reason())
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCircuitClosedBeforeStartSendsNothing(t *testing.T) {
	tc := newTestCircuit(t, Config{})
	tc.c.Close("dial failed")
	if tc.c.Start(wire.NewStateConnected(7)) {
		t.Fatal("Start after Close succeeded")
	}
	tc.c.Wait()
	// Nothing was written to either side.
	for _, p := range []*peer{tc.dialer, tc.host} {
		select {
		case m := <-p.inbox:
			t.Fatalf("got %s", m)
		default:
		}
	}
}

func TestCircuitIdleTimeout(t *testing.T) {
	tc := newTestCircuit(t, Config{IdleTimeout: 100 * time.Millisecond})
	tc.c.Start(nil)
	tc.dialer.send(wire.NewData(7, 1, 0, []byte("x")))
	tc.host.expect(wire.ContentTypeData)
	for _, p := range []*peer{tc.dialer, tc.host} {
		if m := p.expect(wire.ContentTypeStateClosed); !strings.Contains(string(m.Body), "idle") {
			t.Fatalf("reason %q", m.Body)
		}
	}
}

func TestCircuitStallClosesCircuit(t *testing.T) {
	tc := newTestCircuit(t, Config{Queue: Limits{MaxMessages: 2}, StallTimeout: 50 * time.Millisecond})
	tc.c.Start(nil)
	tc.host.gate = make(chan struct{}) // the host stops reading
	defer close(tc.host.gate)
	payload := bytes.Repeat([]byte("z"), 32<<10)
	go func() {
		for i := 0; ; i++ {
			if err := tc.dialer.client.Send(context.Background(), wire.NewData(7, uint32(i), 0, payload)); err != nil {
				return
			}
			select {
			case <-tc.c.Done():
				return
			default:
			}
		}
	}()
	select {
	case <-tc.c.Done():
	case <-time.After(testWait):
		t.Fatal("stalled circuit stayed open")
	}
	if !strings.Contains(tc.c.Reason(), "stopped reading") {
		t.Fatalf("reason %q", tc.c.Reason())
	}
	if st := tc.c.Stats().Queued[Host]; st.HighMessages > 2 {
		t.Fatalf("queue grew to %+v", st)
	}
}

func TestCircuitWriteFailureClosesOtherSide(t *testing.T) {
	tc := newTestCircuit(t, Config{})
	tc.c.Start(nil)
	tc.host.client.Close()
	tc.host.router.Close()
	tc.dialer.send(wire.NewData(7, 1, 0, []byte("into the void")))
	m := tc.dialer.expect(wire.ContentTypeStateClosed)
	if !strings.Contains(string(m.Body), "writing to host failed") {
		t.Fatalf("reason %q", m.Body)
	}
}

func TestCircuitHostClosingBeforeStartStillConnectsTheDialer(t *testing.T) {
	tc := newTestCircuit(t, Config{})
	// The host accepted the dial, wrote a greeting and closed before the router started the
	// circuit.
	tc.host.send(wire.NewData(9, 1, 0, []byte("hi and bye")))
	tc.host.send(wire.NewStateClosed(9, 0, "host closed"))
	deadline := time.Now().Add(testWait)
	for tc.c.Stats().Queued[Dialer].Messages == 0 || !tc.hostClosedRecorded() {
		if time.Now().After(deadline) {
			t.Fatal("the host's data and close never reached the circuit")
		}
		time.Sleep(time.Millisecond)
	}
	if !tc.c.Start(wire.NewStateConnected(7)) {
		t.Fatalf("Start refused after the host's early close: %q", tc.c.Reason())
	}
	tc.dialer.expect(wire.ContentTypeStateConnected)
	if m := tc.dialer.expect(wire.ContentTypeData); string(m.Body) != "hi and bye" {
		t.Fatalf("dialer got %q", m.Body)
	}
	if m := tc.dialer.expect(wire.ContentTypeStateClosed); string(m.Body) != "host closed" {
		t.Fatalf("dialer's StateClosed says %q", m.Body)
	}
	<-tc.c.Done()
	tc.c.Wait()
	select {
	case m := <-tc.host.inbox:
		t.Fatalf("the host, which closed, got %s", m)
	default:
	}
}

func (tc *testCircuit) hostClosedRecorded() bool {
	tc.c.mu.Lock()
	defer tc.c.mu.Unlock()
	return tc.c.hostClosed != nil
}

// failedEndpoint is an endpoint the network failed: every write returns an error with a code.
type failedEndpoint struct{}

type failedEndpointError struct{}

func (failedEndpointError) Error() string     { return "the path to the host broke" }
func (failedEndpointError) ErrorCode() uint32 { return 4242 }

func (failedEndpoint) Send(context.Context, *wire.Message) error {
	return fmt.Errorf("mesh: %w", failedEndpointError{})
}

// TestCircuitWriteToAFailedEndpointPassesItsCode: when writing to one side fails with an
// error that carries a code (a mesh path that broke), the other side is closed with that code,
// so its client reports the failure instead of the peer's orderly close.
func TestCircuitWriteToAFailedEndpointPassesItsCode(t *testing.T) {
	dialer := newPeer(t, func(*wire.Message) {})
	c := New("c-failed", Endpoint{Conn: dialer.router, ConnID: 7}, Endpoint{Conn: failedEndpoint{}, ConnID: 9}, Config{})
	c.Start(nil)
	c.Forward(Dialer, wire.NewData(7, 1, 0, []byte("towards a broken path")))
	m := dialer.expect(wire.ContentTypeStateClosed)
	if code, _ := m.Headers.GetUint32(wire.HeaderErrorCode); code != 4242 {
		t.Fatalf("the dialer was closed with code %d (%q), want the failed endpoint's 4242", code, m.Body)
	}
	if !strings.Contains(string(m.Body), "the path to the host broke") {
		t.Fatalf("reason %q", m.Body)
	}
}
