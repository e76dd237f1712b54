package edge

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ostium-net/ostium/router/splice"
	"github.com/ostium-net/ostium/sdk/wire"
)

// firstRouterConnID is where the conn ids the router picks for hosted connections start. SDKs
// number their own connections upwards from 1, so the upper half keeps the two apart (a
// collision is still checked for).
const firstRouterConnID uint32 = 1 << 31

// connRef points from an edge conn id of a channel to the circuit that carries it.
type connRef struct {
	circuit *splice.Circuit
	side    splice.Side
	// reservation marks a placeholder (circuit nil) recorded while a circuit is being set
	// up; only its owner may fill or drop it.
	reservation *reservation
}

// reservation identifies a placeholder conn id.
type reservation struct{ _ byte }

// channel is one authenticated client connection.
type channel struct {
	l           *Listener
	id          string
	conn        *wire.Conn
	rwc         io.ReadWriteCloser  // the stream conn runs on (a *tls.Conn)
	chain       []*x509.Certificate // the client's certificate chain, leaf first
	fingerprint string
	remote      string
	log         *slog.Logger
	ready       chan struct{} // closed once conn is set and the listener holds the channel
	helloDone   atomic.Bool
	// tokenWaits counts the messages waiting for a token the router does not know yet.
	tokenWaits atomic.Int32

	mu         sync.Mutex
	closed     bool
	apiSession APISession
	token      string
	conns      map[uint32]connRef
	binds      map[uint32]*terminator
	nextConnID uint32
}

func (ch *channel) apiSessionID() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.apiSession.ID
}

// session returns the channel's API session and token.
func (ch *channel) session() (APISession, string) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.apiSession, ch.token
}

// handle receives every message of the channel that is not a reply to a pending request. It
// runs on the channel's read goroutine.
func (ch *channel) handle(m *wire.Message) {
	<-ch.ready
	defer ch.l.recoverPanic("channel handler", ch)
	if !ch.helloDone.Load() {
		ch.handleHello(m)
		return
	}
	switch m.ContentType {
	case wire.ContentTypeData, wire.ContentTypeStateClosed:
		ch.routeToCircuit(m)
	case wire.ContentTypeLatency:
		ch.send(wire.NewLatencyResponse(m))
		m.Release()
	case wire.ContentTypePing:
		reply := wire.NewResult(true, "")
		reply.ReplyTo(m)
		ch.send(reply)
		m.Release()
	case wire.ContentTypeConnect:
		// The conn id is reserved here, in arrival order, so that a StateClosed the dialer
		// sends while the Connect is still being served cancels it.
		connID, hasID := m.ConnID()
		var reserved *reservation
		if hasID {
			reserved = ch.reserveConn(connID)
		}
		if !ch.l.goTracked(func() { ch.handleConnect(m, reserved) }) {
			m.Release()
		}
	case wire.ContentTypeBind:
		// A token the router does not know yet is waited for off the read loop, so the
		// channel's other connections keep flowing meanwhile.
		if knownNow(ch.l.cfg.Tokens.Session, string(m.Body)) || !ch.l.goTracked(func() { ch.handleBind(m) }) {
			ch.handleBind(m)
		}
	case wire.ContentTypeUnbind:
		ch.handleUnbind(m)
	case wire.ContentTypeUpdateBind:
		ch.handleUpdateBind(m)
	case wire.ContentTypeHealthEvent:
		ch.handleHealthEvent(m)
	case wire.ContentTypeUpdateToken:
		if knownNow(ch.l.cfg.Tokens.APISession, string(m.Body)) || !ch.l.goTracked(func() { ch.handleUpdateToken(m) }) {
			ch.handleUpdateToken(m)
		}
	case wire.ContentTypeDialSuccess, wire.ContentTypeDialFailed:
		// A late answer to a Dial that timed out; the router already gave the circuit up and
		// told the host so.
		ch.log.Debug("ignoring late dial answer", "msg", m.String())
		m.Release()
	default:
		ch.log.Debug("ignoring message", "msg", m.String())
		m.Release()
	}
}

