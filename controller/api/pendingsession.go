package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/ostium-net/ostium/controller/cluster"
	"github.com/ostium-net/ostium/controller/domain"
	"github.com/ostium-net/ostium/controller/store"
)

// Sessions answered before they are applied.
//
// A new Dial or Bind session is answered as soon as it is queued for raft,
// as a certificate sign-in is (pendinglogin.go): the handler has checked the
// grant, the posture and that a router can carry it, and the entry checks
// them again when it is applied. The queued sessions are proposed together,
// each after its API session's own entry, so one entry and one store commit
// serve many of them. Until its entry is applied here, the session is
// pending, and this controller behaves as if it were stored:
//
//   - asking again for the same (API session, service, type) answers the
//     pending session;
//   - any other client request made with the API session's token first
//     waits until the API session's pending sessions are applied, so it
//     reads them (GET /sessions) and its writes (a session's deletion)
//     follow them in the log; but a logout does not wait: whichever entry
//     applies first, the sessions end with their API session (a session
//     entry that meets its API session gone creates nothing);
//   - every management API request (but a stale read) first waits for the
//     sessions pending when it arrived, as it does for sign-ins.
//
// Routers learn of a session when it is committed; one that meets a token
// it does not know yet waits a moment for it (the router's token wait), so a
// client that dials at once is served. An entry refused when applied (the
// grant or the API session gone in the meantime) or lost with a crashed
// leader leaves a token that routers refuse: the client asks for a session
// again, as it does when one is revoked.
//
// Sessions asked for with an Idempotency-Key and while no leader is known
// are answered after their entry is applied, as every other write is.

// maxPendingSessions bounds the sessions answered and not yet applied; past
// it a session is applied before it is answered.
const maxPendingSessions = 512

// maxSessionsPerEntry bounds the sessions one raft entry carries.
const maxSessionsPerEntry = 128

// pendingSessions holds the sessions answered and not yet applied here, and
// proposes them as entries of domain.CreateSessions (see pendingQueue). A
// pending session is found by its domain.SessionKey, and belongs to the
// token hash of its API session.
type pendingSessions struct {
	*pendingQueue[domain.TimedSession, *store.Session]
}

func newPendingSessions(log *slog.Logger, propose func(ctx context.Context, sessions []domain.TimedSession) error) *pendingSessions {
	return &pendingSessions{newPendingQueue[domain.TimedSession, *store.Session](log, pendingSpec{
		capacity: maxPendingSessions, perEntry: maxSessionsPerEntry, kind: store.Sessions, what: "sessions", metric: "sessions",
		lostHelp:    "Sessions answered before they were applied whose entry created nothing (refused by the state it met, or failed); their clients must ask again.",
		pendingHelp: "Sessions answered and not yet applied on this controller.",
	}, func(s domain.TimedSession) string { return s.Session.ID }, propose)}
}

// add makes the session cs of the identity pending, for the API session
// whose token hash is owner, and queues it; its slot is reserved. It
// returns the session as the client is answered: cs's, or the one already
// pending for the same key.
func (p *pendingSessions) add(cs *domain.CreateSession, identityID, owner string, at time.Time) *store.Session {
	answered := &store.Session{Meta: store.Meta{ID: cs.ID, Tags: cs.Tags, CreatedAt: at, UpdatedAt: at},
		APISessionID: cs.APISessionID, IdentityID: identityID, ServiceID: cs.ServiceID, Type: cs.Permission, TokenHash: cs.TokenHash}
	out, _ := p.pendingQueue.add(domain.TimedSession{At: at, Session: cs}, answered,
		domain.SessionKey(cs.APISessionID, cs.ServiceID, cs.Permission), owner)
	return out
}

// proposeSessions applies one entry of pending sessions, once the entries
// of their API sessions, if those pend, are applied.
func (s *Server) proposeSessions(ctx context.Context, sessions []domain.TimedSession) error {
	for _, ts := range sessions {
		s.pending.waitID(ctx, ts.Session.APISessionID)
	}
	return s.State.Apply(ctx, &domain.CreateSessions{Sessions: sessions})
}

// sessionBeforeApply reports whether a new session may be answered once
// queued (see above), and when it may, reserves its place.
func (s *Server) sessionBeforeApply(r *http.Request) bool {
	if s.Node == nil || cluster.HasIdempotencyKey(r.Context()) {
		return false
	}
	if addr, _ := s.Node.Leader(); addr == "" {
		return false
	}
	return s.sessions.tryReserve()
}
