package edge

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/ostium-net/ostium/router/splice"
	"github.com/ostium-net/ostium/sdk/wire"
)

// connectRemote serves a Connect whose terminator is on another router: the fabric opens
// the circuit along the path (the far router dials the host), then the dialer's connection is
// spliced to the mesh side of it.
func (ch *channel) connectRemote(req connectRequest, api APISession, sess Session, t *RemoteTerminator) error {
	l := ch.l
	circuitID := newID()
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.DialTimeout)
	end, err := l.cfg.Fabric.Dial(ctx, *t, FabricDial{
		CircuitID: circuitID, ServiceID: sess.ServiceID, CallerID: callerID(api), IdentityID: api.IdentityID,
		PublicKey: req.publicKey, AppData: req.appData,
	})
	cancel()
	if err != nil {
		l.terminators.recordRemoteDial(t, false)
		var fe *FabricError
		if errors.As(err, &fe) {
			err := refuse(fe.Code, "dial over router %s failed: %s", t.RouterID, fe.Message)
			if fe.Code == wire.ErrorCodeInternal {
				err = because(reasonMesh, err)
			}
			return err
		}
		return because(reasonMesh, refuse(wire.ErrorCodeInternal, "dial over router %s failed: %v", t.RouterID, err))
	}
	l.terminators.recordRemoteDial(t, true)

	rec := &circuitRecord{dialer: ch, dialerConnID: req.connID, sessionID: sess.ID, fabric: end,
		serviceID: sess.ServiceID, identityID: api.IdentityID, hostIdentityID: t.HostID, path: end.Path(), created: time.Now()}
	cfg := l.cfg.Splice
	cfg.IdleTimeout = sess.ServiceMaxIdleTime
	cfg.Queue = fabricQueue(l.cfg.FabricWindow)
	cfg.OnClose = func(c *splice.Circuit, reason string) { l.circuitClosed(rec, reason) }
	circuit := splice.New(circuitID,
		end.Deliver(splice.Endpoint{Conn: ch.conn, ConnID: req.connID}),
		splice.Endpoint{Conn: end}, cfg)
	rec.circuit = circuit
	l.mu.Lock()
	l.circuits[circuitID] = rec
	l.mu.Unlock()
	end.Attach(circuit, splice.Host)
	if !ch.fillConn(req.connID, req.reservation, connRef{circuit: circuit, side: splice.Dialer}) {
		circuit.Close("connect cancelled")
		return because(reasonCancelled, refuse(wire.ErrorCodeInternal, "connect cancelled by the dialer"))
	}
	connected := wire.NewStateConnected(req.connID)
	connected.ReplyTo(req.msg)
	connected.Headers.PutString(wire.HeaderCircuitID, circuitID)
	if key := end.PeerPublicKey(); len(key) > 0 {
		connected.PutPublicKey(key)
	}
	if !circuit.Start(connected) {
		return because(reasonCancelled, refuse(wire.ErrorCodeInternal, "circuit closed while dialing: %s", circuit.Reason()))
	}
	l.circuitStarted(rec)
	ch.log.Debug("circuit established over the mesh", "circuit", circuitID, "connId", req.connID, "path", rec.path)
	return nil
}

