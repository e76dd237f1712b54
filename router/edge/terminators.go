package edge

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// Dial failures make a terminator look more expensive to smartrouting for a while.
const (
	// failurePenalty is the extra cost of each recent dial failure.
	failurePenalty = 1000
	// maxPenalizedFailures caps the failures counted.
	maxPenalizedFailures = 50
	// failureMemory is how long after its last failure a terminator is forgiven.
	failureMemory = time.Minute
)

// terminator is a Bind hosted on one of this router's channels.
type terminator struct {
	Terminator
	token               string
	channel             *channel
	listenerConnID      uint32
	supportsBindSuccess bool

	// Guarded by terminatorTable.mu.
	registryID  string
	removed     bool
	unhealthy   bool
	failures    int
	lastFailure time.Time
}

// terminatorTable holds the terminators of this router by service.
type terminatorTable struct {
	mu             sync.Mutex
	byService      map[string][]*terminator
	remoteFailures map[string]remoteFailure
	// added is closed, and replaced, when a terminator is added: dials waiting for a
	// terminator of their service look again.
	added chan struct{}
}

func (tt *terminatorTable) init() {
	tt.byService = make(map[string][]*terminator)
	tt.remoteFailures = make(map[string]remoteFailure)
	tt.added = make(chan struct{})
}

func (tt *terminatorTable) add(t *terminator) {
	tt.mu.Lock()
	tt.byService[t.ServiceID] = append(tt.byService[t.ServiceID], t)
	close(tt.added)
	tt.added = make(chan struct{})
	tt.mu.Unlock()
}

// addedChan returns a channel closed when the next terminator is added.
func (tt *terminatorTable) addedChan() <-chan struct{} {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return tt.added
}

// remove takes t out; it returns its registry id (empty when not registered yet) and whether
// it was present.
func (tt *terminatorTable) remove(t *terminator) (registryID string, ok bool) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if t.removed {
		return "", false
	}
	t.removed = true
	list := tt.byService[t.ServiceID]
	for i, x := range list {
		if x == t {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(tt.byService, t.ServiceID)
	} else {
		tt.byService[t.ServiceID] = list
	}
	return t.registryID, true
}

// registered records the registry id of t; it reports false when t was removed meanwhile.
func (tt *terminatorTable) registered(t *terminator, id string) bool {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	t.registryID = id
	return !t.removed
}

// snapshot copies the public description of t.
func (tt *terminatorTable) snapshot(t *terminator) Terminator {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return t.Terminator
}

func (tt *terminatorTable) count() int {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	n := 0
	for _, list := range tt.byService {
		n += len(list)
	}
	return n
}

