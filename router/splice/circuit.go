package splice

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// Side names one end of a circuit.
type Side int

// The two sides of a circuit.
const (
	// Dialer is the side that sent the Connect.
	Dialer Side = 0
	// Host is the side that bound the service (the terminator).
	Host Side = 1
)

// Peer returns the other side.
func (s Side) Peer() Side { return 1 - s }

func (s Side) String() string {
	if s == Dialer {
		return "dialer"
	}
	return "host"
}

// Sender writes messages to a channel; *wire.Conn implements it.
type Sender interface {
	Send(ctx context.Context, m *wire.Message) error
}

// OwningSender is a Sender that takes ownership of the messages it is given: it releases
// them itself (once written), so the circuit does not. A Sender that queues messages for a
// writer of its own (a link to another router) implements it to spare a copy.
type OwningSender interface {
	Sender
	SendOwned(ctx context.Context, m *wire.Message) error
}

// DirectSender is an OwningSender that can also take a message without ever waiting (a
// link to another router with flow-control credit to spare): TrySendOwned either takes m
// (and owns it) or reports false at once, leaving m to the caller. A circuit then hands the
// messages read from the other side straight to it while nothing is queued before them,
// sparing the wakeup of a pump goroutine per message.
type DirectSender interface {
	OwningSender
	TrySendOwned(m *wire.Message) bool
}

// TrySender is a Sender that can sometimes write a message at once, knowing the write will
// not wait (an edge channel whose writer is idle and whose stream has room): TrySend either
// writes m (true; err tells whether the write failed) or reports false at once and leaves m
// to the caller. Its caller keeps ownership of m either way. A circuit writes the messages
// read from the other side that way while nothing is queued before them, in the reading
// goroutine, sparing the wakeup of a pump goroutine per message; a reader can thus never be
// held up by a destination that does not read.
type TrySender interface {
	Sender
	TrySend(m *wire.Message) (bool, error)
}

// Endpoint is one end of a circuit: an edge connection on a channel.
type Endpoint struct {
	// Conn is the channel the endpoint lives on.
	Conn Sender
	// ConnID is the edge conn id of the connection on that channel.
	ConnID uint32
}

// Default timeouts.
const (
	// DefaultStallTimeout stays well below the 10 s after which SDKs count a channel whose
	// latency probes go unanswered as bad: while Forward waits, the channel reads nothing.
	DefaultStallTimeout = 5 * time.Second
	DefaultWriteTimeout = 30 * time.Second
)

// Config configures a circuit. Zero fields take the defaults.
type Config struct {
	// Queue bounds each of the two queues.
	Queue Limits
	// StallTimeout is how long Forward waits for room in a full queue before it closes the
	// circuit (default 5 s). While it waits, the reading goroutine of the sending channel
	// reads nothing, which is what slows a fast sender down.
	StallTimeout time.Duration
	// WriteTimeout bounds each write to a channel, waiting for its turn included (default
	// 30 s). A write that times out closes the circuit.
	WriteTimeout time.Duration
	// IdleTimeout closes the circuit when no Data crossed it for that long (0: never).
	IdleTimeout time.Duration
	// Logger receives the reasons circuits close. Nil discards.
	Logger *slog.Logger
	// OnClose is called once, when the circuit closes, with the reason. It runs on the
	// goroutine that closed the circuit and must not block.
	OnClose func(c *Circuit, reason string)
}

