package splice

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// Queue errors.
var (
	// ErrClosed is returned by [Queue.Push] once the queue is closed, and by [Queue.Pop] once
	// a closed queue is drained.
	ErrClosed = errors.New("splice: queue closed")
	// ErrStalled is returned by [Queue.Push] when the queue stayed full for the whole wait.
	ErrStalled = errors.New("splice: queue full")
)

// Default queue bounds.
const (
	DefaultMaxMessages = 128
	DefaultMaxBytes    = 1 << 20
)

// Limits bound one queue. Zero fields take the defaults.
type Limits struct {
	// MaxMessages is the most messages a queue holds.
	MaxMessages int
	// MaxBytes is the most encoded bytes a queue holds. A single message larger than this is
	// still accepted when the queue is empty, so the bound is MaxBytes or one frame,
	// whichever is larger.
	MaxBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxMessages <= 0 {
		l.MaxMessages = DefaultMaxMessages
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}

// QueueStats describes the fill of a queue.
type QueueStats struct {
	// Messages and Bytes are queued now.
	Messages, Bytes int
	// HighMessages and HighBytes are the most ever queued at once.
	HighMessages, HighBytes int
}

// Queue is a bounded FIFO of messages with one kind of producer (Push, which waits while the
// queue is full) and one consumer (Pop, which waits while it is empty).
//
// Besides its bounded items it holds two unbounded slots: a preface, delivered before
// anything else and never dropped, and a final message, delivered after everything else once
// the queue is closed. They let a circuit put its StateConnected reply first and its
// StateClosed last without ever waiting for room.
type Queue struct {
	limits Limits

	mu        sync.Mutex
	items     []*wire.Message
	head      int // items[head:] are queued
	bytes     int
	preface   *wire.Message
	final     *wire.Message
	closed    bool
	spaceWait chan struct{} // closed when room is made; created by a waiting Push
	dataWait  chan struct{} // closed when something arrives; created by a waiting Pop
	high      QueueStats

	// With Arm, the queue starts its consumer on demand: spawn is called
	// whenever something can be taken and no consumer runs (consuming).
	armed     bool
	consuming bool
	spawn     func()
}

// NewQueue returns an empty queue with the given limits.
func NewQueue(limits Limits) *Queue {
	limits = limits.withDefaults()
	return &Queue{limits: limits, items: make([]*wire.Message, 0, min(limits.MaxMessages, 16))}
}

func messageSize(m *wire.Message) int { return m.EncodedLen() }

// Push appends m, waiting up to wait for room when the queue is full. It returns an error
// wrapping [ErrStalled] when no room was made in time and [ErrClosed] when the queue is (or
// gets) closed; m is then not queued and still owned by the caller.
func (q *Queue) Push(m *wire.Message, wait time.Duration) error {
	size := messageSize(m)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		n := len(q.items) - q.head
		if n == 0 || (n < q.limits.MaxMessages && q.bytes+size <= q.limits.MaxBytes) {
			q.items = append(q.items, m)
			q.bytes += size
			q.high.HighMessages = max(q.high.HighMessages, n+1)
			q.high.HighBytes = max(q.high.HighBytes, q.bytes)
			q.wakeLocked(&q.dataWait)
			start := q.claimLocked()
			q.mu.Unlock()
			if start {
				q.spawn()
			}
			return nil
		}
		if q.spaceWait == nil {
			q.spaceWait = make(chan struct{})
		}
		room := q.spaceWait
		q.mu.Unlock()

		if timer == nil {
			timer = time.NewTimer(wait)
		}
		select {
		case <-room:
		case <-timer.C:
			return fmt.Errorf("%w: %d messages, %d bytes queued for %s", ErrStalled, n, q.bytesNow(), wait)
		}
	}
}

func (q *Queue) bytesNow() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// wakeLocked wakes whoever waits on *ch.
func (q *Queue) wakeLocked(ch *chan struct{}) {
	if *ch != nil {
		close(*ch)
		*ch = nil
	}
}

// SetPreface sets the message Pop returns first. It replaces an earlier preface not yet
// popped. It works on a closed queue too.
func (q *Queue) SetPreface(m *wire.Message) {
	q.mu.Lock()
	q.preface = m
	q.wakeLocked(&q.dataWait)
	start := q.claimLocked()
	q.mu.Unlock()
	if start {
		q.spawn()
	}
}

// Arm makes the queue start its own consumer: spawn is called (never with
// the queue's lock held) whenever something can be taken and no consumer
// runs, at once when something is queued already. The consumer takes
// messages with Next until it reports none, then ends; the next arrival
// spawns another. An idle queue thus holds no goroutine.
func (q *Queue) Arm(spawn func()) {
	q.mu.Lock()
	q.armed, q.spawn = true, spawn
	start := q.claimLocked()
	q.mu.Unlock()
	if start {
		spawn()
	}
}

