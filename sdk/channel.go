package sdk

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ostium-net/ostium/sdk/tlsio"
	"github.com/ostium-net/ostium/sdk/wire"
)

// routerChannel is one mTLS connection to an edge router, carrying many
// edge connections and listeners.
type routerChannel struct {
	addr     string // host:port
	token    string // the API-session token it said Hello with
	routerID string
	log      *slog.Logger
	wc       *wire.Conn
	closed   chan struct{}
	latency  atomic.Int64 // nanoseconds, last measured
	// draining is set once the router said it is shutting down: the channel keeps carrying
	// its connections, but new ones and new bindings go elsewhere.
	draining atomic.Bool
	nextID   atomic.Uint32
	// waitingReads counts the goroutines waiting to be handed data on one of the channel's
	// connections (see conn_lease.go).
	waitingReads atomic.Int32
	mu           sync.Mutex
	conns        map[uint32]*conn
	listeners    map[uint32]*listenerOnChannel
}

// outOfReachError is a router that could not be reached, or that is shutting down: unlike a
// router that refused, it is worth trying again soon.
type outOfReachError struct{ err error }

func (e *outOfReachError) Error() string { return e.err.Error() }
func (e *outOfReachError) Unwrap() error { return e.err }

// outOfReach reports whether err says a router could not be reached (rather than refused).
func outOfReach(err error) bool {
	var u *outOfReachError
	return errors.As(err, &u)
}

// errSessionRefused marks a router's refusal of the API session a channel said Hello with.
var errSessionRefused = errors.New("API session refused")

// sessionRefused reports a refusal that a new session (or API session) may overcome, as
// opposed to one about the router or the service (no terminator, say), which it would not.
func sessionRefused(err error) bool {
	if errors.Is(err, errSessionRefused) {
		return true
	}
	var de *DialError
	if !errors.As(err, &de) {
		return false
	}
	switch de.Code {
	case wire.ErrorCodeInvalidAPISession, wire.ErrorCodeInvalidSession, wire.ErrorCodeWrongSessionType, wire.ErrorCodeInvalidEdgeRouterForSession:
		return true
	}
	return false
}

// errRouterShuttingDown is the refusal of a router that is stopping.
var errRouterShuttingDown = errors.New("the router is shutting down")

// routerAddr turns "tls://host:port" into host:port.
func routerAddr(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "tls" || p.Host == "" {
		return "", fmt.Errorf("router address %q is not tls://host:port", u)
	}
	return p.Host, nil
}

// dialChannel connects to a router and says Hello with the API session.
// control, when not nil, is the socket hook of Options.Control.
func dialChannel(ctx context.Context, addr string, tlsCfg *tls.Config, control func(network, address string, c syscall.RawConn) error,
	certCN, apiSessionToken string, log *slog.Logger) (*routerChannel, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg := tlsCfg.Clone()
	cfg.ServerName = host
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: control}
	start := time.Now()
	raw, err := tlsio.Dial(ctx, d, addr, cfg)
	if err != nil {
		return nil, &outOfReachError{fmt.Errorf("connect to router %s: %w", addr, err)}
	}
	ch := &routerChannel{addr: addr, token: apiSessionToken, log: log, closed: make(chan struct{}),
		conns: map[uint32]*conn{}, listeners: map[uint32]*listenerOnChannel{}}
	ch.wc = wire.NewConn(raw, ch.handle, wire.ConnConfig{Leasable: true, ReadersWaiting: ch.readersWaiting})
	go func() {
		<-ch.wc.Done()
		ch.shutdown()
	}()
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	reply, err := ch.wc.Request(hctx, wire.NewHello(certCN, []byte(apiSessionToken)))
	if err != nil {
		_ = ch.wc.Close()
		return nil, &outOfReachError{fmt.Errorf("hello to router %s: %w", addr, err)}
	}
	info, err := wire.ParseHelloResult(reply)
	if err != nil {
		_ = ch.wc.Close()
		return nil, fmt.Errorf("router %s refused the session: %w: %w", addr, errSessionRefused, err)
	}
	ch.routerID = info.RouterID
	ch.latency.Store(int64(time.Since(start)))
	return ch, nil
}

