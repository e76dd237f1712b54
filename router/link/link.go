package link

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ostium-net/ostium/router/sockq"
	"github.com/ostium-net/ostium/sdk/wire"
)

// outFrame is a frame waiting for the link's writer.
type outFrame struct {
	head []byte        // fixed header and header block
	body []byte        // written after head
	msg  *wire.Message // released once written (nil: nothing to release)
	ref  *sentFrame    // or, for a data frame an end keeps for resending: unref'd once written
}

// release gives back what the frame holds once it was written or dropped.
func (f *outFrame) release() {
	if f.ref != nil {
		f.ref.unref()
		return
	}
	f.msg.Release()
}

// Link is one live connection to another router: a TLS stream carrying frames of many
// circuits, read by one goroutine and written by a writer goroutine or, for a small frame
// when the link is idle, by its sender (see enqueue).
type Link struct {
	m      *Manager
	id     string
	peerID string
	// dialed is true on the side that dialed the link.
	dialed bool
	conn   net.Conn
	log    *slog.Logger
	since  time.Time

	wmu sync.Mutex
	wq  []outFrame
	// writing is set while a goroutine writes to conn: the writer with a batch, or a sender
	// writing its frame itself (see enqueue). Guarded by wmu.
	writing bool
	wsignal chan struct{}
	// tryWrite writes a frame to conn when that needs no waiting for the peer, or reports
	// false having written nothing (nil: never, and every frame goes through the writer).
	// Guarded by wmu.
	tryWrite func(p []byte) (bool, error)
	// maxDirect bounds the frames written through tryWrite.
	maxDirect int
	// direct assembles a frame a sender writes itself; used only by the goroutine that set
	// writing.
	direct []byte
	// writeDeadline is conn's write deadline; used only by the goroutine that set writing.
	writeDeadline time.Time

	closeOnce sync.Once
	closed    chan struct{}
	errMu     sync.Mutex
	err       error

	cmu      sync.Mutex
	circuits map[uint32]endpoint
	nextNum  uint32

	latency   atomic.Int64 // last measured round trip, ns (0: none yet)
	lastProbe atomic.Int64 // UnixNano of the last probe answered
	bytesIn   atomic.Uint64
	bytesOut  atomic.Uint64
	// directWrites counts frames written by their sender rather than the writer.
	directWrites atomic.Uint64
}

// endpoint is what a circuit number of a link leads to: a circuit's end on this router
// (terminal) or the next hop (hop).
type endpoint interface {
	// frame handles a frame of the circuit. It runs on the link's read goroutine and must
	// not block; it owns f.
	frame(l *Link, f *frame)
	// linkDown is called once when the link closes.
	linkDown(l *Link, reason string)
}

func newLink(m *Manager, id, peerID string, dialed bool, conn net.Conn) *Link {
	l := &Link{
		m: m, id: id, peerID: peerID, dialed: dialed, conn: conn, since: time.Now(),
		wsignal:  make(chan struct{}, 1),
		closed:   make(chan struct{}),
		circuits: make(map[uint32]endpoint),
	}
	l.tryWrite, l.maxDirect = tryWriterOf(conn)
	// The dialing side numbers its circuits odd, the accepting side even: both may open
	// circuits on the same link without colliding.
	l.nextNum = 2
	if dialed {
		l.nextNum = 1
	}
	l.log = m.log.With("link", id, "peer", peerID)
	return l
}

// ID is the link's id.
func (l *Link) ID() string { return l.id }

// PeerID is the id of the router at the other end.
func (l *Link) PeerID() string { return l.peerID }

// Latency is the last measured round trip (0 before the first probe is answered).
func (l *Link) Latency() time.Duration { return time.Duration(l.latency.Load()) }

// Done is closed when the link closes.
func (l *Link) Done() <-chan struct{} { return l.closed }

// Err is why the link closed.
func (l *Link) Err() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

