package sdk

import "time"

// A Read (or a WriteTo to a writer that is not a socket) with nothing to return and no
// deadline reads the router channel itself when nobody else does, instead of waiting for the
// channel's read goroutine to hand it data (wire.Conn.LeaseRead): the socket then wakes the
// reader directly, with no goroutine wake-up in between, which a request-response exchange
// otherwise pays on every message. Messages for the channel's other connections read
// meanwhile are handed on as the read goroutine would.
//
// When the read goroutine holds the channel, the Read waits to be handed data and marks
// itself (handOver): the read goroutine, having handed it data, leaves the channel
// (wire.Conn.YieldRead) so that the next Read can take it. While any Read or WriteTo waits to
// be handed data (counted in waitingReads), a lease that ends gives the channel back to the
// read goroutine.

// awaitData waits for something to read: data, an end, a close or a new deadline. Without a
// deadline it first tries to read the channel itself until one of those comes. It reports
// false when the deadline had passed.
func (c *conn) awaitData(deadline time.Time) bool {
	if deadline.IsZero() {
		c.mu.Lock()
		c.leasing = true
		c.mu.Unlock()
		leased := c.ch.wc.LeaseRead(c.nothingToRead)
		c.mu.Lock()
		c.leasing = false
		c.mu.Unlock()
		if leased {
			return true
		}
	}
	return c.awaitHandOver(deadline)
}

// awaitHandOver waits to be handed something to read, or until deadline (zero: none).
func (c *conn) awaitHandOver(deadline time.Time) bool {
	leasable := deadline.IsZero()
	if leasable {
		c.mu.Lock()
		c.handOver = true
		c.mu.Unlock()
	}
	c.ch.waitingReads.Add(1)
	woke := c.awaitWake(deadline)
	c.ch.waitingReads.Add(-1)
	if leasable {
		c.mu.Lock()
		c.handOver = false
		c.mu.Unlock()
	}
	return woke
}

// nothingToRead is a lease's condition: the lease goes on while there is nothing to return.
func (c *conn) nothingToRead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed && !c.eof && len(c.queue) == 0 && c.sinkErr == nil && c.readDeadline.IsZero()
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