// DialTerminator serves a circuit that arrived over the mesh for one of this router's
// terminators: it dials the host and splices it to end. The circuit starts when start is
// called (after the dialer's router was told).
func (l *Listener) DialTerminator(ctx context.Context, d FabricDial, end FabricEnd) ([]byte, func(), error) {
	if l.isDraining() {
		return nil, nil, &FabricError{Code: wire.ErrorCodeRouterShuttingDown, Message: "the router is shutting down"}
	}
	t := l.terminators.byID(d.ServiceID, d.TerminatorID)
	if t == nil {
		return nil, nil, &FabricError{Code: wire.ErrorCodeInvalidTerminator, Message: "the terminator is gone from its router"}
	}
	host := t.channel
	rec := &circuitRecord{host: host, sessionID: "", terminator: t, fabric: end,
		serviceID: d.ServiceID, identityID: d.IdentityID, path: end.Path(), created: time.Now()}
	cfg := l.cfg.Splice
	cfg.Queue = fabricQueue(l.cfg.FabricWindow)
	cfg.OnClose = func(c *splice.Circuit, reason string) { l.circuitClosed(rec, reason) }
	hostConnID, hostReservation, ok := host.allocConn()
	if !ok {
		return nil, nil, &FabricError{Code: wire.ErrorCodeInvalidTerminator, Message: "hosting channel of the terminator closed"}
	}
	rec.hostConnID = hostConnID
	circuit := splice.New(d.CircuitID, splice.Endpoint{Conn: end},
		end.Deliver(splice.Endpoint{Conn: host.conn, ConnID: hostConnID}), cfg)
	rec.circuit = circuit
	l.mu.Lock()
	if _, dup := l.circuits[d.CircuitID]; dup {
		l.mu.Unlock()
		host.dropPlaceholder(hostConnID, hostReservation)
		return nil, nil, &FabricError{Code: wire.ErrorCodeInternal, Message: "circuit id in use"}
	}
	l.circuits[d.CircuitID] = rec
	l.mu.Unlock()
	end.Attach(circuit, splice.Dialer)
	if !host.fillConn(hostConnID, hostReservation, connRef{circuit: circuit, side: splice.Host}) {
		circuit.Close("hosting channel closed")
		return nil, nil, &FabricError{Code: wire.ErrorCodeInvalidTerminator, Message: "hosting channel of the terminator closed"}
	}
	dial := wire.NewDial([]byte(t.token), t.listenerConnID, hostConnID, d.CallerID, d.CircuitID)
	if len(d.PublicKey) > 0 {
		dial.PutPublicKey(d.PublicKey)
	}
	if len(d.AppData) > 0 {
		dial.Headers.PutBytes(wire.HeaderAppData, d.AppData)
	}
	dial.Headers.PutString(wire.HeaderConnectionMarker, newID())
	dctx, cancel := context.WithTimeout(ctx, l.cfg.DialTimeout)
	reply, err := host.conn.Request(dctx, dial)
	cancel()
	fail := func(code uint32, msg string) ([]byte, func(), error) {
		l.terminators.recordDial(t, false)
		circuit.Close(msg)
		return nil, nil, &FabricError{Code: code, Message: msg}
	}
	if err != nil {
		host.send(wire.NewStateClosed(hostConnID, 0, "dial timed out"))
		return fail(wire.ErrorCodeInternal, "host did not answer the dial: "+err.Error())
	}
	defer reply.Release()
	switch reply.ContentType {
	case wire.ContentTypeDialSuccess:
		if id, err := wire.ParseDialSuccess(reply); err == nil && id != hostConnID {
			host.send(wire.NewStateClosed(id, 0, "dial answered for another conn id"))
			host.send(wire.NewStateClosed(hostConnID, 0, "dial answered for another conn id"))
			return fail(wire.ErrorCodeInternal, "host accepted the dial for another conn id")
		}
	case wire.ContentTypeDialFailed:
		return fail(wire.ErrorCodeInternal, "host refused the dial: "+string(bytes.ToValidUTF8(reply.Body, []byte("?"))))
	default:
		host.send(wire.NewStateClosed(hostConnID, 0, "unexpected dial answer"))
		return fail(wire.ErrorCodeInternal, "host answered the dial with "+wire.ContentTypeName(reply.ContentType))
	}
	l.terminators.recordDial(t, true)
	l.met.circuitsTotal.Inc()
	start := func() {
		if !circuit.Start(nil) {
			host.send(wire.NewStateClosed(hostConnID, 0, circuit.Reason()))
		}
	}
	return t.PublicKey, start, nil
}

// CircuitInfo describes a circuit that starts on this router.
type CircuitInfo struct {
	ID         string
	ServiceID  string
	IdentityID string
	// Path is the ordered router ids, this router first.
	Path      []string
	CreatedAt time.Time
	// BytesUp went from the dialer towards the host, BytesDown the other way.
	BytesUp, BytesDown uint64
}

// CircuitEvent is a circuit whose dialer is on this router that started or
// ended: the usage record the controller turns into circuit events.
type CircuitEvent struct {
	CircuitInfo
	// HostIdentityID is the identity hosting the terminator the circuit reached.
	HostIdentityID string
	// Ended is set when the circuit ended, at EndedAt, for Reason; the byte
	// counts are then final.
	Ended   bool
	EndedAt time.Time
	Reason  string
}

// circuitStarted reports an established circuit (and its end, when it ended
// meanwhile).
func (l *Listener) circuitStarted(rec *circuitRecord) {
	rec.usageMu.Lock()
	defer rec.usageMu.Unlock()
	rec.startReported = true
	l.reportCircuit(rec, false)
	if rec.ended {
		l.reportCircuit(rec, true)
	}
}

// reportCircuit hands a start or end to Config.OnCircuit; rec.usageMu is held.
func (l *Listener) reportCircuit(rec *circuitRecord, ended bool) {
	if l.cfg.OnCircuit == nil || rec.dialer == nil {
		return
	}
	ev := CircuitEvent{CircuitInfo: rec.info(), HostIdentityID: rec.hostIdentityID}
	if ended {
		ev.Ended, ev.EndedAt, ev.Reason = true, rec.endedAt, rec.endReason
	}
	l.cfg.OnCircuit(ev)
}

func (rec *circuitRecord) info() CircuitInfo {
	st := rec.circuit.Stats()
	path := rec.path
	if rec.fabric != nil {
		// The mesh may have moved the circuit to another path.
		path = rec.fabric.Path()
	}
	return CircuitInfo{ID: rec.circuit.ID(), ServiceID: rec.serviceID, IdentityID: rec.identityID,
		Path: append([]string(nil), path...), CreatedAt: rec.created,
		BytesUp: st.Forwarded[splice.Dialer], BytesDown: st.Forwarded[splice.Host]}
}

// Circuits lists the circuits whose dialer is on this router.
func (l *Listener) Circuits() []CircuitInfo {
	l.mu.Lock()
	recs := make([]*circuitRecord, 0, len(l.circuits))
	for _, rec := range l.circuits {
		if rec.dialer != nil {
			recs = append(recs, rec)
		}
	}
	l.mu.Unlock()
	out := make([]CircuitInfo, 0, len(recs))
	for _, rec := range recs {
		out = append(out, rec.info())
	}
	return out
}

// CloseCircuit closes a circuit of this router (either end of it); it reports whether the
// router held it.
func (l *Listener) CloseCircuit(id, reason string) bool {
	l.mu.Lock()
	rec := l.circuits[id]
	l.mu.Unlock()
	if rec == nil {
		return false
	}
	rec.circuit.Close(reason)
	return true
}
