package link

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/internal/ctrlproto"
	"github.com/ostium-net/ostium/sdk/wire"
)

// peerEnd is the test's side of a link to a Manager: real TCP on 127.0.0.1 (the TLS and the
// hellos are the link listener's business, tested end to end elsewhere).
type peerEnd struct {
	t    *testing.T
	conn net.Conn
	fr   *frameReader
}

// linkFrom serves a link of m whose peer, router peer, is the test; the peer dialed it, so
// it numbers its circuits odd.
func linkFrom(t *testing.T, m *Manager, peer string) (*Link, *peerEnd) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	l := newLink(m, "link-"+peer, peer, false, sc)
	done := make(chan struct{})
	go func() { defer close(done); m.serveLink(l, newFrameReader(sc)) }()
	t.Cleanup(func() { l.Close(); _ = cc.Close(); <-done })
	for m.link(peer) != l {
		time.Sleep(time.Millisecond)
	}
	return l, &peerEnd{t: t, conn: cc, fr: newFrameReader(cc)}
}

func (p *peerEnd) send(typ byte, circuit uint32, h wire.Headers, body []byte) {
	p.t.Helper()
	if _, err := p.conn.Write(encodeFrame(typ, 0, circuit, h, body)); err != nil {
		p.t.Fatal(err)
	}
}

// next reads the next frame that is not a probe. It answers the probes it
// reads, as a live router does, so a slow test is not taken for a peer gone
// silent (the link closes after ProbeTimeout without answers).
func (p *peerEnd) next() *frame {
	p.t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := p.fr.read()
		if err != nil {
			p.t.Fatalf("reading from the link: %v", err)
		}
		if f.typ != frameProbe && f.typ != frameProbeReply {
			return f
		}
		if f.typ == frameProbe {
			p.send(frameProbeReply, 0, nil, append([]byte(nil), f.body()...))
		}
		f.release()
	}
}

// expectData reads a data frame and checks its body.
func (p *peerEnd) expectData(circuit uint32, body string) {
	p.t.Helper()
	f := p.next()
	defer f.release()
	if f.typ != frameData || f.circuit != circuit || string(f.body()) != body {
		p.t.Fatalf("got %s on circuit %d with %q, want data %q on %d", frameTypeName(f.typ), f.circuit, f.body(), body, circuit)
	}
}

func meshRouters(ids ...string) []ctrlproto.Router {
	var out []ctrlproto.Router
	for _, id := range ids {
		out = append(out, ctrlproto.Router{ID: id, Fingerprint: "f"})
	}
	return out
}

// payload is the i-th test message: 100 bytes, no edge headers, so it costs 164 bytes.
func payload(i int) string {
	return fmt.Sprintf("message %d ", i) + strings.Repeat(".", 100-len(fmt.Sprintf("message %d ", i)))
}

const payloadCost = 100 + 64