func (l *Link) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// run starts the link's goroutines and returns when the link is closed and they ended.
func (l *Link) run(fr *frameReader) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); l.writeLoop() }()
	go func() { defer wg.Done(); l.probeLoop() }()
	go func() { defer wg.Done(); l.readLoop(fr) }()
	<-l.closed
	_ = l.conn.Close()
	wg.Wait()
	l.cmu.Lock()
	eps := l.circuits
	l.circuits = map[uint32]endpoint{}
	l.cmu.Unlock()
	reason := fmt.Sprintf("link to router %s lost", l.peerID)
	if err := l.Err(); err != nil && !errors.Is(err, errLinkClosed) {
		reason += ": " + err.Error()
	}
	for num, ep := range eps {
		_ = num
		ep.linkDown(l, reason)
	}
	// Frames never written give their buffers back.
	l.wmu.Lock()
	q := l.wq
	l.wq = nil
	l.wmu.Unlock()
	for i := range q {
		q[i].release()
	}
}

var errLinkClosed = errors.New("link closed")

// close ends the link with err (the first error wins).
func (l *Link) close(err error) {
	l.closeOnce.Do(func() {
		l.errMu.Lock()
		l.err = err
		l.errMu.Unlock()
		close(l.closed)
		_ = l.conn.Close()
	})
}

// Close ends the link; its circuits are told it is gone.
func (l *Link) Close() { l.close(errLinkClosed) }

// send queues a frame. It never blocks: what a link holds is bounded by the flow control of
// its circuits. It reports false once the link is closed (msg is then released).
func (l *Link) send(typ, flags byte, circuit uint32, headers wire.Headers, body []byte, msg *wire.Message) bool {
	if err := checkFrame(headers, len(body)); err != nil {
		l.log.Warn("dropping a frame that cannot be encoded", "type", frameTypeName(typ), "err", err)
		msg.Release()
		return false
	}
	head := appendFrameHead(make([]byte, 0, frameHeaderLen+headersLen(headers)), typ, flags, circuit, headers, len(body))
	return l.enqueue(outFrame{head: head, body: body, msg: msg})
}

// sendKept queues a data frame its end keeps until the far end received it: the frame holds
// a reference of sf (taken here) until written. It reports false once the link is closed.
func (l *Link) sendKept(circuit uint32, sf *sentFrame) bool {
	sf.refs.Add(1)
	head := appendFrameHead(make([]byte, 0, frameHeaderLen+headersLen(sf.hdrs)), frameData, 0, circuit, sf.hdrs, len(sf.msg.Body))
	return l.enqueue(outFrame{head: head, body: sf.msg.Body, ref: sf})
}

// Bounds of a frame its sender writes itself. Through TLS that never waits (tlsio), the
// bound only keeps a reader from spending long on another link's behalf; after a probe found
// the TCP send queue empty, the frame must fit the send buffer, or the write could wait.
const (
	maxDirectWrite       = 128 << 10
	maxDirectProbedWrite = 4 << 10
)

// enqueue hands f to the link; false once the link is closed (f is then released). A small
// frame that finds the writer idle and nothing queued is written by the calling goroutine
// when the connection takes it without waiting on the peer (see tryWriterOf): that saves
// waking the writer, which matters most for the round trip of small messages, where every
// hop's wake-up adds latency. Anything else is queued for the writer.
func (l *Link) enqueue(f outFrame) bool {
	l.wmu.Lock()
	if l.isClosed() {
		l.wmu.Unlock()
		f.release()
		return false
	}
	if l.writing || len(l.wq) > 0 || l.tryWrite == nil || len(f.head)+len(f.body) > l.maxDirect {
		l.wq = append(l.wq, f)
		l.wmu.Unlock()
		l.signal()
		return true
	}
	l.writing = true
	tryWrite := l.tryWrite
	l.wmu.Unlock()
	l.writeDirect(f, tryWrite)
	return true
}