func (c Config) withDefaults() Config {
	c.Queue = c.Queue.withDefaults()
	if c.StallTimeout <= 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

type circuitState int

const (
	stateCreated circuitState = iota
	stateStarted
	stateClosed
)

// Circuit splices two edge connections. Create it with [New], hand it the messages read for
// either endpoint with [Forward], start the pumps with [Start] and end it with [Close] (or a
// StateClosed from either side).
type Circuit struct {
	id  string
	cfg Config
	log *slog.Logger

	ends    [2]Endpoint
	connIDs [2][]byte // the encoded ConnID of each endpoint, shared by every rewritten message
	toward  [2]*Queue // toward[s] holds the messages to be written to side s

	mu     sync.Mutex
	state  circuitState
	reason string
	// hostClosed holds the reason of a StateClosed the host sent before Start (it accepted
	// the dial and closed at once); Start then closes the circuit right after starting it.
	hostClosed *string

	lastActive atomic.Int64 // UnixNano of the last Data forwarded
	idleTimer  *time.Timer  // guarded by mu
	forwarded  [2]atomic.Uint64

	closed chan struct{}
	pumps  sync.WaitGroup
}

// New returns a circuit between a dialer and a host endpoint. Nothing is written until Start.
func New(id string, dialer, host Endpoint, cfg Config) *Circuit {
	cfg = cfg.withDefaults()
	c := &Circuit{
		id:     id,
		cfg:    cfg,
		log:    cfg.Logger.With("circuit", id),
		ends:   [2]Endpoint{dialer, host},
		closed: make(chan struct{}),
	}
	for s := range c.ends {
		c.connIDs[s] = binary.LittleEndian.AppendUint32(nil, c.ends[s].ConnID)
		c.toward[s] = NewQueue(cfg.Queue)
	}
	c.lastActive.Store(time.Now().UnixNano())
	return c
}

// ID returns the circuit id.
func (c *Circuit) ID() string { return c.id }

// Endpoint returns the endpoint of side s.
func (c *Circuit) Endpoint(s Side) Endpoint { return c.ends[s] }

// Start starts writing to both endpoints; dialerPreface (the StateConnected reply, when not
// nil) is written to the dialer before anything else. It returns false when the circuit was
// closed already: nothing is then written, and no StateClosed was sent for it. A StateClosed
// the host sent before Start does not count as closed: the dialer gets the preface, the data
// the host sent, then the StateClosed.
func (c *Circuit) Start(dialerPreface *wire.Message) bool {
	c.mu.Lock()
	if c.state != stateCreated {
		c.mu.Unlock()
		return false
	}
	c.state = stateStarted
	if dialerPreface != nil {
		c.toward[Dialer].SetPreface(dialerPreface)
	}
	// Each queue starts a pump whenever it has something to write and none
	// runs; an idle circuit holds no goroutine.
	for s := Dialer; s <= Host; s++ {
		c.toward[s].Arm(func() {
			c.pumps.Add(1)
			go c.pump(s)
		})
	}
	if c.cfg.IdleTimeout > 0 {
		c.lastActive.Store(time.Now().UnixNano())
		c.idleTimer = time.AfterFunc(c.cfg.IdleTimeout, c.checkIdle)
	}
	hostClosed := c.hostClosed
	c.mu.Unlock()
	if hostClosed != nil {
		// The dialer sees the connection open, gets what the host sent, then the close.
		c.shutdown(Host, *hostClosed)
	}
	return true
}

// Forward takes a message read from side from: Data goes to the other side, StateClosed
// closes the circuit (the other side gets what is still queued, then StateClosed). Other
// types are dropped. Forward owns m. It may wait up to the stall timeout for room; when none
// is made, it closes the circuit.
func (c *Circuit) Forward(from Side, m *wire.Message) {
	switch m.ContentType {
	case wire.ContentTypeData:
	case wire.ContentTypeStateClosed:
		reason := string(m.Body)
		code, _ := m.Headers.GetUint32(wire.HeaderErrorCode)
		m.Release()
		if reason == "" {
			reason = "closed by " + from.String()
		}
		c.shutdownCode(from, code, reason)
		return
	default:
		m.Release()
		return
	}
	c.push(from, m, c.cfg.StallTimeout)
}

// ForwardNow is Forward for a side whose sender honours a flow-control window, so that room
// is certain: it never waits. A Data message that finds the queue full closes the circuit
// (the sender overran its window) and is reported.
func (c *Circuit) ForwardNow(from Side, m *wire.Message) error {
	if m.ContentType != wire.ContentTypeData {
		c.Forward(from, m)
		return nil
	}
	return c.push(from, m, 0)
}

func (c *Circuit) push(from Side, m *wire.Message, wait time.Duration) error {
	stripChannelHeaders(m)
	if c.cfg.IdleTimeout > 0 {
		c.lastActive.Store(time.Now().UnixNano())
	}
	// Counted before the push: once queued, the message may reach the other side, and the
	// circuit close and report its counts, before this goroutine runs again.
	size := uint64(len(m.Body))
	c.forwarded[from].Add(size)
	to := from.Peer()
	if ds, ok := c.ends[to].Conn.(DirectSender); ok && c.toward[to].Direct(m, func(m *wire.Message) bool {
		m.Headers.Put(wire.HeaderConnID, c.connIDs[to])
		return ds.TrySendOwned(m)
	}) {
		return nil
	}
	if ts, ok := c.ends[to].Conn.(TrySender); ok {
		var werr error
		if c.toward[to].Direct(m, func(m *wire.Message) bool {
			m.Headers.Put(wire.HeaderConnID, c.connIDs[to])
			sent, err := ts.TrySend(m)
			if sent {
				m.Release()
				werr = err
			}
			return sent
		}) {
			if werr != nil {
				c.writeFailed(to, werr)
			}
			return nil
		}
	}
	err := c.toward[to].Push(m, wait)
	if err == nil {
		return nil
	}
	c.forwarded[from].Add(-size)
	m.Release()
	switch {
	case errors.Is(err, ErrStalled) && wait == 0:
		c.closeWith(fmt.Sprintf("%s sent beyond its window: %v", from, err))
		return err
	case errors.Is(err, ErrStalled):
		c.closeWith(fmt.Sprintf("%s stopped reading: %v", from.Peer(), err))
	}
	return nil
}

// stripChannelHeaders removes the channel-layer headers (ids below the reflected range:
// heartbeats, ReplyFor, ...) that belonged to the hop the message arrived on.
func stripChannelHeaders(m *wire.Message) {
	h := m.Headers[:0]
	for _, hd := range m.Headers {
		if hd.Key >= wire.ReflectedHeaderMin || hd.Key < 0 {
			h = append(h, hd)
		}
	}
	clear(m.Headers[len(h):])
	m.Headers = h
}

// Close ends the circuit at once: queued payload is dropped and both sides get StateClosed
// with reason. Closing a closed circuit does nothing.
func (c *Circuit) Close(reason string) { c.closeWith(reason) }

// Cut ends the circuit for the router without losing what it holds: each side first gets
// what was queued for it, then a StateClosed with code and reason, which tells it that the
// network ended the connection (not the peer). Data that arrives afterwards is dropped. Cutting
// a closed circuit does nothing.
func (c *Circuit) Cut(code uint32, reason string) { c.end(-1, code, reason, true) }

func (c *Circuit) closeWith(reason string) { c.shutdown(-1, reason) }

// shutdown closes the circuit. by is the side that ended it (it is told nothing and what was
// queued for it is dropped, while the other side still gets its queue), or -1 when the router
// ends it (both queues are dropped and both sides are told).
func (c *Circuit) shutdown(by Side, reason string) { c.shutdownCode(by, 0, reason) }

// shutdownCode is shutdown telling the side that did not end the circuit an error code with
// the reason (0: an orderly close), so that a failure is not mistaken for the peer closing.
func (c *Circuit) shutdownCode(by Side, code uint32, reason string) { c.end(by, code, reason, false) }

// end closes the circuit (see shutdownCode); flush keeps the queues of a circuit the router
// ends (by -1), so that each side gets what it is owed before the StateClosed.
func (c *Circuit) end(by Side, code uint32, reason string, flush bool) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	if c.state == stateCreated && by == Host {
		// A host that accepted the dial may close before the router has started the circuit.
		// That is a connection that ended, not a dial that failed: keep it for Start.
		if c.hostClosed == nil {
			c.hostClosed = &reason
		}
		c.mu.Unlock()
		return
	}
	started := c.state == stateStarted
	c.state = stateClosed
	c.reason = reason
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	c.mu.Unlock()

	for s := Dialer; s <= Host; s++ {
		switch {
		case !started || s == by:
			c.toward[s].Abort(nil)
		case by >= 0 || flush:
			c.toward[s].Close(wire.NewStateClosed(c.ends[s].ConnID, code, reason))
		default:
			c.toward[s].Abort(wire.NewStateClosed(c.ends[s].ConnID, 0, reason))
		}
	}
	c.log.Debug("circuit closed", "reason", reason, "by", sideName(by))
	close(c.closed)
	if c.cfg.OnClose != nil {
		c.cfg.OnClose(c, reason)
	}
}

