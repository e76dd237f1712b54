package link

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ostium-net/ostium/router/edge"
	"github.com/ostium-net/ostium/router/splice"
	"github.com/ostium-net/ostium/sdk/wire"
)

// Header keys of create, created, failed, close, resume and resumed frames (data frames
// carry edge headers, whose keys are 128 and up).
const (
	hCircuitID  int32 = 1
	hPath       int32 = 2
	hService    int32 = 3
	hTerminator int32 = 4
	hCaller     int32 = 5
	hIdentity   int32 = 6
	hPublicKey  int32 = 7
	hAppData    int32 = 8
	hWindow     int32 = 9
	hErrorCode  int32 = 10
	hDelivered  int32 = 11
	hReceived   int32 = 12
	hBroken     int32 = 13
)

// Host dials the hosts of this router's terminators for circuits that arrive over links.
// The edge listener implements it.
type Host interface {
	// DialTerminator asks the host of a local terminator to accept a circuit whose other end
	// is end. On success the circuit starts when start is called, after the dialer's router
	// was told.
	DialTerminator(ctx context.Context, d edge.FabricDial, end edge.FabricEnd) (hostPublicKey []byte, start func(), err error)
}

// cost is what a message costs in flow-control credit: its payload, its edge headers but the
// conn id (which each end sets for its own channel) and the channel headers (stripped on the
// way), and a fixed overhead.
func cost(m *wire.Message) int64 {
	n := int64(len(m.Body)) + edge.MessageOverhead
	for _, h := range m.Headers {
		if h.Key >= wire.ReflectedHeaderMin && h.Key != wire.HeaderConnID {
			n += 8 + int64(len(h.Value))
		}
	}
	return n
}

// dataHeaders are the edge headers a data frame carries.
func dataHeaders(h wire.Headers) wire.Headers {
	out := make(wire.Headers, 0, len(h))
	for _, hd := range h {
		if hd.Key >= wire.ReflectedHeaderMin && hd.Key != wire.HeaderConnID {
			out = append(out, hd)
		}
	}
	return out
}

var errCircuitClosed = errors.New("link: circuit closed")

// failedError is what a write to a circuit the network failed returns: it carries the error
// code, so that the splice tells the local client the network ended the connection, not the
// peer (splice.CodedError).
type failedError struct {
	code   uint32
	reason string
}

func (e *failedError) Error() string     { return "link: circuit failed: " + e.reason }
func (e *failedError) ErrorCode() uint32 { return e.code }

// terminal is a circuit's end on this router: the mesh side of a local splice circuit.
type terminal struct {
	m         *Manager
	circuitID string
	path      []string
	serviceID string
	identity  string
	created   time.Time
	// dialing is true at the dialer's router (which opens the path).
	dialing bool

	mu sync.Mutex
	// link and num carry the circuit now; link is nil while a broken path is mended.
	link       *Link
	num        uint32
	avail      int64 // send credit
	creditWait chan struct{}
	circuit    *splice.Circuit
	side       splice.Side
	early      []*wire.Message
	earlyClose string
	closed     bool
	// failed is set when the network ended the circuit with an error code.
	failed  *failedError
	peerKey []byte
	reply   chan *frame
	// established is set once the created frame passed: only then is a broken path mended.
	established bool

	// Sending: counts are cumulative flow-control costs (see cost) since the circuit began.
	peerWindow int64        // the window the far end announced
	sentTotal  uint64       // data frames sent (each counted once, resent or not)
	credited   uint64       // credit the far end returned: what it delivered
	unacked    []*sentFrame // sent and not known to be received by the far end, in order

	// Receiving.
	received  uint64 // data frames taken from the mesh
	delivered uint64 // written to the local client
	granted   int64  // delivered since the last credit frame
	grantedN  int    // messages delivered since the last credit frame

	// Mending a broken path (resume.go).
	mend         *mending // non-nil while the path is mended
	pendingClose []byte   // the local client closed while the path was mended
	closing      bool
}

var (
	_ edge.FabricEnd      = (*terminal)(nil)
	_ splice.DirectSender = (*terminal)(nil)
)

