package link

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ostium-net/ostium/router/edge"
	"github.com/ostium-net/ostium/sdk/wire"
)

// Dial opens a circuit along t.Path to a terminator on another router: a create frame goes
// hop by hop to the terminator's router, which dials the host; Dial returns when the created
// frame comes back, or with a *edge.FabricError.
func (m *Manager) Dial(ctx context.Context, t edge.RemoteTerminator, d edge.FabricDial) (edge.FabricEnd, error) {
	path := t.Path
	if len(path) < 2 || path[0] != m.cfg.RouterID || path[len(path)-1] != t.RouterID {
		return nil, &edge.FabricError{Code: wire.ErrorCodeInvalidTerminator, Message: "no path to the terminator's router"}
	}
	l := m.link(path[1])
	if l == nil {
		return nil, &edge.FabricError{Code: wire.ErrorCodeInvalidTerminator, Message: fmt.Sprintf("no link to router %s", path[1])}
	}
	d.TerminatorID = t.ID
	term := m.newTerminal(d.CircuitID, slices.Clone(path), true)
	term.serviceID, term.identity = d.ServiceID, d.IdentityID
	num, ok := l.register(term)
	if !ok {
		return nil, &edge.FabricError{Code: wire.ErrorCodeInvalidTerminator, Message: fmt.Sprintf("link to router %s closed", path[1])}
	}
	term.mu.Lock()
	term.link, term.num = l, num
	term.mu.Unlock()
	if !l.send(frameCreate, 0, num, encodeCreate(d, path, m.cfg.Window), nil, nil) {
		l.forget(num, term)
		return nil, &edge.FabricError{Code: wire.ErrorCodeInvalidTerminator, Message: fmt.Sprintf("link to router %s closed", path[1])}
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.CreateTimeout)
	defer cancel()
	var f *frame
	select {
	case f = <-term.reply:
	case <-ctx.Done():
		term.Abort("dial timed out")
		return nil, &edge.FabricError{Code: wire.ErrorCodeInternal, Message: "the host's router did not answer in time"}
	}
	if f == nil {
		term.Abort("")
		return nil, &edge.FabricError{Code: wire.ErrorCodeInternal, Message: "the path to the host's router closed while dialing"}
	}
	defer f.release()
	if f.typ == frameFailed {
		term.mu.Lock()
		term.closed = true
		term.mu.Unlock()
		l.forget(num, term)
		code, _ := f.headers.GetUint32(hErrorCode)
		return nil, &edge.FabricError{Code: code, Message: string(f.body())}
	}
	if f.typ != frameCreated {
		term.Abort("unexpected answer")
		return nil, &edge.FabricError{Code: wire.ErrorCodeInternal, Message: "unexpected answer to a create"}
	}
	term.peerKey, _ = f.headers.GetBytes(hPublicKey)
	term.mu.Lock()
	if w, ok := f.headers.GetUint32(hWindow); ok && w > 0 {
		term.avail += int64(w) - int64(m.cfg.Window)
		term.peerWindow = int64(w)
	}
	term.established = true
	term.mu.Unlock()
	return term, nil
}

// handleCreate serves a create frame on the read goroutine of l: at the last router of the
// path it dials the host (on its own goroutine); elsewhere it passes the frame on.
func (m *Manager) handleCreate(l *Link, f *frame) {
	req, err := decodeCreate(f.headers)
	fail := func(code uint32, msg string) {
		var h wire.Headers
		h.PutUint32(hErrorCode, code)
		l.send(frameFailed, 0, f.circuit, h, []byte(msg), nil)
		f.release()
	}
	if err != nil {
		fail(wire.ErrorCodeInternal, err.Error())
		return
	}
	i := slices.Index(req.path, m.cfg.RouterID)
	if i <= 0 || req.path[i-1] != l.peerID {
		fail(wire.ErrorCodeInternal, "this router is not the next hop of the path")
		return
	}
	if i == len(req.path)-1 {
		term := m.newTerminal(req.dial.CircuitID, req.path, false)
		term.serviceID, term.identity = req.dial.ServiceID, req.dial.IdentityID
		term.avail, term.peerWindow = req.window, req.window
		if !l.attach(f.circuit, term) {
			fail(wire.ErrorCodeInternal, "circuit number in use")
			return
		}
		term.link, term.num = l, f.circuit
		f.release()
		m.wg.Add(1)
		go func() { defer m.wg.Done(); m.dialHost(term, req) }()
		return
	}
	m.passOn(l, f, req.dial.CircuitID, req.path[i+1], fail)
}