func sendPayload(t *testing.T, term *terminal, i int) {
	t.Helper()
	m := &wire.Message{ContentType: wire.ContentTypeData, Body: []byte(payload(i))}
	if err := term.SendOwned(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func resumeHeaders(id, path string, delivered, received uint64) wire.Headers {
	var h wire.Headers
	h.PutString(hCircuitID, id)
	h.PutString(hPath, path)
	h.PutUint64(hDelivered, delivered)
	h.PutUint64(hReceived, received)
	return h
}

// TestResumeAtTheHostsRouter: the host's router moves a circuit to the link a resume came
// over, answers resumed with its counts and sends again exactly the frames the dialer's router
// did not receive, in order, then what was waiting for the path; resumes for unknown
// circuits, from routers that are not the circuit's dialer's, or naming a wrong previous hop
// are refused.
func TestResumeAtTheHostsRouter(t *testing.T) {
	m := testManager(t, "c", &fakeState{routers: meshRouters("a", "b", "c", "d")})
	m.cfg.ResumeWait = 20 * time.Second
	l1, b := linkFrom(t, m, "b")
	term := m.newTerminal("x", []string{"a", "b", "c"}, false)
	term.established = true
	if !l1.attach(1, term) {
		t.Fatal("attach")
	}
	term.mu.Lock()
	term.link, term.num = l1, 1
	term.mu.Unlock()
	m.terminals.Store("x", term)

	for i := range 5 {
		sendPayload(t, term, i)
	}
	for i := range 5 {
		b.expectData(1, payload(i))
	}
	// The dialer's router delivered the first message and says so.
	b.send(frameCredit, 1, nil, binary.LittleEndian.AppendUint32(nil, payloadCost))
	// The path breaks: b goes away. What the host sends meanwhile waits for the new path.
	_ = b.conn.Close()
	waitFor(t, "the circuit to wait for a resume", func() bool {
		term.mu.Lock()
		defer term.mu.Unlock()
		return term.link == nil && term.mend != nil
	})
	sent := make(chan error, 1)
	go func() {
		sent <- term.SendOwned(context.Background(), &wire.Message{ContentType: wire.ContentTypeData, Body: []byte(payload(5))})
	}()

	_, d := linkFrom(t, m, "d")
	refusals := []struct {
		name string
		h    wire.Headers
	}{
		{"an unknown circuit", resumeHeaders("nope", "a,d,c", 0, 0)},
		{"a router that is not the circuit's dialer's", resumeHeaders("x", "e,d,c", 0, 0)},
		{"a previous hop that is not the link's peer", resumeHeaders("x", "a,b,c", 0, 0)},
		{"no counts", func() wire.Headers {
			var h wire.Headers
			h.PutString(hCircuitID, "x")
			h.PutString(hPath, "a,d,c")
			return h
		}()},
	}
	for i, r := range refusals {
		num := uint32(101 + 2*i)
		d.send(frameResume, num, r.h, nil)
		f := d.next()
		if f.typ != frameFailed || f.circuit != num {
			t.Fatalf("a resume from %s got %s", r.name, frameTypeName(f.typ))
		}
		f.release()
	}

	// The dialer's router received the first two messages (and delivered the first).
	d.send(frameResume, 3, resumeHeaders("x", "a,d,c", payloadCost, 2*payloadCost), nil)
	f := d.next()
	if f.typ != frameResumed || f.circuit != 3 {
		t.Fatalf("the resume got %s", frameTypeName(f.typ))
	}
	if dl, _ := f.headers.GetUint64(hDelivered); dl != 0 {
		t.Fatalf("resumed says %d delivered, want 0", dl)
	}
	if rc, ok := f.headers.GetUint64(hReceived); !ok || rc != 0 {
		t.Fatalf("resumed says %d received, want 0", rc)
	}
	f.release()
	for i := 2; i < 6; i++ {
		d.expectData(3, payload(i))
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if p := term.Path(); strings.Join(p, ",") != "a,d,c" {
		t.Fatalf("the circuit's path is %v after the resume", p)
	}
	term.mu.Lock()
	avail, unacked := term.avail, len(term.unacked)
	term.mu.Unlock()
	if want := int64(m.cfg.Window) - 5*payloadCost; avail != want || unacked != 4 {
		t.Fatalf("after the resume: credit %d (want %d), %d frames kept (want 4)", avail, want, unacked)
	}
	if st := m.MendStats(); st.Moved != 1 || st.Resent != 3 {
		t.Fatalf("mend stats %+v", st)
	}
	// Close travels over the new path and ends the circuit here.
	d.send(frameClose, 3, nil, []byte("done"))
	waitFor(t, "the circuit to end", func() bool { _, ok := m.terminals.Load("x"); return !ok })
}

// TestResumeFromTheDialersRouter: when the link a circuit leaves by is lost, the dialer's
// router sends a resume along a path around the lost router, with its counts, and once
// resumed comes back sends again what the host's router did not receive; a circuit with no
// other path ends with an error code.
func TestResumeFromTheDialersRouter(t *testing.T) {
	st := &fakeState{routers: meshRouters("a", "b", "c", "d"), topology: []ctrlproto.LinkState{
		up("bc", "b", "c", 1000, 0), up("dc", "d", "c", 1000, 0), up("bd", "b", "d", 1000, 0),
	}}
	m := testManager(t, "a", st)
	l1, b := linkFrom(t, m, "b")
	_, d := linkFrom(t, m, "d")
	term := m.newTerminal("x", []string{"a", "b", "c"}, true)
	term.established = true
	num, ok := l1.register(term)
	if !ok {
		t.Fatal("register")
	}
	term.mu.Lock()
	term.link, term.num = l1, num
	term.mu.Unlock()
	for i := range 3 {
		sendPayload(t, term, i)
	}
	for i := range 3 {
		b.expectData(num, payload(i))
	}
	_ = b.conn.Close()
	f := d.next()
	if f.typ != frameResume {
		t.Fatalf("after the loss, d got %s", frameTypeName(f.typ))
	}
	id, path, delivered, received, err := decodeResume(f.headers)
	if err != nil || id != "x" || strings.Join(path, ",") != "a,d,c" || delivered != 0 || received != 0 {
		t.Fatalf("resume: %q %v %d %d %v", id, path, delivered, received, err)
	}
	rnum := f.circuit
	f.release()
	// The host's router received the first message.
	var counts wire.Headers
	counts.PutUint64(hDelivered, 0)
	counts.PutUint64(hReceived, payloadCost)
	d.send(frameResumed, rnum, counts, nil)
	d.expectData(rnum, payload(1))
	d.expectData(rnum, payload(2))
	sendPayload(t, term, 3)
	d.expectData(rnum, payload(3))
	if p := term.Path(); strings.Join(p, ",") != "a,d,c" {
		t.Fatalf("the circuit's path is %v after the resume", p)
	}

	// d goes too: there is no other path, and the circuit ends with an error code.
	_ = d.conn.Close()
	waitFor(t, "the circuit to end", func() bool {
		term.mu.Lock()
		defer term.mu.Unlock()
		return term.closed
	})
	if st := m.MendStats(); st.Moved != 1 || st.Failed != 1 || st.Resent != 2 {
		t.Fatalf("mend stats %+v", st)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestCreditForSmallMessages: credit goes back after a quarter window of bytes or 16
// messages, whichever comes first, so that the far end, which keeps what it sent until then,
// never holds thousands of small messages.
func TestCreditForSmallMessages(t *testing.T) {
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
	for range creditEvery {
		term.grant(100)
	}
	f := b.next()
	if f.typ != frameCredit || f.circuit != 1 || binary.LittleEndian.Uint32(f.body()) != 100*creditEvery {
		t.Fatalf("got %s %v, want credit for %d bytes", frameTypeName(f.typ), f.body(), 100*creditEvery)
	}
	f.release()
	term.grant(int64(m.cfg.Window / 4))
	f = b.next()
	if f.typ != frameCredit || binary.LittleEndian.Uint32(f.body()) != uint32(m.cfg.Window/4) {
		t.Fatalf("got %s %v, want credit for a quarter window", frameTypeName(f.typ), f.body())
	}
	f.release()
}

// TestResumeRefusedTriesAnotherPath: a resume refused on the way (a router of the path lost
// its link too, and the topology does not say so yet) is tried again around that path's
// middle; when no path is left, the circuit ends with the refusal in its reason.
func TestResumeRefusedTriesAnotherPath(t *testing.T) {
	st := &fakeState{routers: meshRouters("a", "b", "c", "d", "e"), topology: []ctrlproto.LinkState{
		up("bc", "b", "c", 1000, 0), up("dc", "d", "c", 1000, 0), up("ec", "e", "c", 5000, 0),
	}}
	m := testManager(t, "a", st)
	m.cfg.ResumeTimeout = 20 * time.Second
	l1, b := linkFrom(t, m, "b")
	_, d := linkFrom(t, m, "d")
	_, e := linkFrom(t, m, "e")
	term := m.newTerminal("x", []string{"a", "b", "c"}, true)
	term.established = true
	num, _ := l1.register(term)
	term.mu.Lock()
	term.link, term.num = l1, num
	term.mu.Unlock()
	refuse := func(p *peerEnd) {
		t.Helper()
		f := p.next()
		if f.typ != frameResume {
			t.Fatalf("got %s, want a resume", frameTypeName(f.typ))
		}
		var h wire.Headers
		h.PutUint32(hErrorCode, wire.ErrorCodeInvalidTerminator)
		p.send(frameFailed, f.circuit, h, []byte("router d has no link to router c"))
		f.release()
	}
	_ = b.conn.Close()
	// d is the cheaper way round, and refuses; e takes it.
	refuse(d)
	f := e.next()
	if _, path, _, _, err := decodeResume(f.headers); f.typ != frameResume || err != nil || strings.Join(path, ",") != "a,e,c" {
		t.Fatalf("after d refused, e got %s for path %v (%v)", frameTypeName(f.typ), path, err)
	}
	var counts wire.Headers
	counts.PutUint64(hDelivered, 0)
	counts.PutUint64(hReceived, 0)
	e.send(frameResumed, f.circuit, counts, nil)
	f.release()
	waitFor(t, "the circuit to move to a,e,c", func() bool { return strings.Join(term.Path(), ",") == "a,e,c" })

	// e goes; d refuses again; no path is left.
	_ = e.conn.Close()
	refuse(d)
	waitFor(t, "the circuit to end", func() bool {
		term.mu.Lock()
		defer term.mu.Unlock()
		return term.closed
	})
	if st := m.MendStats(); st.Moved != 1 || st.Failed != 1 {
		t.Fatalf("mend stats %+v", st)
	}
	term.mu.Lock()
	reason := term.earlyClose
	term.mu.Unlock()
	if !strings.Contains(reason, "a resume was refused: router d has no link") || !strings.Contains(reason, "no other path") {
		t.Fatalf("the circuit ended with %q", reason)
	}
}