func (tt *terminatorTable) matching(pred func(*terminator) bool) []*terminator {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	var out []*terminator
	for _, list := range tt.byService {
		for _, t := range list {
			if pred(t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// update changes cost, precedence and health of t and returns the values now in force.
func (tt *terminatorTable) update(t *terminator, cost *uint16, precedence *wire.Precedence, healthy *bool) (uint16, wire.Precedence, string) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if cost != nil {
		t.Cost = *cost
	}
	if precedence != nil {
		t.Precedence = *precedence
	}
	if healthy != nil {
		t.unhealthy = !*healthy
	}
	return t.Cost, t.effectivePrecedence(), t.registryID
}

// recordDial remembers the outcome of a dial through t.
func (tt *terminatorTable) recordDial(t *terminator, ok bool) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if ok {
		t.failures = 0
		return
	}
	t.failures = min(t.failures+1, maxPenalizedFailures)
	t.lastFailure = time.Now()
}

// effectivePrecedence is the precedence, demoted to failed while the host reports it unhealthy.
func (t *terminator) effectivePrecedence() wire.Precedence {
	if t.unhealthy {
		return wire.PrecedenceFailed
	}
	return t.Precedence
}

// precedenceClass orders precedences: required first, then default, then failed.
func precedenceClass(p wire.Precedence) int {
	switch p {
	case wire.PrecedenceRequired:
		return 0
	case wire.PrecedenceDefault:
		return 1
	default:
		return 2
	}
}

// penalizedCost is the cost of t with its recent dial failures added.
func (t *terminator) penalizedCost(now time.Time) int {
	cost := int(t.Cost)
	if t.failures > 0 && now.Sub(t.lastFailure) < failureMemory {
		cost += t.failures * failurePenalty
	}
	return cost
}

// choice is a terminator a dial may take: one of this router's, or one reached over the mesh.
type choice struct {
	local      *terminator
	remote     *RemoteTerminator
	identity   string
	precedence wire.Precedence
	// cost is the terminator's cost, its recent failures and the cost of the path to it.
	cost int
}

// remoteKey names a remote terminator in the failure memory.
func remoteKey(t *RemoteTerminator) string { return t.RouterID + "/" + t.ID }

// remoteFailure is the failure memory of a terminator on another router.
type remoteFailure struct {
	failures int
	last     time.Time
}

// pick chooses a terminator of a service with the service's strategy, or the one named
// identity when that is not empty, among this router's terminators and the remote ones given
// (whose path cost adds to their cost).
func (tt *terminatorTable) pick(serviceID, strategy, identity string, remote []RemoteTerminator) (choice, error) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	now := time.Now()
	all := tt.byService[serviceID]
	candidates := make([]choice, 0, len(all)+len(remote))
	for _, t := range all {
		candidates = append(candidates, choice{local: t, identity: t.Identity, precedence: t.effectivePrecedence(), cost: t.penalizedCost(now)})
	}
	for i := range remote {
		r := &remote[i]
		c := int(r.Cost) + r.PathCost
		if f, ok := tt.remoteFailures[remoteKey(r)]; ok && now.Sub(f.last) < failureMemory {
			c += f.failures * failurePenalty
		}
		candidates = append(candidates, choice{remote: r, identity: r.Identity, precedence: r.Precedence, cost: c})
	}
	if identity != "" {
		named := candidates[:0]
		for _, c := range candidates {
			if c.identity == identity {
				named = append(named, c)
			}
		}
		candidates = named
	}
	if len(candidates) == 0 {
		if identity != "" {
			return choice{}, refuse(wire.ErrorCodeInvalidTerminator, "service has no reachable terminator with identity %q", identity)
		}
		return choice{}, refuse(wire.ErrorCodeInvalidTerminator, "service has no reachable terminators")
	}

	best := 3
	for _, c := range candidates {
		best = min(best, precedenceClass(c.precedence))
	}
	top := candidates[:0]
	for _, c := range candidates {
		if precedenceClass(c.precedence) == best {
			top = append(top, c)
		}
	}
	switch strategy {
	case StrategyRandom:
		return top[rand.IntN(len(top))], nil
	case StrategyWeighted:
		total := 0.0
		weights := make([]float64, len(top))
		for i, c := range top {
			weights[i] = 1 / float64(c.cost+1)
			total += weights[i]
		}
		r := rand.Float64() * total
		for i, w := range weights {
			if r < w {
				return top[i], nil
			}
			r -= w
		}
		return top[len(top)-1], nil
	default: // smartrouting: lowest cost, ties broken at random to spread the load
		var chosen choice
		lowest, ties := 0, 0
		for _, c := range top {
			switch {
			case ties == 0 || c.cost < lowest:
				chosen, lowest, ties = c, c.cost, 1
			case c.cost == lowest:
				ties++
				if rand.IntN(ties) == 0 {
					chosen = c
				}
			}
		}
		return chosen, nil
	}
}

// recordRemoteDial remembers the outcome of a dial through a remote terminator.
func (tt *terminatorTable) recordRemoteDial(t *RemoteTerminator, ok bool) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	key := remoteKey(t)
	if ok {
		delete(tt.remoteFailures, key)
		return
	}
	f := tt.remoteFailures[key]
	f.failures = min(f.failures+1, maxPenalizedFailures)
	f.last = time.Now()
	tt.remoteFailures[key] = f
	// Forget what is old, so the memory stays small.
	if len(tt.remoteFailures) > 1024 {
		for k, v := range tt.remoteFailures {
			if time.Since(v.last) > failureMemory {
				delete(tt.remoteFailures, k)
			}
		}
	}
}

