package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

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
//   - a new Dial or Bind session asked for with it may be answered at
//     once too, its entry proposed after this one (pendingsession.go);
//   - any other request made with it (logging out, answering posture
//     queries) first waits until the entry is applied, so writes about the
//     session follow it in the log;
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
// proposes them as entries of domain.AuthenticateMany (see pendingQueue).
// A pending sign-in is found by its token's hash.
type pendingLogins struct {
	*pendingQueue[domain.TimedLogin, *store.APISession]
}

func newPendingLogins(log *slog.Logger, propose func(ctx context.Context, logins []domain.TimedLogin) error) *pendingLogins {
	return &pendingLogins{newPendingQueue[domain.TimedLogin, *store.APISession](log, pendingSpec{
		capacity: maxPendingLogins, perEntry: maxLoginsPerEntry, kind: store.APISessions, what: "sign-ins", metric: "signins",
		lostHelp:    "Sign-ins answered before they were applied whose entry opened no session (refused by the state it met, or failed); their clients must sign in again.",
		pendingHelp: "Sign-ins answered and not yet applied on this controller.",
	}, func(l domain.TimedLogin) string { return l.Login.APISession.ID }, propose)}
}

// add makes a sign-in pending and queues it for the proposer; its slot is
// reserved. It returns the session as the client is answered.
func (p *pendingLogins) add(login *domain.Authenticate, at time.Time) *store.APISession {
	answered := *login.APISession
	answered.CreatedAt, answered.UpdatedAt = at, at
	// A token hash is the session's own: no other sign-in has it.
	out, _ := p.pendingQueue.add(domain.TimedLogin{At: at, Login: login}, &answered, answered.TokenHash, answered.TokenHash)
	return out
}

// awaitPending makes r wait for the pending sign-ins and sessions it
// depends on (see above and pendingsession.go): a management request for
// all of them, a client request for its own API session's.
func (s *Server) awaitPending(r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, managementBase+"/"):
		s.pending.waitAll(r.Context())
		s.sessions.waitAll(r.Context())
		return
	case r.Method == http.MethodPost && isPath(r.URL.Path, "/sessions"):
		// createSession answers from what pends, and a session it queues
		// is proposed after its API session's entry.
		return
	}
	t := r.Header.Get("zt-session")
	if t == "" || len(t) > 512 {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.pending.waitFor(r.Context(), t)
	}
	if r.Method == http.MethodDelete && isPath(r.URL.Path, "/current-api-session") {
		// A logout needs its sign-in applied, not its sessions: should a
		// session's entry apply after the logout's, it finds its API session
		// gone and creates nothing, which is what the logout asks.
		if !s.sessions.none() {
			s.sessions.forgetOwner(auth.TokenHash(t))
		}
		return
	}
	s.sessions.waitFor(r.Context(), t)
}

// isPath reports whether path is the client API's sub (under its base or at
// the root).
func isPath(path, sub string) bool {
	path = strings.TrimSuffix(path, "/")
	return path == clientBase+sub || path == sub
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
