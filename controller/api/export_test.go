package api

import "github.com/ostium-net/ostium/controller/domain"

// BeforeLoginProposals makes f run before each entry of sign-ins answered
// before they were applied is proposed, with the identities signing in.
func BeforeLoginProposals(a *API, f func(identityIDs []string)) {
	beforeProposals(a.s.pending.pendingQueue, func(l domain.TimedLogin) string { return l.Login.APISession.IdentityID }, f)
}

// BeforeSessionProposals makes f run before each entry of sessions answered
// before they were applied is proposed, with the ids of those sessions.
func BeforeSessionProposals(a *API, f func(sessionIDs []string)) {
	beforeProposals(a.s.sessions.pendingQueue, func(s domain.TimedSession) string { return s.Session.ID }, f)
}

// beforeProposals makes f run before q proposes an entry, with name of
// each write in it.
func beforeProposals[W, V any](q *pendingQueue[W, V], name func(W) string, f func([]string)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.beforeApply = func(batch []W) {
		names := make([]string, len(batch))
		for i, w := range batch {
			names[i] = name(w)
		}
		f(names)
	}
}
