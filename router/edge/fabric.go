package edge

import (
	"context"
	"time"

	"github.com/ostium-net/ostium/router/splice"
)

// RemoteTerminator is a terminator held by another router, reachable over the router mesh.
type RemoteTerminator struct {
	// Terminator describes it: ID is its id on its router, RouterID that router.
	Terminator
	// Path is the ordered router ids from this router to the terminator's, and PathCost its
	// cost (measured latency plus static costs).
	Path     []string
	PathCost int
}

// FabricDial is what the dialer's router tells the host's router about a new circuit.
type FabricDial struct {
	CircuitID string
	ServiceID string
	// TerminatorID is the terminator's id on the host's router.
	TerminatorID string
	// CallerID is told to the host; IdentityID is the dialer's identity.
	CallerID   string
	IdentityID string
	// PublicKey is the dialer's key for end-to-end encryption, or nil.
	PublicKey []byte
	AppData   []byte
}

// FabricEnd is the mesh side of a circuit on this router: it carries the circuit's messages
// to the router at the other end of the path and hands what comes back to the circuit.
type FabricEnd interface {
	// Send writes a Data or StateClosed message of the circuit towards the far router,
	// waiting for flow-control credit. (It implements splice.Sender.)
	splice.Sender
	// Deliver wraps the local endpoint that the far router's messages are written to, so
	// that each delivery returns flow-control credit to the far router.
	Deliver(ep splice.Endpoint) splice.Endpoint
	// Attach hands the end its circuit, of which it is side side; messages that arrived
	// before are forwarded now.
	Attach(c *splice.Circuit, side splice.Side)
	// Path is the ordered router ids of the circuit, from the dialer's router to the host's:
	// the path it runs over now (the mesh moves a circuit whose path broke to another).
	Path() []string
	// PeerPublicKey is the host's end-to-end key (dialer's side only).
	PeerPublicKey() []byte
	// Abort gives up an end that was never attached.
	Abort(reason string)
}

// Fabric is the router mesh as the edge listener uses it: it finds terminators on other
// routers and opens circuits to them. Paths and terminators come from what the router holds,
// so dials need no round trip to the controller.
type Fabric interface {
	// Terminators returns the reachable terminators of a service on other routers.
	Terminators(serviceID string) []RemoteTerminator
	// Dial opens a circuit to a remote terminator; it returns once the host accepted.
	Dial(ctx context.Context, t RemoteTerminator, d FabricDial) (FabricEnd, error)
}

// FabricUpdates is optionally implemented by a Fabric that can tell when what it knows
// changes (terminators, links, paths): a dial that finds no terminator waits for it (up to
// Config.TokenWait), as a host's Bind on another router may reach this router a moment after
// the host was told it is bound.
type FabricUpdates interface {
	// FabricChanged returns a channel closed at the next change.
	FabricChanged() <-chan struct{}
}

// pickTerminator picks a terminator among this router's and the fabric's; when there is none
// and the fabric announces its changes, it waits for one (there or on this router) up to
// TokenWait.
func (ch *channel) pickTerminator(sess Session, identity string) (choice, error) {
	l := ch.l
	updates, canWait := l.cfg.Fabric.(FabricUpdates)
	var timer *time.Timer
	for {
		var changed <-chan struct{}
		if canWait {
			changed = updates.FabricChanged()
		}
		added := l.terminators.addedChan()
		var remote []RemoteTerminator
		if l.cfg.Fabric != nil {
			remote = l.cfg.Fabric.Terminators(sess.ServiceID)
		}
		picked, err := l.terminators.pick(sess.ServiceID, sess.ServiceTerminatorStrategy, identity, remote)
		if err == nil || !canWait || l.cfg.TokenWait <= 0 {
			return picked, err
		}
		if timer == nil {
			timer = time.NewTimer(l.cfg.TokenWait)
			defer timer.Stop()
		}
		select {
		case <-changed:
		case <-added:
		case <-timer.C:
			return picked, err
		case <-ch.conn.Done():
			return picked, err
		}
	}
}

// FabricError is a refused fabric dial, with the edge error code the dialer is told.
type FabricError struct {
	Code    uint32
	Message string
}

func (e *FabricError) Error() string { return e.Message }

// fabricQueue bounds the queues of a circuit with a mesh side: the queue towards the local
// endpoint must take everything the far router may send within its window without waiting,
// so that a link's reader never waits for one circuit.
func fabricQueue(window int) splice.Limits {
	return splice.Limits{MaxBytes: max(splice.DefaultMaxBytes, 2*window+MaxFabricMessage), MaxMessages: window/MessageOverhead + 2*splice.DefaultMaxMessages}
}

// MessageOverhead is what every message costs in flow-control credit besides its bytes, so
// that many tiny messages cannot outrun the window.
const MessageOverhead = 64

// MaxFabricMessage is the largest Data payload a circuit across routers carries.
const MaxFabricMessage = 16 << 20