// handleHello authenticates the channel: the API-session token must be known and the client
// certificate must be one of that API session's.
func (ch *channel) handleHello(m *wire.Message) {
	defer m.Release()
	fail := func(reason string) {
		ch.log.Info("refusing hello", "reason", reason)
		if m.ContentType == wire.ContentTypeHello {
			ch.send(wire.NewHelloFailure(m, reason))
		}
		_ = ch.conn.Close()
	}
	if m.ContentType != wire.ContentTypeHello {
		fail("expected hello, got " + wire.ContentTypeName(m.ContentType))
		return
	}
	token, ok := m.Headers.GetString(wire.HeaderSessionToken)
	if !ok || token == "" {
		fail("hello carries no API-session token")
		return
	}
	api, ok := awaitToken(ch, ch.l.cfg.Tokens.APISession, token)
	if !ok {
		fail("invalid API session")
		return
	}
	if !hasFingerprint(api.CertFingerprints, ch.fingerprint) {
		fail("client certificate does not belong to the API session")
		return
	}
	ch.mu.Lock()
	ch.apiSession, ch.token = api, token
	ch.mu.Unlock()
	ch.helloDone.Store(true)
	ch.log.Debug("hello accepted", "apiSession", api.ID, "identity", api.IdentityID)
	ch.send(wire.NewHelloResult(m, wire.HelloInfo{
		ConnectionID:        ch.id,
		RouterID:            ch.l.cfg.RouterID,
		Version:             ch.l.cfg.Version,
		SupportsBindSuccess: true,
	}))
}

func hasFingerprint(fps []string, fp string) bool {
	return slices.ContainsFunc(fps, func(f string) bool { return normalizeFingerprint(f) == fp })
}

// handleUpdateToken replaces the API session of the channel, for clients whose API session
// was refreshed (OIDC clients send each new access token). The new token must name an API
// session of the same identity and certificate.
func (ch *channel) handleUpdateToken(m *wire.Message) {
	defer m.Release()
	token := string(m.Body)
	api, ok := awaitToken(ch, ch.l.cfg.Tokens.APISession, token)
	var reply *wire.Message
	current, _ := ch.session()
	switch {
	case !ok:
		reply = wire.NewMessage(wire.ContentTypeUpdateTokenFailure, []byte("invalid API session"))
	case api.IdentityID != current.IdentityID:
		reply = wire.NewMessage(wire.ContentTypeUpdateTokenFailure, []byte("the token is for another identity"))
	case !hasFingerprint(api.CertFingerprints, ch.fingerprint):
		reply = wire.NewMessage(wire.ContentTypeUpdateTokenFailure, []byte("client certificate does not belong to the API session"))
	default:
		ch.mu.Lock()
		ch.apiSession, ch.token = api, token
		ch.mu.Unlock()
		reply = wire.NewMessage(wire.ContentTypeUpdateTokenSuccess, nil)
	}
	reply.ReplyTo(m)
	ch.send(reply)
}

// routeToCircuit hands Data and StateClosed to the circuit of their conn id.
func (ch *channel) routeToCircuit(m *wire.Message) {
	connID, ok := m.ConnID()
	if !ok {
		ch.log.Debug("dropping message without conn id", "msg", m.String())
		m.Release()
		return
	}
	ch.mu.Lock()
	ref, found := ch.conns[connID]
	if found && ref.circuit == nil {
		// A Connect still being served: a StateClosed cancels it, Data has nowhere to go.
		if m.ContentType == wire.ContentTypeStateClosed && ref.side == splice.Dialer {
			delete(ch.conns, connID)
		}
		found = false
	}
	var bound *terminator
	if !found && m.ContentType == wire.ContentTypeStateClosed {
		bound = ch.binds[connID]
		if bound != nil {
			delete(ch.binds, connID)
		}
	}
	ch.mu.Unlock()
	switch {
	case found:
		ref.circuit.Forward(ref.side, m)
	case bound != nil:
		m.Release()
		ch.l.removeTerminator(bound, "listener closed by host")
	default:
		ch.log.Debug("dropping message for unknown conn", "connId", connID, "msg", m.String())
		m.Release()
	}
}

