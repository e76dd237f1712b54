package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ostium-net/ostium/sdk/crypto"
	"github.com/ostium-net/ostium/sdk/restapi/models"
	"github.com/ostium-net/ostium/sdk/wire"
)

// ListenOptions tune a Listen.
type ListenOptions struct {
	// Cost and Precedence of the terminators (how routers choose among hosts).
	Cost       uint16
	Precedence wire.Precedence
	// TerminatorIdentity makes this host addressable by dialers.
	TerminatorIdentity string
	// MaxConnections bounds connections waiting in Accept (default 64); more
	// dials are refused until Accept catches up.
	MaxConnections int
	// Routers is how many routers to bind on at once (default 3, or fewer
	// when fewer are available). More bindings survive a router going away
	// without a gap; new routers are picked up as they appear.
	Routers int
	// ManualStart makes Accept return connections whose dial is not answered
	// yet: each is a PendingConn, and the dialer waits until the host calls
	// CompleteAcceptSuccess, or CompleteAcceptFailed with a reason the
	// dialer's Dial then returns (a host that cannot reach its own target
	// refuses instead of accepting and closing). A connection left pending
	// for AcceptTimeout is refused.
	ManualStart bool
	// AcceptTimeout bounds the wait of a pending connection (default
	// DefaultAcceptTimeout).
	AcceptTimeout time.Duration
}

// Listener hosts a service: it binds on routers and accepts the connections
// dialers make to it. When a router goes away it binds again, on that router
// when it comes back or on another.
type Listener struct {
	c    *Context
	svc  *Service
	opts ListenOptions
	addr Addr

	pub, priv [32]byte // end-to-end key pair of this listener

	accept    chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
	kick      chan struct{}

	mu       sync.Mutex
	bindings map[string]*listenerOnChannel // by router address
}

// listenerOnChannel is one Bind of a Listener on one router channel.
type listenerOnChannel struct {
	l        *Listener
	ch       *routerChannel
	id       uint32
	token    string
	boundCh  chan struct{}
	lostOnce sync.Once
	done     chan struct{}
}

// Listen hosts a service.
func (c *Context) Listen(service string) (net.Listener, error) {
	return c.ListenWithOptions(service, nil)
}

