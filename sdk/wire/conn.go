package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// ErrConnClosed is returned (wrapped, together with the cause when there is one) by every
// operation on a closed [Conn] and to every Request still waiting when it closes.
var ErrConnClosed = errors.New("wire: connection closed")

// ConnConfig configures a [Conn].
type ConnConfig struct {
	// Limits bound the frames the Conn reads, and the frames it agrees to send.
	Limits Limits
	// DisableHeartbeatReplies turns off the answering of channel heartbeats (see [Conn]).
	DisableHeartbeatReplies bool
	// WriteReady, when set, reports whether the stream would take a small frame at once,
	// without waiting for its peer to read (its send buffer is empty, say). [Conn.TrySend]
	// writes only when it does; without it TrySend never writes.
	WriteReady func() bool
	// TryWrite, when set, is how TrySend writes: a write that never waits for the peer
	// (sdk/tlsio's, which keeps what the kernel does not take for later), reporting false
	// having written nothing when it cannot start. WriteReady is then its cheap pre-check.
	TryWrite func(p []byte) (bool, error)
	// Leasable lets a goroutine waiting for a message read the stream itself while nobody
	// else does ([Conn.LeaseRead]).
	Leasable bool
	// ReadersWaiting, with Leasable, reports whether goroutines wait for messages that the
	// read goroutine (or a leaseholder) hands them, other than Requests: a lease that ends
	// then gives the stream back to the read goroutine instead of leaving it unread.
	ReadersWaiting func() bool
}

// MaxTrySendLen is the largest encoded message [Conn.TrySend] writes after
// [ConnConfig.WriteReady] said the stream takes it at once; MaxTryWriteLen the largest it
// writes through [ConnConfig.TryWrite], which never waits whatever the size.
const (
	MaxTrySendLen  = 4096
	MaxTryWriteLen = 128 << 10
)

// heartbeatReplyDelay is how long an answer to a heartbeat waits for an outgoing message to
// ride on before it is sent on its own.
const heartbeatReplyDelay = 2 * time.Millisecond

// Conn is a channel over one stream: it serializes writes from any number of goroutines,
// numbers outgoing messages, and routes replies to the Request waiting for them.
//
// Sequences: every message sent gets the next sequence number (starting at 1), written in
// increasing order on the wire. The Hello exchange is the exception: a Hello and a reply to
// sequence -1 (the Hello result) keep sequence -1.
//
// Incoming messages are read by one goroutine, which hands each message that answers a pending
// Request to that Request and every other message to the handler, in arrival order. Replies
// that match no pending Request (late answers to a Request whose context ended, or unsolicited
// ones) also go to the handler, which can tell them by [Message.ReplyFor]. The handler runs on
// the read goroutine (or, in a leasable Conn, on the goroutine that leased the stream; see
// lease.go): while it runs no message is read, so it must not wait for a reply on the same
// Conn (start a goroutine for that). It may Send, bearing in mind that a Send blocks while
// the peer does not read.
//
// Heartbeats: peers put [HeaderHeartbeat] (a UnixNano timestamp) on a message now and then and
// expect it back in [HeaderHeartbeatResponse]. Unless disabled, the Conn answers on the next
// message it sends, or within a few milliseconds with a message of type [ContentTypeHeartbeat]
// when nothing else goes out. Incoming Heartbeat messages are then consumed by the Conn and
// not given to the handler.
//
// The Conn knows nothing of edge semantics beyond the channel headers.
type Conn struct {
	rwc     io.ReadWriteCloser
	reader  *Reader
	limits  Limits
	handler func(*Message)

	// writeSem is a one-slot semaphore held while assigning a sequence and writing a frame, so
	// sequences reach the wire in order. A channel rather than a mutex so waiting for it can
	// be abandoned when the context ends.
	writeSem chan struct{}
	seq      int32 // last sequence assigned; guarded by writeSem

	mu      sync.Mutex
	waiters map[int32]chan *Message

	answerHeartbeats bool
	writeReady       func() bool
	tryWrite         func(p []byte) (bool, error)
	// heartbeatDue holds the timestamp of a heartbeat not answered yet (0: none).
	heartbeatDue atomic.Uint64
	// heartbeatTimer is true while a standalone answer is scheduled.
	heartbeatTimer atomic.Bool

	closeOnce sync.Once
	closed    chan struct{}
	err       error // why the Conn closed; set before closed is closed
	readDone  chan struct{}

	leasable       bool
	readersWaiting func() bool
	lease          lease
}

