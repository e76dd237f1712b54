// Package access decides whether an API session may use a service now,
// inside the transaction that acts on the answer: a service policy of the
// session's type (Dial or Bind) grants the service to its identity, and every
// posture check of at least one such policy passes. Settle, a store settle
// hook, revokes before an entry commits the sessions that the entry's
// changes left without such a grant, so a policy, role attribute, service or
// posture change never leaves a session standing that a new request would be
// refused; routers hear of the deletion through the usual push.
package access

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/posture"
	"github.com/ostium-net/ostium/controller/store"
)

// ErrNotGranted means no service policy of the requested type grants the
// service to the identity (or the service does not exist). Callers answer it
// exactly like a service that is not there.
var ErrNotGranted = fmt.Errorf("no service policy grants the service: %w", store.ErrNotFound)

// PostureError means policies grant the service but the posture of the API
// session passes the checks of none of them.
type PostureError struct {
	// Results are the granting policies with their checks evaluated.
	Results []posture.PolicyResult
}

func (e *PostureError) Error() string {
	return "the posture of the API session passes no service policy's checks: " + posture.Describe(posture.Failing(e.Results))
}

// Unwrap makes a PostureError a store.ErrRefused, the class that survives
// forwarding to the leader.
func (e *PostureError) Unwrap() error { return store.ErrRefused }

// Check reports whether the API session may use the service with typ (Dial
// or Bind) at now: nil, ErrNotGranted or a *PostureError.
func Check(tx *store.Tx, as *store.APISession, serviceID, typ string, now time.Time) error {
	if !tx.Exists(store.Services, serviceID) || len(policy.GrantingPolicies(tx, as.IdentityID, serviceID, typ)) == 0 {
		return ErrNotGranted
	}
	if !tx.Any(store.PostureChecks) {
		return nil // without checks every granting policy passes
	}
	if results := posture.EvaluatePolicies(tx, as, serviceID, typ, now); !posture.Allowed(results) {
		return &PostureError{Results: results}
	}
	return nil
}

// Denied reports whether a stored session may no longer stand: its API
// session is gone, or Check refuses it.
func Denied(tx *store.Tx, sess *store.Session, now time.Time) bool {
	as, err := store.Get[*store.APISession](tx, store.APISessions, sess.APISessionID)
	if err != nil {
		return true
	}
	return Check(tx, as, sess.ServiceID, sess.Type, now) != nil
}

// Settle is the store settle hook that revokes, in the transaction of the
// entry that caused it, every session of the identities and API sessions
// the entry touched that no longer passes Check at the entry's time. What
// it looks at: identities whose grants the policy hook noted
// (policy.NoteGrantsChanged), identities bound by policies to a posture
// check that changed, and API sessions whose posture data or MFA state
// changed.
func Settle(tx *store.Tx) error {
	identities := map[string]bool{}
	for _, id := range tx.Noted(policy.NoteGrantsChanged) {
		identities[id] = true
	}
	apiSessions := map[string]bool{}
	for _, c := range tx.Changes() {
		switch c.Kind {
		case store.PostureChecks:
			if c.Old == nil || c.New == nil {
				continue // a new check is bound to no policy yet; a deleted one only relaxes
			}
			for _, pid := range tx.Sources(store.ServicePolicyPostureChecks, c.New.Base().ID) {
				for _, iid := range tx.Targets(store.ServicePolicyIdentities, pid) {
					identities[iid] = true
				}
			}
		case store.PostureDatas:
			if c.New != nil {
				apiSessions[c.New.(*store.PostureData).APISessionID] = true
			}
		case store.APISessions:
			if c.Old != nil && c.New != nil {
				apiSessions[c.New.Base().ID] = true
			}
		}
	}
	if len(identities) == 0 && len(apiSessions) == 0 {
		return nil
	}
	for iid := range identities {
		for _, asID := range tx.Referencing(store.APISessions, "identityId", iid) {
			apiSessions[asID] = true
		}
	}
	var sessionIDs []string
	for asID := range apiSessions {
		sessionIDs = append(sessionIDs, tx.Referencing(store.Sessions, "apiSessionId", asID)...)
	}
	slices.Sort(sessionIDs)
	return revoke(tx, slices.Compact(sessionIDs))
}

// revoke deletes the sessions among ids that are Denied at the entry's time.
func revoke(tx *store.Tx, ids []string) error {
	now := tx.Now()
	for _, id := range ids {
		sess, err := store.Get[*store.Session](tx, store.Sessions, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		if !Denied(tx, sess, now) {
			continue
		}
		if err := tx.Delete(store.Sessions, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("revoke session %s: %w", id, err)
		}
	}
	return nil
}

// DeniedSessions lists the stored sessions that may no longer stand at now:
// those of time-dependent posture checks (MFA timeouts) that lapsed without
// any change to settle. The leader sweeps them with a revocation command.
func DeniedSessions(tx *store.Tx, now time.Time) []string {
	if !tx.Any(store.PostureChecks) {
		return nil // grants alone are settled when they change
	}
	var out []string
	_ = tx.ForEach(store.Sessions, func(r store.Record) error {
		if Denied(tx, r.(*store.Session), now) {
			out = append(out, r.Base().ID)
		}
		return nil
	})
	return out
}