// byID finds a terminator of this router by its id.
func (tt *terminatorTable) byID(serviceID, id string) *terminator {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	for _, t := range tt.byService[serviceID] {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// handleBind registers the channel as a host of a service: it answers StateConnected at once
// and BindSuccess once the controller recorded the terminator.
func (ch *channel) handleBind(m *wire.Message) {
	defer m.Release()
	connID, ok := m.ConnID()
	token := string(m.Body)
	refuseBind := func(err error) {
		code := wire.ErrorCodeInternal
		if ce, ok := err.(*connectError); ok {
			code = ce.code
		}
		ch.log.Info("bind refused", "connId", connID, "code", code, "reason", err.Error())
		reply := wire.NewStateClosed(connID, code, err.Error())
		reply.ReplyTo(m)
		ch.send(reply)
	}
	if !ok {
		refuseBind(refuse(wire.ErrorCodeInternal, "bind carries no conn id"))
		return
	}
	if ch.l.isDraining() {
		refuseBind(errShuttingDown())
		return
	}
	api, sess, err := ch.checkSession(token, SessionTypeBind)
	if err != nil {
		refuseBind(err)
		return
	}
	publicKey, _ := m.Headers.GetBytes(wire.HeaderPublicKey)
	if sess.ServiceEncryptionRequired && len(publicKey) == 0 {
		refuseBind(refuse(wire.ErrorCodeEncryptionDataMissing, "service requires end-to-end encryption and bind carries no public key"))
		return
	}
	if err := refuseSDKFlowControl(m); err != nil {
		refuseBind(err)
		return
	}
	precedence := wire.PrecedenceDefault
	if p, ok := m.Headers.GetByte(wire.HeaderPrecedence); ok {
		if p > byte(wire.PrecedenceFailed) {
			refuseBind(refuse(wire.ErrorCodeInvalidPrecedence, "invalid precedence %d", p))
			return
		}
		precedence = wire.Precedence(p)
	}
	cost, _ := m.Headers.GetUint16(wire.HeaderCost)
	identity, _ := m.Headers.GetString(wire.HeaderTerminatorIdentity)
	listenerID, _ := m.Headers.GetString(wire.HeaderListenerID)
	supportsBindSuccess, _ := m.Headers.GetBool(wire.HeaderSupportsBindSuccess)

	t := &terminator{
		Terminator: Terminator{
			ID:           newID(),
			ServiceID:    sess.ServiceID,
			RouterID:     ch.l.cfg.RouterID,
			SessionID:    sess.ID,
			APISessionID: api.ID,
			HostID:       api.IdentityID,
			Identity:     identity,
			Cost:         cost,
			Precedence:   precedence,
			ListenerID:   listenerID,
			PublicKey:    publicKey,
		},
		token:               token,
		channel:             ch,
		listenerConnID:      connID,
		supportsBindSuccess: supportsBindSuccess,
	}
	ch.mu.Lock()
	_, taken := ch.binds[connID]
	if !taken && !ch.closed {
		ch.binds[connID] = t
	}
	closed := ch.closed
	ch.mu.Unlock()
	if closed {
		return
	}
	if taken {
		refuseBind(refuse(wire.ErrorCodeInternal, "conn id %d is already bound", connID))
		return
	}
	ch.l.terminators.add(t)
	if ch.l.isDraining() {
		// Shutdown began while this Bind was checked; it swept the terminators before this one
		// was added.
		ch.dropBind(connID, t)
		ch.l.terminators.remove(t)
		refuseBind(errShuttingDown())
		return
	}

	reply := wire.NewStateConnected(connID)
	reply.ReplyTo(m)
	ch.send(reply)
	ch.log.Debug("terminator bound", "terminator", t.ID, "service", t.ServiceID, "connId", connID)
	ch.l.goTracked(func() { ch.l.registerTerminator(t) })
}

// registerTerminator records t with the controller and tells the host when it is done.
func (l *Listener) registerTerminator(t *terminator) {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.RegistryTimeout)
	id, err := l.cfg.Terminators.Register(ctx, l.terminators.snapshot(t))
	cancel()
	ch := t.channel
	if err != nil {
		l.log.Warn("registering terminator failed", "terminator", t.ID, "service", t.ServiceID, "err", err)
		if _, present := l.terminators.remove(t); present && ch.dropBind(t.listenerConnID, t) {
			ch.send(wire.NewStateClosed(t.listenerConnID, wire.ErrorCodeInternal, "registering the terminator failed"))
		}
		return
	}
	if !l.terminators.registered(t, id) {
		// Unbound (or the channel closed) while registering.
		l.unregister(id)
		return
	}
	if t.supportsBindSuccess {
		ch.send(wire.NewBindSuccess(t.listenerConnID))
	}
}

// removeTerminator takes t out of service and unregisters it from the controller.
func (l *Listener) removeTerminator(t *terminator, reason string) {
	id, ok := l.terminators.remove(t)
	if !ok {
		return
	}
	l.log.Debug("terminator removed", "terminator", t.ID, "service", t.ServiceID, "reason", reason)
	if id != "" {
		l.goTracked(func() { l.unregister(id) })
	}
}

func (l *Listener) unregister(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.RegistryTimeout)
	defer cancel()
	if err := l.cfg.Terminators.Unregister(ctx, id); err != nil {
		l.log.Warn("unregistering terminator failed", "id", id, "err", err)
	}
}