func (m *Manager) newTerminal(circuitID string, path []string, dialing bool) *terminal {
	return &terminal{m: m, circuitID: circuitID, path: path, dialing: dialing, created: time.Now(),
		avail: int64(m.cfg.Window), peerWindow: int64(m.cfg.Window), reply: make(chan *frame, 1)}
}

// Path is the circuit's routers, dialer's first (the path it runs over now).
func (t *terminal) Path() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.path)
}

// PeerPublicKey is the host's key, from the created frame.
func (t *terminal) PeerPublicKey() []byte { return t.peerKey }

// Attach binds the end to its circuit and forwards what arrived before.
func (t *terminal) Attach(c *splice.Circuit, side splice.Side) {
	t.mu.Lock()
	t.circuit, t.side = c, side
	early, closeReason := t.early, t.earlyClose
	t.early = nil
	t.mu.Unlock()
	for _, m := range early {
		t.deliverData(c, side, m)
	}
	if closeReason != "" {
		c.Forward(side, wire.NewStateClosed(0, 0, closeReason))
	}
	if t.dialing || t.circuit != nil {
		t.m.terminals.Store(t.circuitID, t)
	}
}

// Abort gives up an end whose circuit was never set up.
func (t *terminal) Abort(reason string) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	l, num := t.link, t.num
	early := t.early
	t.early = nil
	t.dropStateLocked()
	t.mu.Unlock()
	for _, m := range early {
		m.Release()
	}
	if l != nil {
		l.send(frameClose, 0, num, nil, []byte(reason), nil)
		l.forget(num, t)
	}
	t.m.terminals.CompareAndDelete(t.circuitID, t)
}

// Send writes a message of the circuit towards the far router (splice.Sender).
func (t *terminal) Send(ctx context.Context, m *wire.Message) error {
	err := t.SendOwned(ctx, m)
	return err
}

// SendOwned is Send taking ownership of m: a data message is released once written.
func (t *terminal) SendOwned(ctx context.Context, m *wire.Message) error {
	switch m.ContentType {
	case wire.ContentTypeData:
		return t.sendData(ctx, m)
	case wire.ContentTypeStateClosed:
		reason := bytes.Clone(m.Body)
		m.Release()
		t.finish(reason)
		return nil
	}
	m.Release()
	return nil
}

// TrySendOwned sends a data message at once when credit allows and the path is up, taking
// it; otherwise (or for any other message) it reports false and leaves m to the caller,
// which queues it for SendOwned (splice.DirectSender). It never waits: the link queues the
// frame for its writer.
func (t *terminal) TrySendOwned(m *wire.Message) bool {
	if m.ContentType != wire.ContentTypeData {
		return false
	}
	hdrs := dataHeaders(m.Headers)
	if checkFrame(hdrs, len(m.Body)) != nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.closing || t.avail <= 0 || t.link == nil {
		return false
	}
	t.sendLocked(m, hdrs, cost(m))
	return true
}

// sendLocked sends a data message and keeps it until the far end received it; t.mu is held
// and credit was checked.
func (t *terminal) sendLocked(m *wire.Message, hdrs wire.Headers, c int64) {
	t.avail -= c
	t.sentTotal += uint64(c)
	sf := &sentFrame{msg: m, hdrs: hdrs, end: t.sentTotal, cost: uint64(c)}
	sf.refs.Store(1)
	t.unacked = append(t.unacked, sf)
	t.link.sendKept(t.num, sf)
}

// sendData sends a data message once credit allows, and keeps it until the far end
// received it, to send it again over a new path if this one breaks first. A frame sent on a
// link that just closed stays kept: the path is mended, or the circuit ends.
func (t *terminal) sendData(ctx context.Context, m *wire.Message) error {
	c := cost(m)
	hdrs := dataHeaders(m.Headers)
	if err := checkFrame(hdrs, len(m.Body)); err != nil {
		m.Release()
		return err
	}
	for {
		t.mu.Lock()
		if t.closed || t.closing {
			failed := t.failed
			t.mu.Unlock()
			m.Release()
			if failed != nil {
				return failed
			}
			return errCircuitClosed
		}
		if t.avail > 0 && t.link != nil {
			t.sendLocked(m, hdrs, c)
			t.mu.Unlock()
			return nil
		}
		if t.creditWait == nil {
			t.creditWait = make(chan struct{})
		}
		wait := t.creditWait
		t.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			m.Release()
			return fmt.Errorf("waiting for flow-control credit: %w", ctx.Err())
		}
	}
}

