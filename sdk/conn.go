package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ostium-net/ostium/sdk/crypto"
	"github.com/ostium-net/ostium/sdk/wire"
)

// Addr names one end of an Ostium connection: the service and who is at
// that end.
type Addr struct {
	Service  string
	Identity string
}

// Network is "ostium".
func (a Addr) Network() string { return "ostium" }

func (a Addr) String() string {
	if a.Identity == "" {
		return a.Service
	}
	return a.Identity + "@" + a.Service
}

// Limits of one connection's buffers. A reader that falls behind by more than
// maxReadBuffered bytes stalls its router channel until it catches up, which
// pushes back on the writer through the router.
const (
	maxChunk        = 64 << 10
	maxReadBuffered = 4 << 20
	sendQueueDepth  = 16
)

// errConnClosed is returned after Close.
var errConnClosed = net.ErrClosed

// conn is one edge connection (a circuit end) multiplexed on a router channel.
type conn struct {
	ch     *routerChannel
	id     uint32
	local  Addr
	remote Addr

	// read side, guarded by mu; wake is signalled on every change.
	mu           sync.Mutex
	queue        []readChunk
	queued       int
	eof          bool  // the peer half-closed or closed
	failure      error // why the network ended the connection (nil: the peer closed it)
	closed       bool  // Close was called
	readDeadline time.Time
	wake         chan struct{} // capacity 1
	space        chan struct{} // capacity 1: the queue shrank
	// sink is set while WriteTo waits with nothing queued: deliver writes to it directly
	// (see WriteTo), counting in sinkWritten and keeping the first error in sinkErr.
	sink        func([]byte) (int, error)
	sinkWritten int64
	sinkErr     error
	// leasing is set while a Read or WriteTo reads the channel itself; waitState says how
	// one waits to be handed data (see conn_lease.go).
	leasing   bool
	waitState uint8

	// write side
	wmu           sync.Mutex // serialises Write and CloseWrite
	sendq         chan *wire.Message
	slots         chan struct{} // one per message queued and not yet written
	sendDone      chan struct{}
	seq           uint32
	writeClosed   bool
	dmu           sync.Mutex
	writeDeadline time.Time
	wdeadline     chan struct{} // closed and replaced when the write deadline changes

	// End-to-end encryption: keyed is closed once sender and receiver are
	// set; it is nil for connections that are not encrypted.
	keyed    chan struct{}
	sender   *crypto.Sender
	receiver *crypto.Receiver

	closeOnce sync.Once
	onClose   func()

	// appData is what the dialer attached to its Dial (hosting side only).
	appData []byte
	// pending is the unanswered Dial of a connection accepted with
	// ManualStart (hosting side only); nil otherwise.
	pending *pendingAccept
}

// AppData returns the application data the dialer attached to this
// connection (on the hosting side; nil on the dialing side). Tunnelers use it
// to carry the destination the client asked for.
func (c *conn) AppData() []byte { return c.appData }

func newConn(ch *routerChannel, id uint32, local, remote Addr) *conn {
	c := &conn{ch: ch, id: id, local: local, remote: remote,
		wake: make(chan struct{}, 1), space: make(chan struct{}, 1),
		sendq: make(chan *wire.Message, sendQueueDepth+1), slots: make(chan struct{}, sendQueueDepth), sendDone: make(chan struct{}),
		wdeadline: make(chan struct{})}
	go c.sendLoop()
	return c
}

// isClosed reports whether ch is closed (without waiting: the keys of an encrypted connection
// are set once, so every Data message after the first finds them without arming a timer).
func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// sendLoop writes queued messages to the channel in order. Deadlines apply
// when queueing, never to a frame half written, so one connection's timeout
// cannot corrupt the channel it shares.
func (c *conn) sendLoop() {
	defer close(c.sendDone)
	for m := range c.sendq {
		err := c.ch.wc.Send(context.Background(), m)
		m.Release()
		select {
		case <-c.slots:
		default: // the final StateClosed takes no slot
		}
		if err != nil {
			c.remoteFailed(c.ch.lostError())
			for m := range c.sendq {
				m.Release()
				select {
				case <-c.slots:
				default:
				}
			}
			return
		}
	}
}

// expectEncryption makes incoming data wait for setKeys.
func (c *conn) expectEncryption() { c.keyed = make(chan struct{}) }

// setKeys installs the session keys of end-to-end encryption.
func (c *conn) setKeys(rx, tx [32]byte) error {
	s, err := crypto.NewSender(tx)
	if err != nil {
		return err
	}
	c.sender = s
	c.receiver = crypto.NewReceiver(rx)
	close(c.keyed)
	return nil
}

// sendHeader queues this side's stream header as its first Data message.
func (c *conn) sendHeader() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.enqueue(func() *wire.Message { return c.dataMessage(c.sender.Header(), 0) })
}

