package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ostium-net/ostium/router/splice"
	"github.com/ostium-net/ostium/sdk/wire"
)

// connectError is a refused Connect: the StateClosed reply carries code and message.
type connectError struct {
	code uint32
	msg  string
	// reason labels the failure in the metrics; empty: derived from code.
	reason string
}

func (e *connectError) Error() string { return e.msg }

func refuse(code uint32, format string, args ...any) error {
	return &connectError{code: code, msg: fmt.Sprintf(format, args...)}
}

// connectRequest is what the router keeps of a Connect.
type connectRequest struct {
	msg       *wire.Message // body released; sequence and headers kept for the reply
	connID    uint32
	token     string
	publicKey []byte
	appData   []byte
	identity  string
	// reservation is the placeholder of connID on the dialer's channel.
	reservation *reservation
}

// handleConnect serves a Connect: it checks the dial session, picks a terminator, asks its
// host with a Dial and, once the host accepts, answers the dialer with StateConnected and
// starts the circuit. It runs on its own goroutine, as it waits for the host.
// reserved is the placeholder of the Connect's conn id (nil when the id was taken).
func (ch *channel) handleConnect(m *wire.Message, reserved *reservation) {
	req := connectRequest{msg: m, token: string(m.Body)}
	m.Release()
	var ok bool
	if req.connID, ok = m.ConnID(); !ok {
		ch.refuseConnect(req, refuse(wire.ErrorCodeInternal, "connect carries no conn id"))
		return
	}
	if reserved == nil {
		ch.refuseConnect(req, refuse(wire.ErrorCodeInternal, "conn id %d is already in use on this channel", req.connID))
		return
	}
	defer ch.dropPlaceholder(req.connID, reserved)
	req.reservation = reserved
	req.publicKey, _ = m.Headers.GetBytes(wire.HeaderPublicKey)
	req.appData, _ = m.Headers.GetBytes(wire.HeaderAppData)
	req.identity, _ = m.Headers.GetString(wire.HeaderTerminatorIdentity)

	if ch.l.isDraining() {
		ch.refuseConnect(req, errShuttingDown())
		return
	}
	start := time.Now()
	err := ch.connect(req)
	ch.l.met.dialed(start, err)
	if err != nil {
		ch.refuseConnect(req, err)
	}
}

func (ch *channel) refuseConnect(req connectRequest, err error) {
	code := wire.ErrorCodeInternal
	var ce *connectError
	if errors.As(err, &ce) {
		code = ce.code
	}
	ch.log.Info("connect refused", "connId", req.connID, "code", code, "reason", err.Error())
	reply := wire.NewStateClosed(req.connID, code, err.Error())
	reply.ReplyTo(req.msg)
	ch.send(reply)
}

// checkDialSession resolves the dial session of a Connect for this channel.
func (ch *channel) checkSession(token, wantType string) (APISession, Session, error) {
	l := ch.l
	current, apiToken := ch.session()
	api, ok := l.cfg.Tokens.APISession(apiToken)
	if !ok || api.ID != current.ID {
		return APISession{}, Session{}, refuse(wire.ErrorCodeInvalidAPISession, "invalid API session")
	}
	sess, ok := awaitToken(ch, l.cfg.Tokens.Session, token)
	if !ok {
		return api, Session{}, refuse(wire.ErrorCodeInvalidSession, "invalid session")
	}
	if sess.APISessionID != api.ID {
		return api, Session{}, refuse(wire.ErrorCodeInvalidSession, "session belongs to another API session")
	}
	if sess.Type != wantType {
		return api, Session{}, refuse(wire.ErrorCodeWrongSessionType, "session is of type %s, need %s", sess.Type, wantType)
	}
	return api, sess, nil
}

