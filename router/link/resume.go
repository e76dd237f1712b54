package link

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// Mending a broken path. When a link of a circuit's path is lost, its ends do not close it at
// once. The dialer's router computes another path that avoids what broke and sends a resume
// frame along it, hop by hop like a create; the host's router finds the circuit by its id,
// moves it to the new path and answers resumed. Each end keeps the data frames it sent until
// the far end returned their credit (delivered them), so no more than a window, and the
// resume and resumed frames carry the cumulative count of what each end received: each end
// then sends again exactly what the other did not receive, in order, and the circuit goes
// on. A resume refused on the way is tried again around the refused path's middle routers.
// When there is no path left, or no resumed comes back within ResumeTimeout, the dialer's
// router closes the circuit with an error code; the host's router waits ResumeWait for a
// resume before it does the same.

// mendCounts counts what mending did on this router.
type mendCounts struct {
	moved, failed, resent atomic.Uint64
}

// MendStats counts the circuits this router moved to another path after theirs broke (at
// either end), the ones it closed because it could not, and the data frames it sent again.
type MendStats struct {
	Moved, Failed, Resent uint64
}

// MendStats returns what mending broken paths did on this router so far.
func (m *Manager) MendStats() MendStats {
	return MendStats{Moved: m.mends.moved.Load(), Failed: m.mends.failed.Load(), Resent: m.mends.resent.Load()}
}

// sentFrame is a data frame its end keeps until the far end received it. Each queued write
// of it holds a reference, and so does the end while it keeps it; the body goes back to its
// pool with the last one.
type sentFrame struct {
	refs atomic.Int32
	msg  *wire.Message
	hdrs wire.Headers
	end  uint64 // the sender's cumulative count once this frame is counted
	cost uint64
}

func (s *sentFrame) unref() {
	if s.refs.Add(-1) == 0 {
		s.msg.Release()
	}
}

// mending is a broken path being mended.
type mending struct {
	timer *time.Timer
	code  uint32
	// At the dialer's router: the link and circuit number the resume went out on, and the
	// path it proposes.
	link *Link
	num  uint32
	path []string
	// What the paths tried must avoid: what broke, and the routers in the middle of the
	// paths whose resume was refused.
	avoid  avoidance
	dest   string
	reason string
}

// brokenLink parses the broken-link header of a close: the router that lost the link and the
// router at its other end.
func brokenLink(s string) [2]string {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return [2]string{}
	}
	return [2]string{a, b}
}

// pathBroken handles the loss of the path the circuit runs over, learned on l (the circuit's
// link, or the link a resume went out on): broken is the link lost. A circuit not yet
// established ends; otherwise the dialer's router looks for another path and the host's
// router waits for it, both for a bounded time.
func (t *terminal) pathBroken(l *Link, broken [2]string, code uint32, reason string) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	if md := t.mend; md != nil {
		t.mu.Unlock()
		if md.link == l {
			t.giveUp(md, code, reason)
		}
		return
	}
	if t.link != l {
		t.mu.Unlock()
		return
	}
	if !t.established {
		t.mu.Unlock()
		t.ended(l, code, reason)
		return
	}
	oldNum, oldPath := t.num, slices.Clone(t.path)
	t.link = nil
	md := &mending{code: code}
	t.mend = md
	wait := t.m.cfg.ResumeWait
	if t.dialing {
		wait = t.m.cfg.ResumeTimeout
	}
	md.timer = time.AfterFunc(wait, func() {
		t.giveUp(md, code, fmt.Sprintf("%s; the circuit was not moved to another path within %s", reason, wait))
	})
	t.mu.Unlock()
	l.forget(oldNum, t)
	t.m.log.Info("a circuit's path broke; mending it", "circuit", t.circuitID, "path", oldPath, "broken", broken, "reason", reason)
	if t.dialing {
		go t.reroute(md, oldPath, broken, reason)
	}
}

// giveUp ends a circuit whose path could not be mended.
func (t *terminal) giveUp(md *mending, code uint32, reason string) {
	t.mu.Lock()
	if t.mend != md || t.closed {
		t.mu.Unlock()
		return
	}
	t.mend = nil
	md.timer.Stop()
	if md.link != nil {
		md.link.forget(md.num, t)
	}
	t.mu.Unlock()
	if code == 0 {
		code = wire.ErrorCodeInternal
	}
	t.m.mends.failed.Add(1)
	t.m.log.Info("closing a circuit whose path could not be mended", "circuit", t.circuitID, "reason", reason)
	t.ended(nil, code, reason)
}