// usable reports whether new connections and bindings may use the channel.
func (ch *routerChannel) usable() bool { return !ch.isClosed() && !ch.draining.Load() }

// refusedFor records a refusal from the router: one saying it shuts down makes the channel
// draining. It returns the error to report.
func (ch *routerChannel) refusedFor(code uint32, msg string) error {
	if code == wire.ErrorCodeRouterShuttingDown {
		if !ch.draining.Swap(true) {
			ch.log.Info("router is shutting down; new connections go elsewhere", "router", ch.addr)
		}
		return &outOfReachError{fmt.Errorf("router %s: %w", ch.addr, errRouterShuttingDown)}
	}
	return &DialError{Code: code, Message: msg}
}

func (ch *routerChannel) isClosed() bool {
	select {
	case <-ch.closed:
		return true
	default:
		return false
	}
}

// shutdown ends every connection and listener of a lost channel.
func (ch *routerChannel) shutdown() {
	ch.mu.Lock()
	select {
	case <-ch.closed:
		ch.mu.Unlock()
		return
	default:
	}
	close(ch.closed)
	conns := ch.conns
	listeners := ch.listeners
	ch.conns, ch.listeners = map[uint32]*conn{}, map[uint32]*listenerOnChannel{}
	ch.mu.Unlock()
	for _, c := range conns {
		// A connection that had not ended was cut: what the peer sent last may be missing.
		c.remoteFailed(ch.lostError())
	}
	for _, l := range listeners {
		l.lost()
	}
}

func (ch *routerChannel) close() { _ = ch.wc.Close() }

// lostError is what the connections of a lost channel end with.
func (ch *routerChannel) lostError() error {
	return &ConnectionError{Code: wire.ErrorCodeInternal, Reason: "lost the connection to router " + ch.addr}
}

// idle reports a channel that carries no connection and no listener.
func (ch *routerChannel) idle() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.conns) == 0 && len(ch.listeners) == 0
}

func (ch *routerChannel) addConn(c *conn) {
	ch.mu.Lock()
	ch.conns[c.id] = c
	ch.mu.Unlock()
}

func (ch *routerChannel) removeConn(id uint32) {
	ch.mu.Lock()
	delete(ch.conns, id)
	ch.mu.Unlock()
	// Its last Read may have left the channel unread (see conn_lease.go).
	ch.wc.EnsureReader()
}

func (ch *routerChannel) conn(id uint32) *conn {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.conns[id]
}

func (ch *routerChannel) listener(id uint32) *listenerOnChannel {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.listeners[id]
}

// handle runs on the channel's read loop for every message that is not a
// reply to one of our requests.
func (ch *routerChannel) handle(m *wire.Message) {
	id, _ := m.ConnID()
	switch m.ContentType {
	case wire.ContentTypeData:
		if c := ch.conn(id); c != nil {
			c.deliver(m)
		}
	case wire.ContentTypeStateClosed:
		if c := ch.conn(id); c != nil {
			c.remoteFailed(closeError(m))
			return
		}
		if l := ch.listener(id); l != nil {
			if code, _ := m.ErrorCode(); code == wire.ErrorCodeRouterShuttingDown {
				_ = ch.refusedFor(code, "")
			}
			l.lost()
		}
	case wire.ContentTypeDial:
		if l := ch.listener(id); l != nil {
			l.dial(m)
		} else {
			_ = ch.send(wire.NewDialFailed(id, "no such listener"), m)
		}
	case wire.ContentTypeBindSuccess:
		if l := ch.listener(id); l != nil {
			l.bound()
		}
	}
}

// send sends a message, as a reply to req when req is not nil, without
// blocking the read loop for long.
func (ch *routerChannel) send(m, req *wire.Message) error {
	if req != nil {
		m.ReplyTo(req)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return ch.wc.Send(ctx, m)
}