func sideName(s Side) string {
	if s < 0 {
		return "router"
	}
	return s.String()
}

func (c *Circuit) checkIdle() {
	idle := time.Since(time.Unix(0, c.lastActive.Load()))
	if idle >= c.cfg.IdleTimeout {
		c.log.Info("closing idle circuit", "idle", idle.Round(time.Millisecond), "limit", c.cfg.IdleTimeout)
		c.closeWith(fmt.Sprintf("idle for %s (limit %s)", idle.Round(time.Millisecond), c.cfg.IdleTimeout))
		return
	}
	c.mu.Lock()
	if c.state == stateStarted {
		c.idleTimer.Reset(c.cfg.IdleTimeout - idle)
	}
	c.mu.Unlock()
}

// pump writes the queue of side s to its channel until the queue has nothing left for now
// (the queue starts another pump when more arrives) or a write fails.
func (c *Circuit) pump(s Side) {
	defer c.pumps.Done()
	ep := c.ends[s]
	q := c.toward[s]
	for {
		m, ok := q.Next()
		if !ok {
			return
		}
		if m.ContentType == wire.ContentTypeData || m.ContentType == wire.ContentTypeStateClosed {
			m.Headers.Put(wire.HeaderConnID, c.connIDs[s])
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.WriteTimeout)
		var err error
		if owner, ok := ep.Conn.(OwningSender); ok {
			err = owner.SendOwned(ctx, m)
		} else {
			err = ep.Conn.Send(ctx, m)
			m.Release()
		}
		cancel()
		if err != nil {
			c.writeFailed(s, err)
			return
		}
	}
}