// reroute runs at the dialer's router: it finds a path around what broke and sends a resume
// along it.
func (t *terminal) reroute(md *mending, oldPath []string, broken [2]string, reason string) {
	dest := oldPath[len(oldPath)-1]
	var avoid avoidance
	switch {
	case broken[1] == "":
		for _, id := range oldPath[1 : len(oldPath)-1] {
			avoid.avoidRouter(id)
		}
	case broken[1] == dest:
		avoid.avoidLink(broken[0], broken[1])
	default:
		// The router beyond the lost link may be down: go around it.
		avoid.avoidRouter(broken[1])
	}
	t.mu.Lock()
	md.avoid, md.dest, md.reason = avoid, dest, reason
	t.mu.Unlock()
	t.tryPath(md)
}

// tryPath sends a resume along the cheapest path that avoids what md says.
func (t *terminal) tryPath(md *mending) {
	m := t.m
	t.mu.Lock()
	avoid, dest, reason := md.avoid.clone(), md.dest, md.reason
	t.mu.Unlock()
	path, ok := m.pathAvoiding(dest, avoid)
	if !ok {
		t.giveUp(md, md.code, reason+"; no other path to router "+dest)
		return
	}
	l := m.link(path[1])
	var num uint32
	if l != nil {
		num, ok = l.register(t)
	}
	if l == nil || !ok {
		t.giveUp(md, md.code, reason+"; no link to router "+path[1])
		return
	}
	t.mu.Lock()
	if t.mend != md || t.closed {
		t.mu.Unlock()
		l.forget(num, t)
		return
	}
	md.link, md.num, md.path = l, num, path
	var h wire.Headers
	h.PutString(hCircuitID, t.circuitID)
	h.PutString(hPath, strings.Join(path, ","))
	h.PutUint64(hDelivered, t.delivered)
	h.PutUint64(hReceived, t.received)
	// The delivered count covers the credit not yet returned.
	t.granted, t.grantedN = 0, 0
	l.send(frameResume, 0, num, h, nil, nil)
	t.mu.Unlock()
	m.log.Info("resuming a circuit over another path", "circuit", t.circuitID, "path", path)
}

// mendReply takes the answer to a resume at the dialer's router; it reports false for a frame
// that is no such answer.
func (t *terminal) mendReply(l *Link, f *frame) bool {
	t.mu.Lock()
	md := t.mend
	if md == nil || md.link != l || md.num != f.circuit || !t.dialing {
		t.mu.Unlock()
		return false
	}
	if f.typ == frameFailed {
		code, _ := f.headers.GetUint32(hErrorCode)
		refusal := string(f.body())
		f.release()
		if len(md.path) > 2 {
			// A router on the way may have lost its link too (the topology lags): try a path
			// around the middle of this one while time is left.
			for _, id := range md.path[1 : len(md.path)-1] {
				md.avoid.avoidRouter(id)
			}
			md.reason += "; a resume was refused: " + refusal
			md.link.forget(md.num, t)
			md.link, md.num, md.path = nil, 0, nil
			t.mu.Unlock()
			go t.tryPath(md)
			return true
		}
		t.mu.Unlock()
		t.giveUp(md, code, "the host's router refused to resume the circuit: "+refusal)
		return true
	}
	delivered, _ := f.headers.GetUint64(hDelivered)
	received, _ := f.headers.GetUint64(hReceived)
	f.release()
	err := t.moveLocked(l, md.num, md.path, delivered, received)
	if err != nil {
		t.mu.Unlock()
		l.send(frameClose, 0, md.num, nil, []byte(err.Error()), nil)
		t.giveUp(md, wire.ErrorCodeInternal, err.Error())
		return true
	}
	if t.granted > 0 {
		t.sendCreditLocked()
	}
	t.resendLocked()
	t.mu.Unlock()
	t.m.log.Info("circuit moved to another path", "circuit", t.circuitID, "path", md.path)
	return true
}

// resumeHere takes a resume at the host's router: the circuit moves to l and num (the path
// path), resumed goes back with this end's counts, and what the dialer's router did not
// receive is sent again.
func (t *terminal) resumeHere(l *Link, num uint32, path []string, peerDelivered, peerReceived uint64) error {
	t.mu.Lock()
	if t.closed || !t.established || t.dialing {
		t.mu.Unlock()
		return errors.New("the circuit is closed")
	}
	old, oldNum := t.link, t.num
	if err := t.moveLocked(l, num, path, peerDelivered, peerReceived); err != nil {
		t.mu.Unlock()
		t.ended(nil, wire.ErrorCodeInternal, err.Error())
		return err
	}
	var h wire.Headers
	h.PutUint64(hDelivered, t.delivered)
	h.PutUint64(hReceived, t.received)
	t.granted, t.grantedN = 0, 0
	l.send(frameResumed, 0, num, h, nil, nil)
	t.resendLocked()
	t.mu.Unlock()
	if old != nil && (old != l || oldNum != num) {
		// The old path broke beyond this router's link: what still comes over it is dropped,
		// and sent again over the new one.
		old.forget(oldNum, t)
	}
	t.m.log.Info("circuit moved to another path", "circuit", t.circuitID, "path", path)
	return nil
}