// writeTimeout bounds the writes of router-originated messages.
func (l *Listener) writeTimeout() time.Duration {
	if l.cfg.Splice.WriteTimeout > 0 {
		return l.cfg.Splice.WriteTimeout
	}
	return splice.DefaultWriteTimeout
}

// send writes m, waiting at most the write timeout. A failure closes nothing by itself (a
// broken stream closes the channel inside the Conn) and is only logged.
func (ch *channel) send(m *wire.Message) bool {
	ctx, cancel := context.WithTimeout(context.Background(), ch.l.writeTimeout())
	defer cancel()
	if err := ch.conn.Send(ctx, m); err != nil {
		ch.log.Debug("send failed", "msg", m.String(), "err", err)
		return false
	}
	return true
}

// sendAsync writes m without making the caller wait.
func (ch *channel) sendAsync(m *wire.Message) {
	ch.l.goTracked(func() { ch.send(m) })
}

// addConn records the circuit end of conn id connID; it fails when the id is taken or the
// channel is closed.
func (ch *channel) addConn(connID uint32, ref connRef) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closed {
		return false
	}
	if _, taken := ch.conns[connID]; taken {
		return false
	}
	ch.conns[connID] = ref
	return true
}

// allocConn picks a free router-provided conn id and records a placeholder under it.
func (ch *channel) allocConn() (uint32, *reservation, bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closed {
		return 0, nil, false
	}
	r := new(reservation)
	for {
		id := ch.nextConnID
		ch.nextConnID++
		if ch.nextConnID == 0 {
			ch.nextConnID = firstRouterConnID
		}
		if _, taken := ch.conns[id]; taken || id == 0 {
			continue
		}
		if _, taken := ch.binds[id]; taken {
			continue
		}
		ch.conns[id] = connRef{side: splice.Host, reservation: r}
		return id, r, true
	}
}

// reserveConn records a placeholder for the dialer conn id of a Connect being served; it
// fails when the id is taken or the channel is closed.
func (ch *channel) reserveConn(connID uint32) *reservation {
	r := new(reservation)
	if !ch.addConn(connID, connRef{side: splice.Dialer, reservation: r}) {
		return nil
	}
	return r
}

// dropPlaceholder removes the placeholder r of connID, if it is still there.
func (ch *channel) dropPlaceholder(connID uint32, r *reservation) {
	ch.mu.Lock()
	if ref, ok := ch.conns[connID]; ok && ref.circuit == nil && ref.reservation == r {
		delete(ch.conns, connID)
	}
	ch.mu.Unlock()
}

// fillConn replaces the placeholder that allocConn or reserveConn recorded under connID; it
// fails when the placeholder is gone (the channel closed, or the Connect was cancelled).
func (ch *channel) fillConn(connID uint32, r *reservation, ref connRef) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if old, ok := ch.conns[connID]; !ok || old.circuit != nil || old.reservation != r {
		return false
	}
	ch.conns[connID] = ref
	return true
}

// dropConn forgets conn id connID if it still belongs to circuit c.
func (ch *channel) dropConn(connID uint32, c *splice.Circuit) {
	ch.mu.Lock()
	if ref, ok := ch.conns[connID]; ok && ref.circuit == c {
		delete(ch.conns, connID)
	}
	ch.mu.Unlock()
}

// dropBind forgets the listener conn id connID if it is still bound to t; it reports whether
// it was.
func (ch *channel) dropBind(connID uint32, t *terminator) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.binds[connID] == t {
		delete(ch.binds, connID)
		return true
	}
	return false
}