// tryWriterOf returns how a sender writes a frame to conn itself without waiting, and the
// largest frame it may write so: through TLS that writes without blocking (tlsio), or else,
// on a TCP connection whose send queue is empty, by an ordinary write of a small frame, which
// then cannot wait. Nil when neither is possible.
func tryWriterOf(conn net.Conn) (func(p []byte) (bool, error), int) {
	if tw, ok := conn.(interface{ TryWrite([]byte) (bool, error) }); ok {
		return tw.TryWrite, maxDirectWrite
	}
	empty := sockq.EmptyProbe(conn)
	if empty == nil {
		return nil, 0
	}
	return func(p []byte) (bool, error) {
		if !empty() {
			return false, nil
		}
		_, err := conn.Write(p)
		return true, err
	}, maxDirectProbedWrite
}

// writeDirect writes f from the sending goroutine; the caller set l.writing. When it cannot
// be written at once, f goes to the front of the writer's queue instead: frames queued
// meanwhile came after it.
func (l *Link) writeDirect(f outFrame, tryWrite func([]byte) (bool, error)) {
	buf := append(append(l.direct[:0], f.head...), f.body...)
	l.direct = buf[:0]
	l.extendWriteDeadline()
	written, err := tryWrite(buf)
	if !written {
		l.wmu.Lock()
		l.writing = false
		if l.isClosed() {
			l.wmu.Unlock()
			f.release()
			return
		}
		l.wq = slices.Insert(l.wq, 0, f)
		l.wmu.Unlock()
		l.signal()
		return
	}
	f.release()
	l.bytesOut.Add(uint64(len(buf)))
	l.directWrites.Add(1)
	l.wmu.Lock()
	l.writing = false
	pending := len(l.wq) > 0
	l.wmu.Unlock()
	if err != nil {
		l.close(fmt.Errorf("write: %w", err))
		return
	}
	if pending {
		l.signal()
	}
}

func (l *Link) signal() {
	select {
	case l.wsignal <- struct{}{}:
	default:
	}
}

// writeTimeout bounds one batch of writes; a peer that reads nothing for that long is gone.
const writeTimeout = 10 * time.Second

// extendWriteDeadline gives the write about to start at least half of writeTimeout. It moves
// the deadline only when less than that is left, not on every frame: each move is a timer
// update in the Go runtime, paid by every message crossing the router. The caller set
// writing.
func (l *Link) extendWriteDeadline() {
	now := time.Now()
	if l.writeDeadline.Sub(now) >= writeTimeout/2 {
		return
	}
	l.writeDeadline = now.Add(writeTimeout)
	_ = l.conn.SetWriteDeadline(l.writeDeadline)
}

func (l *Link) writeLoop() {
	bw := bufio.NewWriterSize(l.conn, 64<<10)
	var batch []outFrame
	for {
		select {
		case <-l.closed:
			return
		case <-l.wsignal:
		}
		for {
			l.wmu.Lock()
			if l.writing || len(l.wq) == 0 {
				// Empty, or a sender writes its own frame and signals when it is done.
				l.wmu.Unlock()
				break
			}
			batch, l.wq = l.wq, batch[:0]
			l.writing = true
			l.wmu.Unlock()
			l.extendWriteDeadline()
			var err error
			for i := range batch {
				f := &batch[i]
				if err == nil {
					if _, err = bw.Write(f.head); err == nil && len(f.body) > 0 {
						_, err = bw.Write(f.body)
					}
					l.bytesOut.Add(uint64(len(f.head) + len(f.body)))
				}
				f.release()
				*f = outFrame{}
			}
			if err == nil {
				err = bw.Flush()
			}
			l.wmu.Lock()
			l.writing = false
			l.wmu.Unlock()
			if err != nil {
				l.close(fmt.Errorf("write: %w", err))
				return
			}
		}
	}
}