func (ch *channel) connect(req connectRequest) error {
	l := ch.l
	api, sess, err := ch.checkSession(req.token, SessionTypeDial)
	if err != nil {
		return err
	}
	if sess.ServiceEncryptionRequired && len(req.publicKey) == 0 {
		return refuse(wire.ErrorCodeEncryptionDataMissing, "service requires end-to-end encryption and connect carries no public key")
	}
	if err := refuseSDKFlowControl(req.msg); err != nil {
		return err
	}
	picked, err := ch.pickTerminator(sess, req.identity)
	if err != nil {
		return err
	}
	if picked.remote != nil {
		return ch.connectRemote(req, api, sess, picked.remote)
	}
	t := picked.local
	host := t.channel

	circuitID := newID()
	rec := &circuitRecord{dialer: ch, dialerConnID: req.connID, host: host, sessionID: sess.ID, terminator: t,
		serviceID: sess.ServiceID, identityID: api.IdentityID, hostIdentityID: t.HostID, path: []string{l.cfg.RouterID}, created: time.Now()}
	cfg := l.cfg.Splice
	cfg.IdleTimeout = sess.ServiceMaxIdleTime
	cfg.OnClose = func(c *splice.Circuit, reason string) { l.circuitClosed(rec, reason) }

	// The host's conn id is reserved before the circuit exists, as the circuit needs it.
	hostConnID, hostReservation, ok := host.allocConn()
	if !ok {
		return refuse(wire.ErrorCodeInvalidTerminator, "hosting channel of the terminator closed")
	}
	rec.hostConnID = hostConnID
	circuit := splice.New(circuitID,
		splice.Endpoint{Conn: ch.conn, ConnID: req.connID},
		splice.Endpoint{Conn: host.conn, ConnID: hostConnID}, cfg)
	rec.circuit = circuit
	// Recorded before its conn ids, so that whoever closes the circuit from now on (a channel
	// closing, a revocation) also forgets it.
	l.mu.Lock()
	l.circuits[circuitID] = rec
	l.mu.Unlock()
	if !host.fillConn(hostConnID, hostReservation, connRef{circuit: circuit, side: splice.Host}) {
		circuit.Close("hosting channel closed")
		return refuse(wire.ErrorCodeInvalidTerminator, "hosting channel of the terminator closed")
	}
	if !ch.fillConn(req.connID, req.reservation, connRef{circuit: circuit, side: splice.Dialer}) {
		circuit.Close("connect cancelled")
		return because(reasonCancelled, refuse(wire.ErrorCodeInternal, "connect cancelled by the dialer"))
	}

	dial := wire.NewDial([]byte(t.token), t.listenerConnID, hostConnID, callerID(api), circuitID)
	if len(req.publicKey) > 0 {
		dial.PutPublicKey(req.publicKey)
	}
	if len(req.appData) > 0 {
		dial.Headers.PutBytes(wire.HeaderAppData, req.appData)
	}
	dial.Headers.PutString(wire.HeaderConnectionMarker, newID())

	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.DialTimeout)
	reply, err := host.conn.Request(ctx, dial)
	cancel()
	if err != nil {
		l.terminators.recordDial(t, false)
		circuit.Close("dial failed")
		host.send(wire.NewStateClosed(hostConnID, 0, "dial timed out"))
		return because(reasonHostTimeout, refuse(wire.ErrorCodeInternal, "host did not answer the dial: %v", err))
	}
	defer reply.Release()
	switch reply.ContentType {
	case wire.ContentTypeDialSuccess:
		if id, err := wire.ParseDialSuccess(reply); err == nil && id != hostConnID {
			l.terminators.recordDial(t, false)
			circuit.Close("dial answered for another conn id")
			host.send(wire.NewStateClosed(id, 0, "dial answered for another conn id"))
			host.send(wire.NewStateClosed(hostConnID, 0, "dial answered for another conn id"))
			return because(reasonHostError, refuse(wire.ErrorCodeInternal, "host accepted the dial for conn id %d, expected %d", id, hostConnID))
		}
	case wire.ContentTypeDialFailed:
		l.terminators.recordDial(t, false)
		circuit.Close("dial refused by host")
		reason := string(bytes.ToValidUTF8(reply.Body, []byte("?")))
		return &connectError{msg: "host refused the dial: " + reason, reason: reasonHostRefused}
	default:
		l.terminators.recordDial(t, false)
		circuit.Close("unexpected dial answer")
		host.send(wire.NewStateClosed(hostConnID, 0, "unexpected dial answer"))
		return because(reasonHostError, refuse(wire.ErrorCodeInternal, "host answered the dial with %s", wire.ContentTypeName(reply.ContentType)))
	}
	l.terminators.recordDial(t, true)

	connected := wire.NewStateConnected(req.connID)
	connected.ReplyTo(req.msg)
	connected.Headers.PutString(wire.HeaderCircuitID, circuitID)
	if len(t.PublicKey) > 0 {
		connected.PutPublicKey(t.PublicKey)
	}
	if !circuit.Start(connected) {
		// A StateClosed from either side, or the loss of a channel, got in first.
		host.send(wire.NewStateClosed(hostConnID, 0, circuit.Reason()))
		return because(reasonCancelled, refuse(wire.ErrorCodeInternal, "circuit closed while dialing: %s", circuit.Reason()))
	}
	l.circuitStarted(rec)
	ch.log.Debug("circuit established", "circuit", circuitID, "connId", req.connID, "terminator", t.ID, "hostConnId", hostConnID)
	return nil
}

// refuseSDKFlowControl refuses clients asking for SDK flow control (an opt-in of OpenZiti
// SDKs that frames payload as xgress messages); this router forwards plain edge Data only,
// and a clear refusal beats a connection whose two ends disagree on the framing.
func refuseSDKFlowControl(m *wire.Message) error {
	if on, _ := m.Headers.GetBool(wire.HeaderUseXgressToSdk); on {
		return refuse(wire.ErrorCodeInternal, "this router does not support SDK flow control (UseXgressToSdk); disable SdkFlowControl")
	}
	return nil
}

// callerID is what a host learns of who dialed it.
func callerID(api APISession) string {
	if api.IdentityName != "" {
		return api.IdentityName
	}
	return api.IdentityID
}

// circuitClosed forgets a closed circuit, and reports its end when its start was.
func (l *Listener) circuitClosed(rec *circuitRecord, reason string) {
	st := rec.circuit.Stats()
	l.mu.Lock()
	if l.circuits[rec.circuit.ID()] == rec {
		delete(l.circuits, rec.circuit.ID())
		l.closedBytes[splice.Dialer] += st.Forwarded[splice.Dialer]
		l.closedBytes[splice.Host] += st.Forwarded[splice.Host]
	}
	l.mu.Unlock()
	rec.usageMu.Lock()
	rec.ended, rec.endedAt, rec.endReason = true, time.Now(), reason
	if rec.startReported {
		l.reportCircuit(rec, true)
	}
	rec.usageMu.Unlock()
	if rec.dialer != nil {
		rec.dialer.dropConn(rec.dialerConnID, rec.circuit)
	}
	if rec.host != nil {
		rec.host.dropConn(rec.hostConnID, rec.circuit)
	}
}