// NewConn starts a Conn over rwc. handler receives every incoming message that is not the
// answer to a pending Request; it owns the message (and may [Message.Release] it). A nil
// handler drops those messages.
func NewConn(rwc io.ReadWriteCloser, handler func(*Message), cfg ConnConfig) *Conn {
	limits := cfg.Limits.withDefaults()
	c := &Conn{
		rwc:              rwc,
		reader:           NewReader(rwc, limits),
		limits:           limits,
		handler:          handler,
		answerHeartbeats: !cfg.DisableHeartbeatReplies,
		writeReady:       cfg.WriteReady,
		tryWrite:         cfg.TryWrite,
		leasable:         cfg.Leasable,
		readersWaiting:   cfg.ReadersWaiting,
		lease:            lease{resume: make(chan struct{}, 1)},
		writeSem:         make(chan struct{}, 1),
		waiters:          make(map[int32]chan *Message),
		closed:           make(chan struct{}),
		readDone:         make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// Send writes m. Unless m belongs to the Hello exchange, it first sets m.Sequence to the next
// sequence number. It returns once the frame is handed to the stream.
//
// If ctx ends while Send waits for its turn to write, nothing is written. If ctx ends during
// the write and the stream supports write deadlines (net.Conn does), the write is aborted; as
// a partial frame leaves the stream out of sync, the Conn is then closed. Any write error
// closes the Conn. A message beyond the Conn's limits is refused with [ErrFrameTooLarge] or
// [ErrTooManyHeaders] and the Conn stays open.
func (c *Conn) Send(ctx context.Context, m *Message) error {
	_, err := c.send(ctx, m, nil)
	return err
}

// Request sends m like Send and waits for the message whose [HeaderReplyFor] equals m's
// sequence. It returns early with an error wrapping ctx.Err() when ctx ends, or wrapping
// [ErrConnClosed] when the Conn closes first.
func (c *Conn) Request(ctx context.Context, m *Message) (*Message, error) {
	waiter := make(chan *Message, 1)
	seq, err := c.send(ctx, m, waiter)
	if err != nil {
		return nil, err
	}
	c.EnsureReader()
	select {
	case reply := <-waiter:
		return reply, nil
	case <-ctx.Done():
		if reply := c.abandon(seq, waiter); reply != nil {
			return reply, nil
		}
		return nil, fmt.Errorf("wire: waiting for reply to %s: %w", m, ctx.Err())
	case <-c.closed:
		if reply := c.abandon(seq, waiter); reply != nil {
			return reply, nil
		}
		return nil, fmt.Errorf("wire: waiting for reply to %s: %w", m, c.err)
	}
}

// abandon unregisters a waiter. If the reply was routed to it in the meantime, that reply is
// returned.
func (c *Conn) abandon(seq int32, waiter chan *Message) *Message {
	c.mu.Lock()
	if c.waiters[seq] == waiter {
		delete(c.waiters, seq)
	}
	c.mu.Unlock()
	select {
	case reply := <-waiter:
		return reply
	default:
		return nil
	}
}

// keepsHelloSequence reports whether m belongs to the Hello exchange, whose messages keep
// sequence -1.
func keepsHelloSequence(m *Message) bool {
	if m.ContentType == ContentTypeHello {
		return true
	}
	rf, ok := m.ReplyFor()
	return ok && rf == -1
}

type writeDeadliner interface {
	SetWriteDeadline(t time.Time) error
}

func (c *Conn) send(ctx context.Context, m *Message, waiter chan *Message) (int32, error) {
	if err := m.checkEncodable(); err != nil {
		return 0, fmt.Errorf("wire: sending %s: %w", m, err)
	}
	if err := c.limits.check(m); err != nil {
		return 0, fmt.Errorf("wire: sending %s: %w", m, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("wire: sending %s: %w", m, err)
	}
	select {
	case c.writeSem <- struct{}{}:
	case <-ctx.Done():
		return 0, fmt.Errorf("wire: sending %s: %w", m, ctx.Err())
	case <-c.closed:
		return 0, fmt.Errorf("wire: sending %s: %w", m, c.err)
	}
	defer func() { <-c.writeSem }()
	select {
	case <-c.closed:
		return 0, fmt.Errorf("wire: sending %s: %w", m, c.err)
	default:
	}
	seq := c.numberLocked(m)
	if waiter != nil {
		c.mu.Lock()
		if _, busy := c.waiters[seq]; busy {
			c.mu.Unlock()
			return 0, fmt.Errorf("wire: sending %s: a request with sequence %d is already pending", m, seq)
		}
		c.waiters[seq] = waiter
		c.mu.Unlock()
	}

	if err := c.writeLocked(ctx, m); err != nil {
		if waiter != nil {
			c.abandon(seq, waiter)
		}
		c.closeWith(err)
		return 0, fmt.Errorf("wire: sending %s: %w", m, err)
	}
	return seq, nil
}

// TrySend writes m like Send, but only when that needs no waiting: no other write is under
// way, the stream reports through [ConnConfig.WriteReady] that it takes the frame at once,
// and m encodes to at most [MaxTrySendLen] bytes, or [MaxTryWriteLen] when the frame goes
// through [ConnConfig.TryWrite]. Otherwise it reports false and leaves m untouched. When it
// reports true the frame was written, or the write failed (err; the Conn is then closed, as
// with Send).
func (c *Conn) TrySend(m *Message) (bool, error) {
	limit := MaxTrySendLen
	if c.tryWrite != nil {
		limit = MaxTryWriteLen
	}
	if c.writeReady == nil || m.EncodedLen() > limit {
		return false, nil
	}
	if m.checkEncodable() != nil || c.limits.check(m) != nil {
		return false, nil // Send reports the error
	}
	select {
	case c.writeSem <- struct{}{}:
	default:
		return false, nil
	}
	defer func() { <-c.writeSem }()
	select {
	case <-c.closed:
		return false, nil
	default:
	}
	if !c.writeReady() {
		return false, nil
	}
	c.numberLocked(m)
	var err error
	if c.tryWrite != nil {
		err = c.tryWriteLocked(m)
	} else {
		err = c.writeLocked(context.Background(), m)
	}
	if err != nil {
		c.closeWith(err)
		return true, fmt.Errorf("wire: sending %s: %w", m, err)
	}
	return true, nil
}

// tryWriteLocked writes a numbered message of at most MaxTryWriteLen through tryWrite. Should
// that not start after all (a write of the stream's own got in since WriteReady), the
// message, numbered already, is written the ordinary way; the caller holds writeSem.
func (c *Conn) tryWriteLocked(m *Message) error {
	bp := writeBufPool.Get().(*[]byte)
	defer writeBufPool.Put(bp)
	buf := append(m.appendHead((*bp)[:0]), m.Body...)
	*bp = buf[:0]
	written, err := c.tryWrite(buf)
	if !written {
		_, err = c.rwc.Write(buf)
	}
	if err != nil {
		return fmt.Errorf("wire: writing frame: %w", err)
	}
	return nil
}

// numberLocked gives m its sequence (see [Conn]) and the answer to a pending heartbeat; the
// caller holds writeSem.
func (c *Conn) numberLocked(m *Message) int32 {
	if keepsHelloSequence(m) {
		m.Sequence = -1
	} else {
		c.seq++
		if c.seq == -1 { // after wrapping around, keep clear of the Hello sequence
			c.seq++
		}
		m.Sequence = c.seq
	}
	if c.answerHeartbeats && m.ContentType != ContentTypeRaw {
		if ts := c.heartbeatDue.Swap(0); ts != 0 {
			m.Headers.PutUint64(HeaderHeartbeatResponse, ts)
		}
	}
	return m.Sequence
}

// writeLocked writes one frame; the caller holds writeSem.
func (c *Conn) writeLocked(ctx context.Context, m *Message) error {
	bp := writeBufPool.Get().(*[]byte)
	defer writeBufPool.Put(bp)
	dl, canAbort := c.rwc.(writeDeadliner)
	if ctx.Done() == nil || !canAbort {
		_, err := m.writeFrame(c.rwc, bp)
		return err
	}
	aborted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = dl.SetWriteDeadline(time.Unix(1, 0))
		close(aborted)
	})
	_, err := m.writeFrame(c.rwc, bp)
	if !stop() {
		// The context ended during the write: the deadline is (being) set.
		<-aborted
		if err != nil {
			return fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		if derr := dl.SetWriteDeadline(time.Time{}); derr != nil {
			return fmt.Errorf("wire: clearing write deadline: %w", derr)
		}
	}
	return err
}

func (c *Conn) readLoop() {
	defer close(c.readDone)
	for c.loopTurn() {
		m, err := c.reader.ReadMessage()
		if err != nil {
			c.closeWith(fmt.Errorf("wire: reading: %w", err))
			return
		}
		c.dispatch(m)
	}
}

// dispatch handles one incoming message on the goroutine that holds the stream: heartbeats,
// replies to Requests, and the handler.
func (c *Conn) dispatch(m *Message) {
	if c.answerHeartbeats {
		if ts, ok := m.Headers.GetUint64(HeaderHeartbeat); ok && ts != 0 {
			c.heartbeatDue.Store(ts)
			if c.heartbeatTimer.CompareAndSwap(false, true) {
				time.AfterFunc(heartbeatReplyDelay, c.answerHeartbeat)
			}
		}
		if m.ContentType == ContentTypeHeartbeat {
			m.Release()
			return
		}
	}
	if rf, ok := m.ReplyFor(); ok {
		c.mu.Lock()
		waiter := c.waiters[rf]
		if waiter != nil {
			delete(c.waiters, rf)
		}
		c.mu.Unlock()
		if waiter != nil {
			waiter <- m // buffered, and each waiter receives at most one message
			return
		}
	}
	if c.handler == nil {
		m.Release()
		return
	}
	c.handler(m)
}

// answerHeartbeat sends a standalone answer to a heartbeat that no outgoing message carried.
func (c *Conn) answerHeartbeat() {
	c.heartbeatTimer.Store(false)
	if c.heartbeatDue.Load() == 0 {
		return
	}
	// Send gives up when the Conn closes; a write error closes the Conn, which is all there
	// is to do about it here.
	_ = c.Send(context.Background(), NewMessage(ContentTypeHeartbeat, nil))
}

// closeWith closes the Conn once, recording why.
func (c *Conn) closeWith(cause error) {
	c.closeOnce.Do(func() {
		if cause == nil {
			c.err = ErrConnClosed
		} else {
			c.err = fmt.Errorf("%w: %w", ErrConnClosed, cause)
		}
		close(c.closed)
		_ = c.rwc.Close()
	})
}

// Close closes the stream and wakes every pending Request with [ErrConnClosed]. It does not
// wait for a running handler to return. Further calls do nothing.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.err = ErrConnClosed
		close(c.closed)
		err = c.rwc.Close()
	})
	return err
}

// Done is closed when the Conn closes, for any reason.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// Err returns nil while the Conn is open, then why it closed (always wrapping
// [ErrConnClosed]).
func (c *Conn) Err() error {
	select {
	case <-c.closed:
		return c.err
	default:
		return nil
	}
}

// Wait blocks until the read goroutine has exited (after the Conn closed and the handler, if it
// was running on that goroutine, returned; a leaseholder's handler may still run).
func (c *Conn) Wait() { <-c.readDone }