func (l *Link) readLoop(fr *frameReader) {
	for {
		f, err := fr.read()
		if err != nil {
			l.close(fmt.Errorf("read: %w", err))
			return
		}
		l.bytesIn.Add(uint64(frameHeaderLen + len(f.body())))
		l.handle(f)
	}
}

// handle dispatches a frame; it runs on the read goroutine.
func (l *Link) handle(f *frame) {
	switch f.typ {
	case frameProbe:
		l.send(frameProbeReply, 0, 0, nil, append([]byte(nil), f.body()...), nil)
		f.release()
		return
	case frameProbeReply:
		if len(f.body()) == 8 {
			sent := int64(binary.LittleEndian.Uint64(f.body()))
			if rtt := time.Now().UnixNano() - sent; rtt >= 0 {
				rtt = max(rtt, 1)
				old := l.latency.Swap(rtt)
				l.m.latency.Observe(time.Duration(rtt).Seconds())
				l.lastProbe.Store(time.Now().UnixNano())
				if latencyMoved(old, rtt) {
					l.m.linkChanged()
				}
			}
		}
		f.release()
		return
	case frameHello:
		f.release()
		l.close(errors.New("a second hello"))
		return
	case frameCreate:
		l.m.handleCreate(l, f)
		return
	case frameResume:
		l.m.handleResume(l, f)
		return
	}
	l.cmu.Lock()
	ep := l.circuits[f.circuit]
	l.cmu.Unlock()
	if ep == nil {
		// A late frame of a circuit that closed here already.
		f.release()
		return
	}
	ep.frame(l, f)
}

// probeLoop measures the link's round trip and closes a link whose peer stopped answering.
func (l *Link) probeLoop() {
	interval, timeout := l.m.cfg.ProbeInterval, l.m.cfg.ProbeTimeout
	t := time.NewTicker(interval)
	defer t.Stop()
	l.lastProbe.Store(time.Now().UnixNano())
	probe := func() {
		body := binary.LittleEndian.AppendUint64(make([]byte, 0, 8), uint64(time.Now().UnixNano()))
		l.send(frameProbe, 0, 0, nil, body, nil)
	}
	probe()
	for {
		select {
		case <-l.closed:
			return
		case <-t.C:
			if since := time.Since(time.Unix(0, l.lastProbe.Load())); since > timeout {
				l.close(fmt.Errorf("no answer to probes for %s", since.Round(time.Millisecond)))
				return
			}
			probe()
		}
	}
}

// register gives a new circuit number of this side to ep; false once the link is closed.
func (l *Link) register(ep endpoint) (uint32, bool) {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	if l.isClosed() {
		return 0, false
	}
	for {
		n := l.nextNum
		l.nextNum += 2 // wraps around keeping its parity
		if _, taken := l.circuits[n]; !taken && n != 0 {
			l.circuits[n] = ep
			return n, true
		}
	}
}

// attach binds a circuit number the peer chose to ep; false when it is taken or the link is
// closed.
func (l *Link) attach(n uint32, ep endpoint) bool {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	if l.isClosed() || n == 0 {
		return false
	}
	if _, taken := l.circuits[n]; taken {
		return false
	}
	// A number of our own parity was not chosen by the peer.
	if (n%2 == 1) == l.dialed {
		return false
	}
	l.circuits[n] = ep
	return true
}

// forget drops circuit number n if it still leads to ep.
func (l *Link) forget(n uint32, ep endpoint) {
	l.cmu.Lock()
	if l.circuits[n] == ep {
		delete(l.circuits, n)
	}
	l.cmu.Unlock()
}

// circuitCount is the number of circuits on the link.
func (l *Link) circuitCount() int {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	return len(l.circuits)
}

// latencyMoved reports a change of round trip worth telling the controller and recomputing
// paths for: the first measure, or a move by a fifth and at least half a millisecond.
func latencyMoved(old, now int64) bool {
	if old == 0 {
		return true
	}
	d := now - old
	if d < 0 {
		d = -d
	}
	return d > int64(500*time.Microsecond) && d*5 > old
}