func (c *conn) dataMessage(payload []byte, flags uint32) *wire.Message {
	c.seq++
	return wire.NewData(c.id, c.seq, flags, payload)
}

// deliver is called by the channel's read loop with a Data message.
func (c *conn) deliver(m *wire.Message) {
	if c.keyed != nil && !isClosed(c.keyed) {
		select {
		case <-c.keyed:
		case <-c.ch.closed:
			return
		case <-time.After(30 * time.Second):
			c.ch.log.Warn("dropping connection: no encryption keys", "conn", c.id)
			go c.abort()
			return
		}
	}
	chunk := readChunk{data: m.Body, msg: m}
	fin := m.Flags()&wire.FlagFIN != 0
	if c.receiver != nil && len(chunk.data) > 0 {
		plain, err := c.receiver.Open(chunk.data) // in place: plain lives in m's body
		if err != nil {
			m.Release()
			c.ch.log.Warn("dropping connection: end-to-end decryption failed", "conn", c.id, "err", err)
			c.abort()
			return
		}
		chunk.data = plain
	}
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			chunk.release()
			return
		}
		if c.queued < maxReadBuffered || len(chunk.data) == 0 {
			if len(chunk.data) > 0 && c.sink != nil {
				chunk.data = c.writeToSink(chunk.data)
				if len(chunk.data) == 0 && !fin {
					c.mu.Unlock()
					chunk.release()
					return
				}
			}
			if len(chunk.data) > 0 {
				// The body is kept without a copy; Read returns it to its
				// pool once it is consumed.
				c.queue = append(c.queue, chunk)
				c.queued += len(chunk.data)
			} else {
				chunk.release()
			}
			if fin {
				c.eof = true
			}
			handOver := c.handedOverLocked()
			c.mu.Unlock()
			signal(c.wake)
			if handOver {
				c.ch.wc.YieldRead()
			}
			return
		}
		c.mu.Unlock()
		select {
		case <-c.space:
		case <-c.ch.closed:
			chunk.release()
			return
		}
	}
}

// readChunk is payload waiting for Read: data, and the message whose pooled
// body holds it (nil when data is a buffer of its own).
type readChunk struct {
	data []byte
	msg  *wire.Message
}

func (r readChunk) release() {
	if r.msg != nil {
		r.msg.Release()
	}
}

// remoteFailed marks the end of the peer's data; once what arrived is read, Read returns err
// (io.EOF when nil).
func (c *conn) remoteFailed(err error) {
	if c.pending != nil && c.pending.claim() {
		why := err
		if why == nil {
			why = errors.New("sdk: the dial ended before the host accepted it")
		}
		c.pending.finish(why)
	}
	c.mu.Lock()
	c.eof = true
	if c.failure == nil {
		c.failure = err
	}
	c.mu.Unlock()
	signal(c.wake)
}

// ConnectionError is what Read returns once the network ended a connection for a failure (a
// router or a link on its path was lost, for example) rather than the peer closing it: the
// router's StateClosed then carries an error code, or the channel to the router itself was
// lost. Data may be missing at its end, unlike at an io.EOF.
type ConnectionError struct {
	// Code is the edge error code the router sent.
	Code uint32
	// Reason is the router's explanation.
	Reason string
}

func (e *ConnectionError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("connection ended by the network (error code %d)", e.Code)
	}
	return "connection ended by the network: " + e.Reason
}

// closeError is the error a StateClosed reports: nil for an orderly close.
func closeError(m *wire.Message) error {
	code, ok := m.Headers.GetUint32(wire.HeaderErrorCode)
	if !ok || code == 0 {
		return nil
	}
	return &ConnectionError{Code: code, Reason: string(bytes.ToValidUTF8(m.Body, []byte("?")))}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }

func (c *conn) Read(b []byte) (int, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, errConnClosed
		}
		if len(c.queue) > 0 {
			if len(b) == 0 {
				c.mu.Unlock()
				return 0, nil
			}
			// Fill b from as many queued chunks as fit: fewer, larger reads.
			n := 0
			for n < len(b) && len(c.queue) > 0 {
				head := &c.queue[0]
				k := copy(b[n:], head.data)
				n += k
				if k < len(head.data) {
					head.data = head.data[k:]
					break
				}
				head.release()
				*head = readChunk{}
				c.queue = c.queue[1:]
			}
			c.queued -= n
			c.mu.Unlock()
			signal(c.space)
			return n, nil
		}
		if c.eof {
			err := c.failure
			c.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return 0, err
		}
		deadline := c.readDeadline
		c.mu.Unlock()
		if !c.awaitData(deadline) {
			return 0, timeoutError{}
		}
	}
}

// awaitWake waits for the read side to be woken (data, an end, a new deadline), or until
// deadline (zero: none). It reports false when deadline had passed before it waited.
func (c *conn) awaitWake(deadline time.Time) bool {
	if deadline.IsZero() {
		<-c.wake
		return true
	}
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.wake:
	case <-t.C:
	}
	return true
}

