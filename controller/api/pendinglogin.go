package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/controller/auth"
	"github.com/ostium-net/ostium/controller/cluster"
	"github.com/ostium-net/ostium/controller/domain"
	"github.com/ostium-net/ostium/controller/store"
)

// Sign-ins answered before they are applied.
//
// A sign-in with a certificate or an external JWT that completes at once (no
// MFA step) is answered as soon as it is queued for raft, not once raft has
// committed and applied it: the entry's wait is most of what a sign-in costs,
// and the client's next requests rarely need it done. The queued sign-ins
// are proposed together, one entry at a time, so an entry and its store
// commit serve many of them. Until its entry is applied here, the new
// session is a pending login, and this controller behaves as if it were
// stored:
//
//   - its token authenticates reads (GET, HEAD) of the client API, served
//     from the pending record;
//   - any other request made with it (creating a session, logging out,
//     answering posture queries) first waits until the entry is applied, so
//     writes about the session follow it in the log;
//   - every management API request (but a stale read) first waits for the
//     logins pending when it arrived, so an administrator reads every
//     sign-in a client was told of (its session, its auth event, the
//     identity's SDK info).
//
// A login stops pending when the store commits its session (a listener, run
// before any later entry's writer is answered) or when its entry fails. An
// entry refused when applied (the identity disabled or locked out in the
// meantime) leaves a token that authenticates nothing from then on; an
// entry lost with a crashed leader, the same: the client signs in again, as
// it does after any expiry. Other controllers of a cluster see the session
// once it is committed, a few milliseconds later.
//
// Password sign-ins (whose entry also counts and resets failures), OIDC
// sign-ins (whose grant is made from the stored session), sign-ins with an
// MFA step still to come, sign-ins carrying an Idempotency-Key and sign-ins
// while no leader is known are answered after their entry is applied, as
// every other write is.

// maxPendingLogins bounds the sign-ins answered and not yet applied; past it
// a sign-in is applied before it is answered, as any other write, which is
// the back-pressure a client then feels.
const maxPendingLogins = 512

// maxLoginsPerEntry bounds the sign-ins one raft entry carries.
const maxLoginsPerEntry = 128

// pendingLogins holds the sign-ins answered and not yet applied here, and
// proposes them: one proposer at a time takes every sign-in queued and
// proposes them as one entry (domain.AuthenticateMany), so while an entry
// is being committed the next one fills up. The entry and the store commit
// it costs are shared by the sign-ins it carries.
type pendingLogins struct {
	mu      sync.RWMutex
	byToken map[string]*pendingLogin // token hash → login
	byID    map[string]*pendingLogin // API-session id → login
	queue   []domain.TimedLogin      // answered, not yet proposed
	// proposing is set while a proposer runs; it ends when the queue is empty.
	proposing bool
	slots     chan struct{}
	// propose applies one entry of sign-ins.
	propose func(ctx context.Context, logins []domain.TimedLogin) error
	log     *slog.Logger
	// lost counts the sign-ins answered whose entry opened no session.
	lost prometheus.Counter
	// beforeApply, when set (tests, under mu), runs before an entry is
	// proposed.
	beforeApply func([]domain.TimedLogin)
}

// pendingLogin is one sign-in whose entry is not yet applied here.
type pendingLogin struct {
	session *store.APISession
	done    chan struct{} // closed when it stops pending
}

func newPendingLogins(log *slog.Logger, propose func(ctx context.Context, logins []domain.TimedLogin) error) *pendingLogins {
	return &pendingLogins{byToken: map[string]*pendingLogin{}, byID: map[string]*pendingLogin{},
		slots: make(chan struct{}, maxPendingLogins), propose: propose, log: log,
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ostium_signins_lost_total",
			Help: "Sign-ins answered before they were applied whose entry opened no session (refused by the state it met, or failed); their clients must sign in again.",
		})}
}

// collectors are the pending sign-ins' metrics.
func (p *pendingLogins) collectors() []prometheus.Collector {
	return []prometheus.Collector{p.lost, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ostium_signins_pending",
		Help: "Sign-ins answered and not yet applied on this controller.",
	}, func() float64 { return float64(len(p.slots)) })}
}

// listen makes the store's commits end the logins they store. It must run
// before the store applies anything.
func (p *pendingLogins) listen(st *store.Store) {
	st.Listen(func(_ uint64, changes []store.Change) {
		for _, c := range changes {
			if c.Kind == store.APISessions && c.New != nil && c.Old == nil {
				p.settle(c.New.Base().ID)
			}
		}
	})
}

