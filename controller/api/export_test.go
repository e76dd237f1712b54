package api

import "github.com/ostium-net/ostium/controller/domain"

// BeforeLoginProposals makes f run before each entry of sign-ins answered
// before they were applied is proposed, with the identities signing in.
func BeforeLoginProposals(a *API, f func(identityIDs []string)) {
	a.s.pending.mu.Lock()
	defer a.s.pending.mu.Unlock()
	a.s.pending.beforeApply = func(batch []domain.TimedLogin) {
		ids := make([]string, len(batch))
		for i, l := range batch {
			ids[i] = l.Login.APISession.IdentityID
		}
		f(ids)
	}
}

// BeforeSessionProposals makes f run before each entry of sessions answered
// before they were applied is proposed, with the ids of those sessions.
func BeforeSessionProposals(a *API, f func(sessionIDs []string)) {
	a.s.sessions.mu.Lock()
	defer a.s.sessions.mu.Unlock()
	a.s.sessions.beforeApply = func(batch []domain.TimedSession) {
		ids := make([]string, len(batch))
		for i, s := range batch {
			ids[i] = s.Session.ID
		}
		f(ids)
	}
}