func (c *conn) currentWriteDeadline() (time.Time, chan struct{}) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	return c.writeDeadline, c.wdeadline
}

// enqueue waits, until the write deadline, for room in the send queue, and
// only then builds the message and queues it. Building after the wait keeps
// the stream consistent: a chunk is sealed (and numbered) only when it is
// certain to be sent, so a timed-out Write leaves nothing half done.
func (c *conn) enqueue(build func() *wire.Message) error {
	for {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return errConnClosed
		}
		deadline, changed := c.currentWriteDeadline()
		var timer <-chan time.Time
		var t *time.Timer
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return timeoutError{}
			}
			t = time.NewTimer(d)
			timer = t.C
		}
		select {
		case c.slots <- struct{}{}:
			if t != nil {
				t.Stop()
			}
			c.sendq <- build()
			return nil
		case <-timer:
			return timeoutError{}
		case <-changed:
			if t != nil {
				t.Stop()
			}
		case <-c.ch.closed:
			if t != nil {
				t.Stop()
			}
			return io.ErrClosedPipe
		}
	}
}

func (c *conn) Write(b []byte) (int, error) {
	if c.pending != nil {
		if err := c.pending.wait(); err != nil {
			return 0, err
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeClosed {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return 0, errConnClosed
		}
		return 0, errors.New("ostium: write after CloseWrite")
	}
	written := 0
	for written < len(b) {
		n := min(len(b)-written, maxChunk)
		chunk := b[written : written+n]
		if c.sendDirect(chunk) {
			written += n
			continue
		}
		err := c.enqueue(func() *wire.Message {
			m := c.dataMessage(nil, 0)
			if c.sender != nil {
				m.Body = c.sender.SealTo(m.AllocBody(len(chunk) + crypto.ABytes)[:0], chunk)
			} else {
				copy(m.AllocBody(len(chunk)), chunk)
			}
			return m
		})
		if err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

// sendDirect writes a chunk straight to the channel, without a hop through
// the send loop (and, when it is not encrypted, without a copy), when nothing
// is queued ahead of it and no write deadline is set (a deadline needs the
// queue, which can give up without tearing a frame). It reports whether it
// did. A chunk it seals is sent for certain: only the loss of the channel,
// which ends the connection, stops it. Callers hold wmu.
func (c *conn) sendDirect(chunk []byte) bool {
	if len(c.slots) != 0 {
		return false
	}
	if deadline, _ := c.currentWriteDeadline(); !deadline.IsZero() {
		return false
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return false // the queue path reports it
	}
	m := c.dataMessage(chunk, 0)
	if c.sender != nil {
		m.Body = c.sender.SealTo(m.AllocBody(len(chunk) + crypto.ABytes)[:0], chunk)
	}
	err := c.ch.wc.Send(context.Background(), m)
	m.Release()
	if err != nil {
		c.remoteFailed(c.ch.lostError())
		return false
	}
	return true
}

// CloseWrite half-closes the connection: the peer reads EOF after the data
// already written, and may go on writing to this side.
func (c *conn) CloseWrite() error {
	if c.pending != nil {
		if err := c.pending.wait(); err != nil {
			return err
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeClosed {
		return nil
	}
	c.writeClosed = true
	return c.enqueue(func() *wire.Message { return c.dataMessage(nil, wire.FlagFIN) })
}

// Close ends the connection both ways and tells the peer.
func (c *conn) Close() error {
	if c.pending != nil {
		c.refuse(errors.New("the host closed the connection before accepting it"))
	}
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.mu.Lock()
		c.closed = true
		for _, chunk := range c.queue {
			chunk.release()
		}
		c.queue, c.queued = nil, 0
		c.mu.Unlock()
		signal(c.wake)
		c.interruptLease()
		signal(c.space)
		c.dmu.Lock()
		close(c.wdeadline)
		c.wdeadline = make(chan struct{})
		c.dmu.Unlock()
		c.wmu.Lock()
		c.writeClosed = true
		select {
		case c.sendq <- wire.NewStateClosed(c.id, 0, "closed"):
		case <-c.ch.closed:
		case <-time.After(5 * time.Second):
		}
		close(c.sendq)
		c.wmu.Unlock()
		c.ch.removeConn(c.id)
		if c.onClose != nil {
			c.onClose()
		}
	})
	if !first {
		return errConnClosed
	}
	return nil
}

// abort closes without waiting on a stuck send queue.
func (c *conn) abort() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	signal(c.wake)
	c.interruptLease()
	_ = c.Close()
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errConnClosed
	}
	c.readDeadline = t
	c.mu.Unlock()
	signal(c.wake)
	c.interruptLease()
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return errConnClosed
	}
	c.dmu.Lock()
	c.writeDeadline = t
	close(c.wdeadline)
	c.wdeadline = make(chan struct{})
	c.dmu.Unlock()
	return nil
}

var _ net.Conn = (*conn)(nil)