// writeFailed ends the circuit after a write to side s failed.
func (c *Circuit) writeFailed(s Side, err error) {
	c.log.Debug("writing to circuit endpoint failed", "side", s, "err", err)
	// Nothing more can reach side s; the other side gets what it is owed, and the
	// error code of an endpoint the network failed.
	c.toward[s].Abort(nil)
	var coded CodedError
	if errors.As(err, &coded) && coded.ErrorCode() != 0 {
		c.shutdownCode(s, coded.ErrorCode(), err.Error())
		return
	}
	c.shutdown(s, fmt.Sprintf("writing to %s failed: %v", s, err))
}

// CodedError is an error of an endpoint that the network failed (a mesh path that broke, say):
// when writing to it fails with one, the other side is closed with its code, so that its
// client reports an error instead of the peer's close.
type CodedError interface {
	error
	ErrorCode() uint32
}

// Done is closed when the circuit closes.
func (c *Circuit) Done() <-chan struct{} { return c.closed }

// Reason returns why the circuit closed ("" while open).
func (c *Circuit) Reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Wait blocks until the pumps have written their last message (returns at once for a circuit
// that was never started).
func (c *Circuit) Wait() { c.pumps.Wait() }

// Stats describes a circuit.
type Stats struct {
	ID string
	// Queued[s] is the queue towards side s.
	Queued [2]QueueStats
	// Forwarded[s] counts the payload bytes read from side s and queued for the other.
	Forwarded [2]uint64
}

// Stats returns the fill of both queues and the bytes forwarded.
func (c *Circuit) Stats() Stats {
	st := Stats{ID: c.id}
	for s := range c.toward {
		st.Queued[s] = c.toward[s].Stats()
		st.Forwarded[s] = c.forwarded[s].Load()
	}
	return st
}