// moveLocked moves the circuit to its new path: the frames the far end received are
// forgotten, the credit it returned is counted whole (credit frames lost with the old path
// included), and the circuit carries on over l with number num.
func (t *terminal) moveLocked(l *Link, num uint32, path []string, peerDelivered, peerReceived uint64) error {
	if peerReceived > t.sentTotal || peerDelivered > peerReceived || peerDelivered < t.credited {
		return fmt.Errorf("link: resuming circuit %s: the far end counts %d received and %d delivered, this end sent %d and had %d back",
			t.circuitID, peerReceived, peerDelivered, t.sentTotal, t.credited)
	}
	t.ackLocked(peerReceived)
	if len(t.unacked) > 0 && t.unacked[0].end-t.unacked[0].cost != peerReceived {
		return fmt.Errorf("link: resuming circuit %s: the far end received %d, not a frame boundary", t.circuitID, peerReceived)
	}
	t.credited = peerDelivered
	t.avail = t.peerWindow - int64(t.sentTotal-t.credited)
	if md := t.mend; md != nil {
		md.timer.Stop()
		t.mend = nil
	}
	t.link, t.num, t.path = l, num, path
	t.wakeLocked()
	t.m.mends.moved.Add(1)
	return nil
}

// resendLocked sends again the frames the far end did not receive, then the close the local
// client asked for while the path was mended.
func (t *terminal) resendLocked() {
	for _, sf := range t.unacked {
		t.link.sendKept(t.num, sf)
	}
	t.m.mends.resent.Add(uint64(len(t.unacked)))
	if !t.closing {
		return
	}
	t.closed = true
	l, num := t.link, t.num
	l.send(frameClose, 0, num, nil, t.pendingClose, nil)
	t.dropStateLocked()
	l.forget(num, t)
	t.m.terminals.CompareAndDelete(t.circuitID, t)
}

// handleResume serves a resume frame on the read goroutine of l: the host's router moves the
// circuit; a router in the middle records a hop and passes the frame on.
func (m *Manager) handleResume(l *Link, f *frame) {
	fail := func(code uint32, msg string) {
		var h wire.Headers
		h.PutUint32(hErrorCode, code)
		l.send(frameFailed, 0, f.circuit, h, []byte(msg), nil)
		f.release()
	}
	id, path, delivered, received, err := decodeResume(f.headers)
	if err != nil {
		fail(wire.ErrorCodeInternal, err.Error())
		return
	}
	i := slices.Index(path, m.cfg.RouterID)
	if i <= 0 || path[i-1] != l.peerID {
		fail(wire.ErrorCodeInternal, "this router is not the next hop of the path")
		return
	}
	if i < len(path)-1 {
		m.passOn(l, f, id, path[i+1], fail)
		return
	}
	v, ok := m.terminals.Load(id)
	var t *terminal
	if ok {
		t = v.(*terminal)
	}
	// Only the circuit's own dialer's router may move it.
	if t == nil || t.dialing || t.dialerRouter() != path[0] {
		fail(wire.ErrorCodeInvalidTerminator, "no such circuit on this router")
		return
	}
	if !l.attach(f.circuit, t) {
		fail(wire.ErrorCodeInternal, "circuit number in use")
		return
	}
	if err := t.resumeHere(l, f.circuit, path, delivered, received); err != nil {
		l.forget(f.circuit, t)
		fail(wire.ErrorCodeInternal, err.Error())
		return
	}
	f.release()
}

func (t *terminal) dialerRouter() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.path[0]
}

// decodeResume decodes the headers of a resume frame.
func decodeResume(h wire.Headers) (id string, path []string, delivered, received uint64, err error) {
	id, _ = h.GetString(hCircuitID)
	pathText, _ := h.GetString(hPath)
	var okD, okR bool
	delivered, okD = h.GetUint64(hDelivered)
	received, okR = h.GetUint64(hReceived)
	if id == "" || pathText == "" || !okD || !okR {
		return "", nil, 0, 0, errors.New("resume carries no circuit id, path or counts")
	}
	if delivered > received {
		return "", nil, 0, 0, errors.New("resume counts more delivered than received")
	}
	path, err = parsePath(pathText)
	return id, path, delivered, received, err
}