// tryReserve takes a slot for one more pending login, without waiting.
func (p *pendingLogins) tryReserve() bool {
	select {
	case p.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// add makes a sign-in pending and queues it for the proposer; its slot is
// reserved.
func (p *pendingLogins) add(login *domain.Authenticate, at time.Time) *store.APISession {
	answered := *login.APISession
	answered.CreatedAt, answered.UpdatedAt = at, at
	l := &pendingLogin{session: &answered, done: make(chan struct{})}
	p.mu.Lock()
	p.byToken[answered.TokenHash] = l
	p.byID[answered.ID] = l
	p.queue = append(p.queue, domain.TimedLogin{At: at, Login: login})
	start := !p.proposing
	p.proposing = true
	p.mu.Unlock()
	if start {
		go p.run()
	}
	return &answered
}

// run proposes the queued sign-ins, as many as one entry carries at a time,
// until none is left.
func (p *pendingLogins) run() {
	for {
		p.mu.Lock()
		n := min(len(p.queue), maxLoginsPerEntry)
		if n == 0 {
			p.proposing = false
			p.mu.Unlock()
			return
		}
		batch := append([]domain.TimedLogin(nil), p.queue[:n]...)
		p.queue = append(p.queue[:0], p.queue[n:]...)
		before := p.beforeApply
		p.mu.Unlock()
		if before != nil {
			before(batch)
		}
		err := p.propose(context.Background(), batch)
		// Those whose sessions were stored stopped pending when the store
		// committed them; the others (refused, or the entry failed) are
		// counted and stop now.
		if lost := p.stillPending(batch); lost > 0 {
			p.lost.Add(float64(lost))
			p.log.Info("sign-ins answered before they were applied did not open their sessions; their tokens are not valid",
				"signIns", lost, "error", err)
		}
		for _, l := range batch {
			p.settle(l.Login.APISession.ID)
			<-p.slots
		}
	}
}

// stillPending counts the sign-ins of batch that still pend.
func (p *pendingLogins) stillPending(batch []domain.TimedLogin) int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := 0
	for _, l := range batch {
		if _, ok := p.byID[l.Login.APISession.ID]; ok {
			n++
		}
	}
	return n
}

// settle ends the pending login of the API session id, if there is one.
func (p *pendingLogins) settle(id string) {
	p.mu.Lock()
	l, ok := p.byID[id]
	if ok {
		delete(p.byID, id)
		delete(p.byToken, l.session.TokenHash)
	}
	p.mu.Unlock()
	if ok {
		close(l.done)
	}
}

// byTokenHash returns the pending login a token opened, or nil.
func (p *pendingLogins) byTokenHash(hash string) *pendingLogin {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.byToken[hash]
}

// waitFor waits until the login the token opened, if it is pending, is
// applied or failed.
func (p *pendingLogins) waitFor(ctx context.Context, token string) {
	if p.none() {
		return // the usual case: no token to hash
	}
	if l := p.byTokenHash(auth.TokenHash(token)); l != nil {
		select {
		case <-l.done:
		case <-ctx.Done():
		}
	}
}

// none reports whether no login is pending.
func (p *pendingLogins) none() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.byID) == 0
}

// waitAll waits until every login pending now is applied or failed.
func (p *pendingLogins) waitAll(ctx context.Context) {
	p.mu.RLock()
	if len(p.byID) == 0 {
		p.mu.RUnlock()
		return
	}
	waits := make([]chan struct{}, 0, len(p.byID))
	for _, l := range p.byID {
		waits = append(waits, l.done)
	}
	p.mu.RUnlock()
	for _, d := range waits {
		select {
		case <-d:
		case <-ctx.Done():
			return
		}
	}
}

// awaitPendingLogins makes r wait for the pending logins it depends on (see
// above): a management request for all of them, a client write for its own.
func (s *Server) awaitPendingLogins(r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, managementBase+"/"):
		s.pending.waitAll(r.Context())
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
	case r.Method == http.MethodPost && isSessionCreate(r.URL.Path):
		// createSession waits itself, after its checks and just before it
		// proposes, so they run while the sign-in's entry is applied.
	default:
		if t := r.Header.Get("zt-session"); t != "" && len(t) <= 512 {
			s.pending.waitFor(r.Context(), t)
		}
	}
}

// isSessionCreate reports whether path is the client API's POST /sessions
// (under its base or at the root).
func isSessionCreate(path string) bool {
	path = strings.TrimSuffix(path, "/")
	return path == clientBase+"/sessions" || path == "/sessions"
}

// answerBeforeApply reports whether the sign-in login may be answered once
// queued (see above), and when it may, reserves its place.
func (s *Server) answerBeforeApply(ctx context.Context, login *domain.Authenticate, method string) bool {
	if s.Node == nil || login.APISession.IsMFARequired || login.APISession.OIDC || (method != "cert" && method != "ext-jwt") || cluster.HasIdempotencyKey(ctx) {
		return false
	}
	if addr, _ := s.Node.Leader(); addr == "" {
		return false
	}
	return s.pending.tryReserve()
}
