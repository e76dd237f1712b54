package wire

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Reading the stream in place of the read goroutine (a lease)
//
// A goroutine waiting for a message that the read goroutine hands it is woken by that
// goroutine: a scheduler wake-up, on Linux usually a futex call that starts a thread on an
// idle processor, paid by every message of a request-response exchange. In a Conn built
// with ConnConfig.Leasable, such a goroutine can instead read the stream itself while nobody
// else does ([Conn.LeaseRead]), so the socket wakes it directly, as it would a plain TCP
// client.
//
// The stream has one holder at a time, the only goroutine that reads it:
//   - the read goroutine, at first;
//   - nobody, once the read goroutine handed a message to a goroutine that is likely to come
//     back for the next one ([Conn.YieldRead]) or a lease ended, in both cases with nobody
//     else waiting for a message;
//   - a goroutine in LeaseRead, which takes the stream only when nobody holds it.
//
// The stream goes back to the read goroutine when a lease ends while something else waits
// for a message (a Request, or whatever ConnConfig.ReadersWaiting reports), when a Request
// starts while nobody holds it, and when it stays without a holder for a whole tick of the
// idle watcher (leaseIdleTick): so nothing that arrives waits more than about two ticks for a
// reader.
//
// A holder is never interrupted in the middle of a message. A leaseholder waits for the first
// byte of the next message with its own deadline on the stream (none, or the one its caller
// gives); [Conn.InterruptLease] sets one in the past only during that wait. Before it reads
// the rest of a message, the holder clears the stream's deadline unless the whole frame is
// already buffered (then reading it reads nothing from the stream). A deadline stays on the
// stream between leases, so a run of leases with the same deadline sets it once; the read
// goroutine clears it when it takes the stream.

// leaseIdleTick is how often the idle watcher looks for streams nobody reads.
const leaseIdleTick = time.Millisecond

// leaseIdleTicks is how many ticks the idle watcher goes on with nothing to watch before it
// stops.
const leaseIdleTicks = 200

type holder uint8

const (
	heldByLoop holder = iota
	heldByNobody
	heldByLease
)

// lease is the state of a Conn's stream holder.
type lease struct {
	mu     sync.Mutex
	holder holder
	// yield makes the read goroutine leave the stream after the message it dispatches.
	yield bool
	// waiting is set while the leaseholder waits for the first byte of a message.
	waiting bool
	// interrupted is set by InterruptLease until the leaseholder saw it.
	interrupted bool
	// deadline is the read deadline set on the stream (zero: none).
	deadline time.Time
	// idleSince counts the times the stream was left without a holder; the idle watcher
	// compares it across ticks.
	idleSince uint64
	// resume wakes the read goroutine when it gets the stream back.
	resume chan struct{}
	// unwatched keeps the idle watcher away from the stream (tests of what else ends an idle
	// spell).
	unwatched bool
}

type readDeadliner interface {
	SetReadDeadline(t time.Time) error
}

// Errors of a leaseholder's wait that end it without closing the Conn.
var (
	// errLeaseInterrupted: InterruptLease cut the wait short.
	errLeaseInterrupted = errors.New("wire: lease interrupted")
	// errLeaseDeadline: the lease's deadline passed.
	errLeaseDeadline = errors.New("wire: lease deadline passed")
)

// LeaseRead reads the stream on the calling goroutine, dispatching each message as the read
// goroutine would (handler included), while more reports true; more is asked before each
// message and again after an InterruptLease, and until deadline (zero: none) passes while it
// waits for a message. It reports false at once, having read nothing, when the Conn is not
// leasable, is closed, or somebody else holds the stream. A read error closes the Conn, as it
// does in the read goroutine. more must not wait for this Conn.
func (c *Conn) LeaseRead(more func() bool, deadline time.Time) bool {
	if !c.leasable {
		return false
	}
	l := &c.lease
	l.mu.Lock()
	if l.holder != heldByNobody || c.Err() != nil {
		l.mu.Unlock()
		return false
	}
	l.holder = heldByLease
	l.interrupted = false
	l.mu.Unlock()
	for more() {
		if err := c.awaitFrame(deadline); err != nil {
			if errors.Is(err, errLeaseInterrupted) {
				continue
			}
			if errors.Is(err, errLeaseDeadline) {
				break
			}
			c.closeWith(fmt.Errorf("wire: reading: %w", err))
			break
		}
		m, err := c.reader.ReadMessage()
		if err != nil {
			c.closeWith(fmt.Errorf("wire: reading: %w", err))
			break
		}
		c.dispatch(m)
	}
	c.endLease()
	return true
}

// awaitFrame waits, as the leaseholder, for the first byte of the next message, until
// InterruptLease or until deadline (zero: none).
func (c *Conn) awaitFrame(deadline time.Time) error {
	l := &c.lease
	l.mu.Lock()
	if l.interrupted {
		l.interrupted = false
		l.mu.Unlock()
		return errLeaseInterrupted
	}
	if err := c.setDeadlineLocked(deadline); err != nil {
		l.mu.Unlock()
		return err
	}
	l.waiting = true
	l.mu.Unlock()
	err := c.reader.awaitFrame()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waiting = false
	timedOut := errors.Is(err, os.ErrDeadlineExceeded)
	if l.interrupted {
		// InterruptLease may have set a deadline in the past: clear it before anybody reads
		// on. Whatever was read meanwhile stays buffered for the next holder.
		l.interrupted = false
		if derr := c.setDeadlineLocked(time.Time{}); derr != nil {
			return derr
		}
		if err == nil || timedOut {
			return errLeaseInterrupted
		}
		return err
	}
	if timedOut {
		return errLeaseDeadline
	}
	if err == nil && !l.deadline.IsZero() && !c.reader.frameBuffered() {
		// The rest of the frame is still to come: no deadline may cut it.
		return c.setDeadlineLocked(time.Time{})
	}
	return err
}