// finish ends the circuit from this side: the far end gets a close frame (after the path
// was mended, when it is being mended).
func (t *terminal) finish(reason []byte) {
	t.mu.Lock()
	if t.closed || t.closing {
		t.mu.Unlock()
		return
	}
	if t.mend != nil {
		t.closing, t.pendingClose = true, reason
		t.wakeLocked()
		t.mu.Unlock()
		return
	}
	t.closed = true
	l, num := t.link, t.num
	t.dropStateLocked()
	t.wakeLocked()
	t.mu.Unlock()
	if l != nil {
		l.send(frameClose, 0, num, nil, reason, nil)
		l.forget(num, t)
	}
	t.m.terminals.CompareAndDelete(t.circuitID, t)
}

// dropStateLocked lets go of the frames kept for resending, and of a mending under way.
func (t *terminal) dropStateLocked() {
	for i, sf := range t.unacked {
		sf.unref()
		t.unacked[i] = nil
	}
	t.unacked = nil
	if md := t.mend; md != nil {
		t.mend = nil
		md.timer.Stop()
		if md.link != nil {
			md.link.forget(md.num, t)
		}
	}
}

func (t *terminal) wakeLocked() {
	if t.creditWait != nil {
		close(t.creditWait)
		t.creditWait = nil
	}
}

// frame handles a frame of the circuit from the far router.
func (t *terminal) frame(l *Link, f *frame) {
	switch f.typ {
	case frameData:
		n := cost(f.msg)
		t.mu.Lock()
		if !t.onPathLocked(l, f.circuit) {
			t.mu.Unlock()
			f.release()
			return
		}
		t.received += uint64(n)
		c, side := t.circuit, t.side
		if c == nil && !t.closed {
			t.early = append(t.early, f.msg)
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
		if c == nil {
			f.release()
			return
		}
		t.deliverData(c, side, f.msg)
	case frameCredit:
		if len(f.body()) == 4 {
			n := int64(binary.LittleEndian.Uint32(f.body()))
			t.mu.Lock()
			if !t.onPathLocked(l, f.circuit) {
				t.mu.Unlock()
				f.release()
				return
			}
			t.avail += n
			t.credited += uint64(n)
			t.ackLocked(t.credited)
			t.wakeLocked()
			t.mu.Unlock()
		}
		f.release()
	case frameClose:
		reason := string(f.body())
		code, _ := f.headers.GetUint32(hErrorCode)
		broken, _ := f.headers.GetString(hBroken)
		f.release()
		if code != 0 {
			// A router of the path lost a link: mend the path, or end.
			t.pathBroken(l, brokenLink(broken), code, reason)
			return
		}
		t.ended(l, code, reason)
	case frameResumed, frameFailed:
		if t.mendReply(l, f) {
			return
		}
		t.replyFrame(f)
	case frameCreated:
		t.replyFrame(f)
	default:
		f.release()
	}
}

// onPathLocked reports whether a frame that came over l with circuit number num belongs to
// the path the circuit runs over now. Data and credit still arriving over a path that broke
// (or while the path is being mended) are dropped uncounted: the counts the ends exchange
// when the circuit moves decide what is sent again, so counting a late frame as well would
// deliver it twice.
func (t *terminal) onPathLocked(l *Link, num uint32) bool {
	return t.link == l && t.num == num
}

// replyFrame hands the answer to a create to Dial.
func (t *terminal) replyFrame(f *frame) {
	select {
	case t.reply <- f:
	default:
		f.release()
	}
}

// ackLocked forgets the frames the far end received, up to the cumulative count upTo.
func (t *terminal) ackLocked(upTo uint64) {
	n := 0
	for n < len(t.unacked) && t.unacked[n].end <= upTo {
		t.unacked[n].unref()
		t.unacked[n] = nil
		n++
	}
	t.unacked = t.unacked[n:]
}

// deliverData hands a data message to the circuit without waiting: the window the far
// router honours makes room certain, and one that exceeds it closes the circuit.
func (t *terminal) deliverData(c *splice.Circuit, side splice.Side, m *wire.Message) {
	m.ContentType = wire.ContentTypeData
	if err := c.ForwardNow(side, m); err != nil {
		t.m.log.Warn("closing a circuit whose far router overran its window", "circuit", t.circuitID, "err", err)
	}
}

// ended ends the circuit from the mesh side; a non-zero code tells the local client that the
// network failed it (the SDK then reports an error rather than the end of the stream).
func (t *terminal) ended(l *Link, code uint32, reason string) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	if code != 0 {
		t.failed = &failedError{code: code, reason: reason}
	}
	c, side := t.circuit, t.side
	if c == nil {
		t.earlyClose = reason
	}
	t.wakeLocked()
	if t.link != nil {
		l = t.link
	}
	num := t.num
	t.dropStateLocked()
	t.mu.Unlock()
	if l != nil {
		l.forget(num, t)
	}
	t.m.terminals.CompareAndDelete(t.circuitID, t)
	select {
	case t.reply <- nil:
	default:
	}
	if c != nil {
		if reason == "" {
			reason = "closed by the far end"
		}
		c.Forward(side, wire.NewStateClosed(0, code, reason))
	}
}

