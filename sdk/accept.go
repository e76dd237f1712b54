package sdk

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// PendingConn is a connection accepted by a Listener with ManualStart: the
// dialer waits until the host calls CompleteAcceptSuccess, which answers its
// dial and lets data flow, or CompleteAcceptFailed, which refuses the dial
// and hands the reason to the dialer (its Dial returns an error carrying it).
// Writes wait for the answer; Close before it refuses the dial.
type PendingConn interface {
	net.Conn
	// CompleteAcceptSuccess accepts the dial. It fails when the dial was
	// already refused or timed out, or the router went away.
	CompleteAcceptSuccess() error
	// CompleteAcceptFailed refuses the dial with err's message.
	CompleteAcceptFailed(err error)
}

// DefaultAcceptTimeout is how long a pending connection waits for the host's
// answer before it is refused: below the router's own wait for a Dial's
// answer (10 s by default), so the dialer hears the reason.
const DefaultAcceptTimeout = 8 * time.Second

// pendingAccept is the unanswered Dial of a connection accepted with
// ManualStart. Whoever claims it first (the host's answer, the timeout, the
// router ending the dial) decides it; done is closed once the answer is sent,
// so writes never reach the router before its DialSuccess.
type pendingAccept struct {
	b       *listenerOnChannel
	replyTo *wire.Message // the Dial's sequence and reflected headers
	timer   *time.Timer

	mu      sync.Mutex
	claimed bool
	done    chan struct{}
	err     error // why the accept did not complete; nil once accepted
}

// newPendingAccept keeps what the answer to the Dial m needs. The Dial's
// buffers belong to the read loop, so the reflected headers are copied.
func newPendingAccept(b *listenerOnChannel, m *wire.Message) *pendingAccept {
	req := &wire.Message{Sequence: m.Sequence}
	for _, h := range m.Headers {
		if h.Key >= wire.ReflectedHeaderMin && h.Key <= wire.ReflectedHeaderMax {
			req.Headers.Put(h.Key, bytes.Clone(h.Value))
		}
	}
	return &pendingAccept{b: b, replyTo: req, done: make(chan struct{})}
}

// expireAfter runs expire after d unless the accept is decided first.
func (p *pendingAccept) expireAfter(d time.Duration, expire func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.claimed {
		p.timer = time.AfterFunc(d, expire)
	}
}

// claim reports whether this caller decides the accept.
func (p *pendingAccept) claim() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.claimed {
		return false
	}
	p.claimed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	return true
}

// finish records the outcome decided by the claimer.
func (p *pendingAccept) finish(err error) {
	p.err = err
	close(p.done)
}

// wait blocks until the accept is decided and returns why it failed.
func (p *pendingAccept) wait() error {
	<-p.done
	return p.err
}

var errAcceptRefused = errors.New("sdk: the dial of this connection was refused")

// CompleteAcceptSuccess answers the dial of a connection accepted with
// ManualStart. On other connections it does nothing.
func (c *conn) CompleteAcceptSuccess() error {
	p := c.pending
	if p == nil {
		return nil
	}
	if !p.claim() {
		// Refused, timed out, or ended by the router or a lost channel.
		return p.wait()
	}
	err := c.ch.send(wire.NewDialSuccess(p.b.id, c.id), p.replyTo)
	if err == nil && c.sender != nil {
		err = c.sendHeader()
	}
	p.finish(err)
	if err != nil {
		c.remoteFailed(err)
		_ = c.Close()
	}
	return err
}

// CompleteAcceptFailed refuses the dial of a connection accepted with
// ManualStart; the dialer's error carries err's message. The connection is
// closed. On other connections it closes the connection.
func (c *conn) CompleteAcceptFailed(err error) {
	if c.pending == nil {
		_ = c.Close()
		return
	}
	c.refuse(err)
}

// refuse answers the pending dial with DialFailed and ends the connection
// locally; it does nothing once the dial was answered.
func (c *conn) refuse(err error) {
	p := c.pending
	if err == nil {
		err = errAcceptRefused
	}
	if !p.claim() {
		return
	}
	c.ch.removeConn(c.id)
	reason := strings.ToValidUTF8(err.Error(), "?")
	_ = c.ch.send(wire.NewDialFailed(p.b.id, reason), p.replyTo)
	p.finish(err)
	c.remoteFailed(err)
}

var _ PendingConn = (*conn)(nil)
