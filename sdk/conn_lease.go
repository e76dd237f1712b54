package sdk

import "time"

// A Read (or a WriteTo to a writer that is not a socket) with nothing to return, whose
// deadline (if any) has not passed, reads the router channel itself when nobody else does,
// instead of waiting for the channel's read goroutine to hand it data (wire.Conn.LeaseRead,
// which carries the deadline onto the socket): the socket then wakes the reader directly,
// with no goroutine wake-up in between, which a request-response exchange
// otherwise pays on every message. Messages for the channel's other connections read
// meanwhile are handed on as the read goroutine would.
//
// When the read goroutine holds the channel, the Read waits to be handed data and says it
// will lease (waitingToLease): the read goroutine, having handed it data, leaves the channel
// (wire.Conn.YieldRead) so that the next Read can take it, unless another reader still waits
// to be handed data. Such readers are counted in waitingReads; while there are any, neither
// the read goroutine nor an ending lease leaves the channel unread, and a reader that starts
// waiting has the read goroutine take the channel if nobody holds it.
//
// Between a lease and the next, nobody reads the channel: a Dial for one of its listeners
// arriving then is read when the reader comes back or, if it does not within a millisecond or
// two, by the read goroutine (wire's idle watcher). A connection that closes gives the
// channel back to the read goroutine at once.

// awaitData waits for something to read: data, an end, a close or a new deadline. Unless the
// deadline passed, it first tries to read the channel itself until one of those comes or the
// deadline passes. It reports false when the deadline had passed.
func (c *conn) awaitData(deadline time.Time) bool {
	lease := deadline.IsZero() || time.Until(deadline) > 0
	if lease {
		c.mu.Lock()
		c.leasing = true
		c.mu.Unlock()
		leased := c.ch.wc.LeaseRead(func() bool { return c.nothingToRead(deadline) }, deadline)
		c.mu.Lock()
		c.leasing = false
		c.mu.Unlock()
		if leased {
			return true
		}
	}
	return c.awaitHandOver(deadline, lease)
}

// Wait states of a connection's reader (waitState), guarded by mu.
const (
	notWaiting = iota
	// waitingForData: a Read or WriteTo waits to be handed data, counted in waitingReads.
	waitingForData
	// waitingToLease: the same, by a reader that leases the channel when it comes back.
	waitingToLease
)

// awaitHandOver waits to be handed something to read, or until deadline (zero: none). The
// wait counts in waitingReads until the reader wakes, or until deliver hands data to a
// reader that will lease (willLease) and lets the read goroutine leave the channel to it.
func (c *conn) awaitHandOver(deadline time.Time, willLease bool) bool {
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return false // past its deadline, a read waits for nothing and wakes nobody
	}
	c.mu.Lock()
	c.waitState = waitingForData
	if willLease {
		c.waitState = waitingToLease
	}
	c.ch.waitingReads.Add(1)
	c.mu.Unlock()
	// Nobody may be reading the channel (a lease just ended): have the read goroutine read.
	c.ch.wc.EnsureReader()
	woke := c.awaitWake(deadline)
	c.mu.Lock()
	if c.waitState != notWaiting {
		c.waitState = notWaiting
		c.ch.waitingReads.Add(-1)
	}
	c.mu.Unlock()
	return woke
}

// handedOverLocked is called by deliver, holding mu, once it queued data: it reports whether
// the reader waiting for it will lease the channel when it comes back, and stops counting
// that reader as waiting.
func (c *conn) handedOverLocked() bool {
	if c.waitState != waitingToLease {
		return false
	}
	c.waitState = notWaiting
	c.ch.waitingReads.Add(-1)
	return true
}

// nothingToRead is a lease's condition: the lease goes on while there is nothing to return
// and the read deadline is still the one it started with.
func (c *conn) nothingToRead(deadline time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed && !c.eof && len(c.queue) == 0 && c.sinkErr == nil && c.readDeadline.Equal(deadline)
}

// interruptLease makes a lease of this connection's reader look at its condition again, after
// a close or a new deadline.
func (c *conn) interruptLease() {
	c.mu.Lock()
	leasing := c.leasing
	c.mu.Unlock()
	if leasing {
		c.ch.wc.InterruptLease()
	}
}

// readersWaiting reports whether a Read or WriteTo waits to be handed data on the channel.
func (ch *routerChannel) readersWaiting() bool { return ch.waitingReads.Load() > 0 }