// linkDown handles the loss of the circuit's link: the path is mended, or the circuit ends
// (resume.go).
func (t *terminal) linkDown(l *Link, reason string) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	if md := t.mend; md != nil && md.link == l {
		// The link the resume went out on is lost too.
		t.mu.Unlock()
		t.giveUp(md, wire.ErrorCodeInternal, reason)
		return
	}
	if t.link != l {
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.pathBroken(l, [2]string{t.m.cfg.RouterID, l.peerID}, wire.ErrorCodeInternal, reason)
}

// Deliver wraps the local endpoint the far router's messages go to: each data message
// written there returns its credit to the far router.
func (t *terminal) Deliver(ep splice.Endpoint) splice.Endpoint {
	return splice.Endpoint{Conn: &creditingSender{inner: ep.Conn, t: t}, ConnID: ep.ConnID}
}

type creditingSender struct {
	inner splice.Sender
	t     *terminal
}

func (s *creditingSender) Send(ctx context.Context, m *wire.Message) error {
	data := m.ContentType == wire.ContentTypeData
	var c int64
	if data {
		c = cost(m)
	}
	err := s.inner.Send(ctx, m)
	if err == nil && data {
		s.t.grant(c)
	}
	return err
}

// TrySend writes m at once when the local endpoint can take it without waiting (see
// [splice.TrySender]), and returns its credit as Send does. The link's reader thus writes a
// message to an idle edge client itself, instead of waking the circuit's pump for it.
func (s *creditingSender) TrySend(m *wire.Message) (bool, error) {
	ts, ok := s.inner.(splice.TrySender)
	if !ok {
		return false, nil
	}
	data := m.ContentType == wire.ContentTypeData
	var c int64
	if data {
		c = cost(m)
	}
	sent, err := ts.TrySend(m)
	if sent && err == nil && data {
		s.t.grant(c)
	}
	return sent, err
}

// creditEvery bounds the messages delivered before credit is returned, however small: the
// far end keeps what it sent until credit shows it delivered, and a small message costs it
// more memory than its flow-control cost.
const creditEvery = 16

// grant returns credit to the far router, in batches of a quarter window (or of creditEvery
// messages).
func (t *terminal) grant(n int64) {
	t.mu.Lock()
	t.delivered += uint64(n)
	t.granted += n
	t.grantedN++
	if (t.granted < int64(t.m.cfg.Window)/4 && t.grantedN < creditEvery) || t.link == nil {
		t.mu.Unlock()
		return
	}
	t.sendCreditLocked()
	t.mu.Unlock()
}