// ListenWithOptions hosts a service with options. It returns once the
// service is bound on at least one router.
func (c *Context) ListenWithOptions(service string, opts *ListenOptions) (net.Listener, error) {
	if opts == nil {
		opts = &ListenOptions{}
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 64
	}
	if opts.Routers <= 0 {
		opts.Routers = 3
	}
	if opts.AcceptTimeout <= 0 {
		opts.AcceptTimeout = DefaultAcceptTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := c.service(ctx, service)
	if err != nil {
		return nil, err
	}
	l := &Listener{c: c, svc: svc, opts: *opts, addr: Addr{Service: svc.Name, Identity: c.id.Chain[0].Subject.CommonName},
		accept: make(chan net.Conn, opts.MaxConnections), closed: make(chan struct{}), kick: make(chan struct{}, 1),
		bindings: map[string]*listenerOnChannel{}}
	if svc.EncryptionRequired {
		if l.pub, l.priv, err = crypto.GenerateKeyPair(); err != nil {
			return nil, err
		}
	}
	if _, err := l.bindMore(ctx, false); l.count() == 0 {
		// The session held may name routers that are gone: try a new one once.
		if _, ferr := l.bindMore(ctx, true); l.count() == 0 {
			if ferr == nil {
				ferr = err
			}
			return nil, ferr
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = l.Close()
		return nil, errClosed
	}
	c.listeners[l] = struct{}{}
	c.mu.Unlock()
	go l.maintain()
	return l, nil
}

// The pace of binding again.
const (
	// probeMin and probeMax bound the wait between two attempts to reach a router of the
	// listener's session that it is not bound on while that router stays out of reach: an
	// attempt is a TCP and TLS dial, cheap enough to make often, so that a router that
	// returns is bound again within probeMax of accepting connections.
	probeMin = 250 * time.Millisecond
	probeMax = 500 * time.Millisecond
	// refusedMin and refusedMax bound the wait of a listener with no binding whose routers
	// refused it (rather than being out of reach).
	refusedMin = time.Second
	refusedMax = 5 * time.Second
	// bindRefresh is how often a listener with fewer bindings than it wants asks the
	// controller for a new bind session, which lists the routers it may use now.
	bindRefresh = 5 * time.Second
	// waitLogEvery spaces out the log of a listener that has no binding at all.
	waitLogEvery = 30 * time.Second
)

// bindMore binds on the session's routers until opts.Routers bindings exist. fresh asks the
// controller for a new bind session first; when none can be had (the controller is away), the
// session held is used, which the routers still judge. unreachable reports a router of the
// session that could not be reached (or is shutting down): worth trying again soon. err is
// the last failure, nil when every router of the session is bound.
func (l *Listener) bindMore(ctx context.Context, fresh bool) (unreachable bool, err error) {
	sess, err := l.bindSession(ctx, fresh)
	if err != nil {
		return false, err
	}
	unreachable, refused, lastErr := l.bindOnRouters(ctx, sess)
	if l.count() == 0 && refused && !fresh {
		// A router refused the session held: a new one may be accepted.
		if sess, err = l.c.session(ctx, l.svc, "Bind", true); err == nil {
			unreachable, _, lastErr = l.bindOnRouters(ctx, sess)
		}
	}
	if lastErr == nil && l.count() == 0 {
		lastErr = fmt.Errorf("sdk: no edge router to host %s", l.svc.Name)
	}
	return unreachable, lastErr
}

// bindSession returns the bind session to bind with: a new one when fresh and the controller
// answers, else the one held.
func (l *Listener) bindSession(ctx context.Context, fresh bool) (*models.SessionDetail, error) {
	sess, err := l.c.session(ctx, l.svc, "Bind", fresh)
	if err == nil || !fresh {
		return sess, err
	}
	if held := l.c.cachedSession(l.svc, "Bind"); held != nil {
		l.c.log.Debug("no new bind session; binding with the one held", "service", l.svc.Name, "err", err)
		return held, nil
	}
	return nil, err
}

// bindOnRouters binds on the routers of sess not bound yet, fastest first, until
// opts.Routers bindings exist. It reports whether a router was out of reach, whether one
// refused the session, and the last failure.
func (l *Listener) bindOnRouters(ctx context.Context, sess *models.SessionDetail) (unreachable, refused bool, lastErr error) {
	for _, addr := range l.c.routersOf(l.svc, "Bind", sess) {
		if l.count() >= l.opts.Routers {
			break
		}
		l.mu.Lock()
		_, have := l.bindings[addr]
		l.mu.Unlock()
		if have {
			continue
		}
		err := l.bindOn(ctx, addr, sess)
		if err == nil {
			continue
		}
		lastErr = err
		if outOfReach(err) {
			unreachable = true
		} else if sessionRefused(err) {
			refused = true
		}
		l.c.log.Debug("bind failed", "router", addr, "service", l.svc.Name, "err", err)
	}
	return unreachable, refused, lastErr
}

func (l *Listener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.bindings)
}

func (l *Listener) bindOn(ctx context.Context, addr string, sess *models.SessionDetail) error {
	ch, err := l.c.channel(ctx, addr)
	if err != nil {
		return err
	}
	b := &listenerOnChannel{l: l, ch: ch, id: ch.nextID.Add(1), token: *sess.Token, boundCh: make(chan struct{}), done: make(chan struct{})}
	ch.mu.Lock()
	ch.listeners[b.id] = b
	ch.mu.Unlock()
	bo := wire.BindOptions{Cost: l.opts.Cost, Precedence: l.opts.Precedence, TerminatorIdentity: l.opts.TerminatorIdentity}
	if l.svc.EncryptionRequired {
		bo.PublicKey = l.pub[:]
	}
	forget := func() {
		ch.mu.Lock()
		if ch.listeners[b.id] == b {
			delete(ch.listeners, b.id)
		}
		ch.mu.Unlock()
	}
	reply, err := ch.wc.Request(ctx, wire.NewBind([]byte(b.token), b.id, bo))
	if err != nil {
		forget()
		return &outOfReachError{fmt.Errorf("bind %s on %s: %w", l.svc.Name, addr, err)}
	}
	if reply.ContentType != wire.ContentTypeStateConnected {
		forget()
		code, _ := reply.ErrorCode()
		return fmt.Errorf("bind %s on %s: %w", l.svc.Name, addr, ch.refusedFor(code, string(reply.Body)))
	}
	// A router that supports it confirms the terminator; give it a moment.
	select {
	case <-b.boundCh:
	case <-time.After(5 * time.Second):
	case <-b.done:
	case <-ch.closed:
	}
	select {
	case <-b.done:
		return &outOfReachError{fmt.Errorf("bind %s on %s: the router ended the binding at once", l.svc.Name, addr)}
	case <-ch.closed:
		return &outOfReachError{fmt.Errorf("bind %s on %s: router channel closed while binding", l.svc.Name, addr)}
	default:
	}
	l.mu.Lock()
	l.bindings[addr] = b
	l.mu.Unlock()
	return nil
}

// maintain keeps the listener bound. A lost binding is made again at once; while a router
// of the session stays out of reach, it is tried every probeMin to probeMax, so that it is
// bound again as soon as it accepts connections, however long it was away. Every
// bindRefresh a listener short of bindings asks for a new session, to learn of new routers.
func (l *Listener) maintain() {
	tick := time.NewTicker(bindRefresh)
	defer tick.Stop()
	probe, refusedWait := probeMin, refusedMin
	var retry <-chan time.Time
	lastFresh := time.Now() // ListenWithOptions just used the session
	var waitingSince, loggedAt time.Time
	for {
		select {
		case <-l.closed:
			return
		case <-l.kick:
		case <-tick.C:
		case <-retry:
		}
		retry = nil
		if l.count() >= l.opts.Routers {
			probe, refusedWait = probeMin, refusedMin
			continue
		}
		fresh := time.Since(lastFresh) >= bindRefresh
		if fresh {
			lastFresh = time.Now()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		unreachable, err := l.bindMore(ctx, fresh)
		cancel()
		bound := l.count()
		switch {
		case bound > 0:
			if !waitingSince.IsZero() {
				l.c.log.Info("listener bound again", "service", l.svc.Name, "routers", bound,
					"after", time.Since(waitingSince).Round(time.Millisecond))
				waitingSince, loggedAt = time.Time{}, time.Time{}
			}
			if err != nil {
				l.c.log.Debug("listener could not bind on more routers", "service", l.svc.Name, "bound", bound, "err", err)
			}
		default:
			if waitingSince.IsZero() {
				waitingSince = time.Now()
			}
			if time.Since(loggedAt) >= waitLogEvery {
				l.c.log.Info("listener waiting to bind again", "service", l.svc.Name, "err", err,
					"since", time.Since(waitingSince).Round(time.Millisecond))
				loggedAt = time.Now()
			}
		}
		switch {
		case unreachable:
			retry = time.After(probe)
			probe = min(2*probe, probeMax)
		case bound == 0:
			probe = probeMin
			retry = time.After(refusedWait)
			refusedWait = min(2*refusedWait, refusedMax)
		default:
			probe, refusedWait = probeMin, refusedMin
		}
	}
}

func (b *listenerOnChannel) bound() {
	select {
	case <-b.boundCh:
	default:
		close(b.boundCh)
	}
}

// lost removes a binding whose router channel or terminator ended.
func (b *listenerOnChannel) lost() {
	b.lostOnce.Do(func() {
		close(b.done)
		b.ch.mu.Lock()
		delete(b.ch.listeners, b.id)
		b.ch.mu.Unlock()
		b.l.mu.Lock()
		if b.l.bindings[b.ch.addr] == b {
			delete(b.l.bindings, b.ch.addr)
		}
		b.l.mu.Unlock()
		select {
		case b.l.kick <- struct{}{}:
		default:
		}
	})
}

// dial handles the router's Dial for a new connection to this listener. It
// runs on the channel's read loop and must not wait for replies.
func (b *listenerOnChannel) dial(m *wire.Message) {
	l := b.l
	newID, ok := m.Headers.GetUint32(wire.HeaderRouterProvidedConnID)
	if !ok {
		_ = b.ch.send(wire.NewDialFailed(b.id, "no connection id"), m)
		return
	}
	caller, _ := m.Headers.GetString(wire.HeaderCallerID)
	cn := newConn(b.ch, newID, l.addr, Addr{Service: l.svc.Name, Identity: caller})
	cn.appData, _ = m.Headers.GetBytes(wire.HeaderAppData)
	if l.svc.EncryptionRequired {
		dialerPub, ok := m.Headers.GetBytes(wire.HeaderPublicKey)
		if !ok || len(dialerPub) != 32 {
			_ = b.ch.send(wire.NewDialFailed(b.id, "the dialer sent no public key"), m)
			return
		}
		cn.expectEncryption()
		rx, tx, err := crypto.ServerSessionKeys(l.pub, l.priv, [32]byte(dialerPub))
		if err == nil {
			err = cn.setKeys(rx, tx)
		}
		if err != nil {
			_ = b.ch.send(wire.NewDialFailed(b.id, "key exchange failed"), m)
			return
		}
	}
	select {
	case <-l.closed:
		_ = b.ch.send(wire.NewDialFailed(b.id, "listener closed"), m)
		return
	default:
	}
	if len(l.accept) == cap(l.accept) {
		_ = b.ch.send(wire.NewDialFailed(b.id, "too many connections waiting to be accepted"), m)
		return
	}
	if l.opts.ManualStart {
		p := newPendingAccept(b, m)
		cn.pending = p
		p.expireAfter(l.opts.AcceptTimeout, func() {
			cn.refuse(errors.New("the host did not accept the connection in time"))
		})
		b.ch.addConn(cn)
		go func() {
			select {
			case l.accept <- cn:
			case <-l.closed:
				cn.refuse(errors.New("listener closed"))
			}
		}()
		return
	}
	b.ch.addConn(cn)
	reply := wire.NewDialSuccess(b.id, newID)
	go func() {
		if err := b.ch.send(reply, m); err != nil {
			b.ch.removeConn(newID)
			return
		}
		if cn.sender != nil {
			if err := cn.sendHeader(); err != nil {
				_ = cn.Close()
				return
			}
		}
		select {
		case l.accept <- cn:
		case <-l.closed:
			_ = cn.Close()
		}
	}()
}

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close unbinds from every router and stops accepting.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		l.mu.Lock()
		bindings := l.bindings
		l.bindings = map[string]*listenerOnChannel{}
		l.mu.Unlock()
		for _, b := range bindings {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = b.ch.wc.Send(ctx, wire.NewUnbind([]byte(b.token), b.id))
			cancel()
			b.lost()
		}
		l.c.mu.Lock()
		delete(l.c.listeners, l)
		l.c.mu.Unlock()
	})
	return nil
}

// Addr names the hosted service.
func (l *Listener) Addr() net.Addr { return l.addr }

var _ net.Listener = (*Listener)(nil)