// Direct lets the producer of an armed queue hand m to its destination itself when
// nothing is queued and no consumer runs: send is called (without the queue's lock, counted
// as the consumer, so nothing queued meanwhile overtakes m) and must not block. When it
// reports false, m is queued first and a consumer is started, as Push would. Direct reports
// false, and does nothing, when the queue is not armed, is closed or holds anything.
func (q *Queue) Direct(m *wire.Message, send func(*wire.Message) bool) bool {
	q.mu.Lock()
	if !q.armed || q.consuming || q.closed || q.preface != nil || q.head < len(q.items) {
		q.mu.Unlock()
		return false
	}
	q.consuming = true
	q.mu.Unlock()
	sent := send(m)
	q.mu.Lock()
	switch {
	case !sent && q.closed:
		// Closed meanwhile: m is dropped, as a Push after the close would have been.
		defer m.Release()
	case !sent:
		// Nothing can have been taken meanwhile (no other consumer runs): m goes first.
		q.items = append(q.items, nil)
		copy(q.items[q.head+1:], q.items[q.head:])
		q.items[q.head] = m
		q.bytes += messageSize(m)
		q.high.HighMessages = max(q.high.HighMessages, len(q.items)-q.head)
		q.high.HighBytes = max(q.high.HighBytes, q.bytes)
	}
	q.consuming = false
	start := q.claimLocked()
	q.mu.Unlock()
	if start {
		q.spawn()
	}
	return true
}

// claimLocked reports whether the caller must start a consumer (and counts
// one as running).
func (q *Queue) claimLocked() bool {
	if !q.armed || q.consuming {
		return false
	}
	if q.preface == nil && q.head == len(q.items) && (!q.closed || q.final == nil) {
		return false
	}
	q.consuming = true
	return true
}

// Next gives the consumer of an armed queue the next message, in Pop's
// order, without waiting. When there is none it returns false and the
// consumer must end: it no longer counts as running.
func (q *Queue) Next() (*wire.Message, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if m := q.takeLocked(); m != nil {
		return m, true
	}
	q.consuming = false
	return nil, false
}

// takeLocked removes the next message: the preface, an item, or the final
// message of a closed queue; nil when there is none now.
func (q *Queue) takeLocked() *wire.Message {
	if m := q.preface; m != nil {
		q.preface = nil
		return m
	}
	if q.head < len(q.items) {
		m := q.items[q.head]
		q.items[q.head] = nil
		q.head++
		if q.head == len(q.items) {
			q.items, q.head = q.items[:0], 0
		}
		q.bytes -= messageSize(m)
		q.wakeLocked(&q.spaceWait)
		return m
	}
	if q.closed && q.final != nil {
		m := q.final
		q.final = nil
		return m
	}
	return nil
}

// Pop removes and returns the next message: the preface, then the items in order, then, once
// the queue is closed, the final message. It waits while there is nothing to return and
// returns [ErrClosed] when a closed queue has nothing left.
func (q *Queue) Pop() (*wire.Message, error) {
	for {
		q.mu.Lock()
		if m := q.takeLocked(); m != nil {
			q.mu.Unlock()
			return m, nil
		}
		if q.closed {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		if q.dataWait == nil {
			q.dataWait = make(chan struct{})
		}
		arrival := q.dataWait
		q.mu.Unlock()
		<-arrival
	}
}

// Close stops further pushes; Pop drains what is queued, then returns final (when not nil).
// Closing a closed queue does nothing (final is then released).
func (q *Queue) Close(final *wire.Message) {
	q.close(final, false)
}

// Abort closes the queue and drops every queued item (the preface stays); Pop then returns
// final (when not nil). On an already closed queue it still drops the items, and replaces
// the final message when final is not nil.
func (q *Queue) Abort(final *wire.Message) {
	q.close(final, true)
}

func (q *Queue) close(final *wire.Message, drop bool) {
	q.mu.Lock()
	var dropped []*wire.Message
	switch {
	case !q.closed:
		q.closed = true
		q.final = final
	case drop && final != nil:
		dropped = append(dropped, q.final)
		q.final = final
	default:
		dropped = append(dropped, final)
	}
	if drop {
		dropped = append(dropped, q.items[q.head:]...)
		clear(q.items)
		q.items, q.head, q.bytes = q.items[:0], 0, 0
	}
	q.wakeLocked(&q.dataWait)
	q.wakeLocked(&q.spaceWait)
	start := q.claimLocked()
	q.mu.Unlock()
	for _, m := range dropped {
		m.Release()
	}
	if start {
		q.spawn()
	}
}

// Stats returns the current and the highest fill of the queue.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.high
	s.Messages = len(q.items) - q.head
	s.Bytes = q.bytes
	return s
}

// Limits returns the bounds of the queue (defaults applied).
func (q *Queue) Limits() Limits { return q.limits }