// setDeadlineLocked puts deadline on the stream, when it is not there already.
func (c *Conn) setDeadlineLocked(deadline time.Time) error {
	l := &c.lease
	if deadline.Equal(l.deadline) {
		return nil
	}
	d, ok := c.rwc.(readDeadliner)
	if !ok {
		if deadline.IsZero() {
			return nil
		}
		return errors.New("wire: the stream takes no read deadline")
	}
	if err := d.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("setting the read deadline: %w", err)
	}
	l.deadline = deadline
	return nil
}

// InterruptLease makes the goroutine in LeaseRead, if there is one, ask its more function
// again without waiting for a message. Call it after changing what more reports.
func (c *Conn) InterruptLease() {
	l := &c.lease
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder != heldByLease {
		return
	}
	l.interrupted = true
	if l.waiting {
		// The holder clears it; an error leaves the holder to its wait, which more ends
		// at the next message.
		_ = c.setDeadlineLocked(time.Unix(1, 0))
	}
}

// YieldRead, called by the handler on the read goroutine, makes that goroutine leave the
// stream after the message being dispatched, unless something else waits for a message (see
// ConnConfig.ReadersWaiting): the handler handed it to a goroutine that will likely lease the
// stream for the next one. Elsewhere it does nothing.
func (c *Conn) YieldRead() {
	if !c.leasable {
		return
	}
	l := &c.lease
	l.mu.Lock()
	if l.holder == heldByLoop {
		l.yield = true
	}
	l.mu.Unlock()
}

// endLease gives up the stream: to the read goroutine when something waits for a message,
// otherwise to nobody, under the idle watcher.
func (c *Conn) endLease() {
	l := &c.lease
	l.mu.Lock()
	if c.readersWaitingLocked() {
		l.holder = heldByLoop
		l.mu.Unlock()
		c.wakeLoop()
		return
	}
	l.holder = heldByNobody
	l.idleSince++
	l.mu.Unlock()
	idle.watch(c)
}

// readersWaitingLocked reports whether something waits for a message besides the holder.
func (c *Conn) readersWaitingLocked() bool {
	c.mu.Lock()
	requests := len(c.waiters) > 0
	c.mu.Unlock()
	return requests || (c.readersWaiting != nil && c.readersWaiting())
}

// EnsureReader gives the stream back to the read goroutine when nobody holds it: call it
// before waiting for something the read goroutine hands on.
func (c *Conn) EnsureReader() {
	if !c.leasable {
		return
	}
	l := &c.lease
	l.mu.Lock()
	if l.holder != heldByNobody {
		l.mu.Unlock()
		return
	}
	l.holder = heldByLoop
	l.mu.Unlock()
	c.wakeLoop()
}

func (c *Conn) wakeLoop() {
	select {
	case c.lease.resume <- struct{}{}:
	default:
	}
}

// loopTurn is called by the read goroutine before each message: it leaves the stream when
// asked to (YieldRead) and waits until it has it again. It reports false once the Conn
// closed.
func (c *Conn) loopTurn() bool {
	if !c.leasable {
		return true
	}
	l := &c.lease
	for {
		l.mu.Lock()
		if l.yield {
			l.yield = false
			if l.holder == heldByLoop && !c.readersWaitingLocked() {
				l.holder = heldByNobody
				l.idleSince++
				l.mu.Unlock()
				idle.watch(c)
				continue
			}
		}
		mine := l.holder == heldByLoop
		var err error
		if mine {
			err = c.setDeadlineLocked(time.Time{}) // a lease's may still be there
		}
		l.mu.Unlock()
		if err != nil {
			c.closeWith(err)
			return false
		}
		if mine {
			return true
		}
		select {
		case <-l.resume:
		case <-c.closed:
			return false
		}
	}
}

// idleWatcher gives streams that stay without a holder back to their read goroutines. It runs
// while there are streams to watch and for leaseIdleTicks after.
type idleWatcher struct {
	mu      sync.Mutex
	conns   map[*Conn]uint64 // the idleSince seen at the last tick
	running bool
}

var idle = &idleWatcher{conns: map[*Conn]uint64{}}

func (w *idleWatcher) watch(c *Conn) {
	c.lease.mu.Lock()
	unwatched := c.lease.unwatched
	c.lease.mu.Unlock()
	if unwatched {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.conns[c]; ok {
		return
	}
	w.conns[c] = ^uint64(0)
	if !w.running {
		w.running = true
		go w.run()
	}
}

func (w *idleWatcher) run() {
	t := time.NewTicker(leaseIdleTick)
	defer t.Stop()
	empty := 0
	for range t.C {
		w.mu.Lock()
		for c, seen := range w.conns {
			if !w.check(c, seen) {
				delete(w.conns, c)
			}
		}
		if len(w.conns) == 0 {
			empty++
		} else {
			empty = 0
		}
		if empty >= leaseIdleTicks {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}

// check looks at one watched stream, holding w.mu, and reports whether to keep watching it.
func (w *idleWatcher) check(c *Conn, seen uint64) bool {
	if c.Err() != nil {
		return false
	}
	l := &c.lease
	l.mu.Lock()
	switch {
	case l.holder != heldByNobody:
		// Held: whoever ends the hold watches the stream again if it is left to nobody.
		l.mu.Unlock()
		return false
	case l.idleSince != seen:
		// Left to nobody since the last tick: wait one more.
		w.conns[c] = l.idleSince
		l.mu.Unlock()
		return true
	}
	l.holder = heldByLoop
	l.mu.Unlock()
	c.wakeLoop()
	return false
}