// sendCreditLocked sends the credit granted since the last credit frame.
func (t *terminal) sendCreditLocked() {
	g := t.granted
	t.granted, t.grantedN = 0, 0
	t.link.send(frameCredit, 0, t.num, nil, binary.LittleEndian.AppendUint32(make([]byte, 0, 4), uint32(min(g, 1<<31))), nil)
}

// hop is a circuit crossing this router: frames from one link go on to the other.
type hop struct {
	circuitID string
	a, b      *Link
	na, nb    uint32
	done      atomic.Bool
}

func (h *hop) other(l *Link) (*Link, uint32) {
	if l == h.a {
		return h.b, h.nb
	}
	return h.a, h.na
}

func (h *hop) frame(l *Link, f *frame) {
	to, num := h.other(l)
	switch f.typ {
	case frameData, frameCredit, frameCreated, frameResumed:
		to.send(f.typ, f.flags, num, f.headers, f.body(), f.msg)
	case frameClose, frameFailed:
		to.send(f.typ, f.flags, num, f.headers, f.body(), f.msg)
		h.remove()
	default:
		f.release()
	}
}

// linkDown tells the other side of the path that it broke here, and which link: the
// dialer's router then mends the path around it.
func (h *hop) linkDown(l *Link, reason string) {
	to, num := h.other(l)
	var hd wire.Headers
	hd.PutUint32(hErrorCode, wire.ErrorCodeInternal)
	hd.PutString(hBroken, l.m.cfg.RouterID+","+l.peerID)
	to.send(frameClose, 0, num, hd, []byte(reason), nil)
	h.remove()
}

func (h *hop) remove() {
	if h.done.Swap(true) {
		return
	}
	h.a.forget(h.na, h)
	h.b.forget(h.nb, h)
}

// createRequest is a decoded create frame.
type createRequest struct {
	dial   edge.FabricDial
	path   []string
	window int64
}

func encodeCreate(d edge.FabricDial, path []string, window int) wire.Headers {
	var h wire.Headers
	h.PutString(hCircuitID, d.CircuitID)
	h.PutString(hPath, strings.Join(path, ","))
	h.PutString(hService, d.ServiceID)
	h.PutString(hTerminator, d.TerminatorID)
	if d.CallerID != "" {
		h.PutString(hCaller, d.CallerID)
	}
	if d.IdentityID != "" {
		h.PutString(hIdentity, d.IdentityID)
	}
	if len(d.PublicKey) > 0 {
		h.PutBytes(hPublicKey, d.PublicKey)
	}
	if len(d.AppData) > 0 {
		h.PutBytes(hAppData, d.AppData)
	}
	h.PutUint32(hWindow, uint32(window))
	return h
}

// maxPath bounds the routers of a path.
const maxPath = 32

func decodeCreate(h wire.Headers) (createRequest, error) {
	var r createRequest
	r.dial.CircuitID, _ = h.GetString(hCircuitID)
	pathText, _ := h.GetString(hPath)
	r.dial.ServiceID, _ = h.GetString(hService)
	r.dial.TerminatorID, _ = h.GetString(hTerminator)
	r.dial.CallerID, _ = h.GetString(hCaller)
	r.dial.IdentityID, _ = h.GetString(hIdentity)
	r.dial.PublicKey, _ = h.GetBytes(hPublicKey)
	r.dial.AppData, _ = h.GetBytes(hAppData)
	w, ok := h.GetUint32(hWindow)
	if !ok || w == 0 {
		return r, errors.New("create carries no window")
	}
	r.window = int64(w)
	if r.dial.CircuitID == "" || pathText == "" {
		return r, errors.New("create carries no circuit id or path")
	}
	var err error
	r.path, err = parsePath(pathText)
	return r, err
}

// parsePath decodes the path of a create or resume frame: 2 to maxPath distinct routers.
func parsePath(text string) ([]string, error) {
	path := strings.Split(text, ",")
	if len(path) < 2 || len(path) > maxPath {
		return nil, fmt.Errorf("a path of %d routers", len(path))
	}
	for i, id := range path {
		if id == "" || slices.Contains(path[:i], id) {
			return nil, errors.New("a path with an empty or repeated router")
		}
	}
	return path, nil
}