// boundTerminator finds the terminator of a listener conn id; a message without a conn id
// is matched by its bind token.
func (ch *channel) boundTerminator(m *wire.Message) (uint32, *terminator) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if connID, ok := m.ConnID(); ok {
		return connID, ch.binds[connID]
	}
	for connID, t := range ch.binds {
		if t.token == string(m.Body) {
			return connID, t
		}
	}
	return 0, nil
}

// handleUnbind removes the terminator of a listener.
func (ch *channel) handleUnbind(m *wire.Message) {
	defer m.Release()
	connID, t := ch.boundTerminator(m)
	if t == nil {
		ch.log.Debug("unbind for unknown listener", "connId", connID)
		return
	}
	if ch.dropBind(connID, t) {
		ch.l.removeTerminator(t, "unbound by host")
	}
}

// handleUpdateBind changes cost and precedence of a terminator.
func (ch *channel) handleUpdateBind(m *wire.Message) {
	defer m.Release()
	_, t := ch.boundTerminator(m)
	if t == nil {
		return
	}
	var cost *uint16
	var precedence *wire.Precedence
	if c, ok := m.Headers.GetUint16(wire.HeaderCost); ok {
		cost = &c
	}
	if p, ok := m.Headers.GetByte(wire.HeaderPrecedence); ok && p <= byte(wire.PrecedenceFailed) {
		pp := wire.Precedence(p)
		precedence = &pp
	}
	ch.l.pushTerminatorUpdate(t, cost, precedence, nil)
}

// handleHealthEvent demotes a terminator to failed precedence while its host reports it
// unhealthy.
func (ch *channel) handleHealthEvent(m *wire.Message) {
	defer m.Release()
	_, t := ch.boundTerminator(m)
	if t == nil {
		return
	}
	healthy, ok := m.Headers.GetBool(wire.HeaderHealthStatus)
	if !ok {
		return
	}
	ch.l.pushTerminatorUpdate(t, nil, nil, &healthy)
}

func (l *Listener) pushTerminatorUpdate(t *terminator, cost *uint16, precedence *wire.Precedence, healthy *bool) {
	newCost, newPrecedence, id := l.terminators.update(t, cost, precedence, healthy)
	updater, ok := l.cfg.Terminators.(TerminatorUpdater)
	if !ok || id == "" {
		return
	}
	l.goTracked(func() {
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.RegistryTimeout)
		defer cancel()
		if err := updater.Update(ctx, id, newCost, newPrecedence); err != nil {
			l.log.Warn("updating terminator failed", "id", id, "err", err)
		}
	})
}