// passOn records a hop for a create or resume frame at a router in the middle of its path
// and sends the frame on to the next router.
func (m *Manager) passOn(l *Link, f *frame, circuitID, nextID string, fail func(code uint32, msg string)) {
	next := m.link(nextID)
	if next == nil {
		fail(wire.ErrorCodeInvalidTerminator, fmt.Sprintf("router %s has no link to router %s", m.cfg.RouterID, nextID))
		return
	}
	if m.noTraversal() {
		fail(wire.ErrorCodeInvalidTerminator, fmt.Sprintf("router %s does not carry circuits between other routers", m.cfg.RouterID))
		return
	}
	h := &hop{circuitID: circuitID, a: l, na: f.circuit, b: next}
	if !l.attach(f.circuit, h) {
		fail(wire.ErrorCodeInternal, "circuit number in use")
		return
	}
	nb, ok := next.register(h)
	if !ok {
		l.forget(f.circuit, h)
		fail(wire.ErrorCodeInvalidTerminator, fmt.Sprintf("link to router %s closed", nextID))
		return
	}
	h.nb = nb
	next.send(f.typ, 0, nb, f.headers, nil, nil)
	f.release()
}

// noTraversal reports whether this router refuses to be a middle hop.
func (m *Manager) noTraversal() bool {
	for _, r := range m.cfg.State.Routers() {
		if r.ID == m.cfg.RouterID {
			return r.NoTraversal
		}
	}
	return false
}

// dialHost asks the local host of the terminator and answers the create.
func (m *Manager) dialHost(term *terminal, req createRequest) {
	term.mu.Lock()
	l, num := term.link, term.num
	term.mu.Unlock()
	var key []byte
	var start func()
	err := errors.New("this router does not host terminators for the mesh")
	if m.cfg.Host != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.CreateTimeout)
		key, start, err = m.cfg.Host.DialTerminator(ctx, req.dial, term)
		cancel()
	}
	if err != nil {
		code := uint32(wire.ErrorCodeInternal)
		var fe *edge.FabricError
		if errors.As(err, &fe) {
			code = fe.Code
		}
		var h wire.Headers
		h.PutUint32(hErrorCode, code)
		term.mu.Lock()
		term.closed = true
		term.mu.Unlock()
		l.send(frameFailed, 0, num, h, []byte(err.Error()), nil)
		l.forget(num, term)
		return
	}
	var h wire.Headers
	if len(key) > 0 {
		h.PutBytes(hPublicKey, key)
	}
	h.PutUint32(hWindow, uint32(m.cfg.Window))
	term.mu.Lock()
	term.established = true
	term.mu.Unlock()
	l.send(frameCreated, 0, num, h, nil, nil)
	start()
}

// CircuitInfo describes a circuit that ends on this router.
type CircuitInfo struct {
	ID        string
	ServiceID string
	// IdentityID is the dialer's identity.
	IdentityID string
	Path       []string
	CreatedAt  time.Time
	// Dialing is true on the dialer's router.
	Dialing bool
}

// Circuits lists the circuits across routers that end on this router.
func (m *Manager) Circuits() []CircuitInfo {
	var out []CircuitInfo
	m.terminals.Range(func(_, v any) bool {
		t := v.(*terminal)
		out = append(out, CircuitInfo{ID: t.circuitID, ServiceID: t.serviceID, IdentityID: t.identity,
			Path: t.Path(), CreatedAt: t.created, Dialing: t.dialing})
		return true
	})
	return out
}
