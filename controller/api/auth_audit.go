package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/filter"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/auth_audit"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// The auth audit: every authentication attempt is recorded as an event, and
// repeated failed password or MFA attempts for one identity from one source
// address lock that pair out (command.RecordAuthFailure). A locked pair's
// attempts are refused before any credential is checked.
//
// Two lockouts guard passwords, and they combine:
//   - The controller's LockoutPolicy locks one identity out from one source
//     address after Threshold wrong passwords or MFA codes from there, for a
//     lock that doubles each time. Other addresses are not affected, and a
//     complete authentication from that address resets its count. It also
//     counts them from every address together: IdentityThreshold of them
//     lock the identity's passwords and MFA codes out from every address
//     (source "*" in /auth-locks), so that guesses spread over many
//     addresses are bounded too. That lock does not refuse certificates or
//     external JWTs, which cannot be guessed; it lapses like the others, and
//     a complete authentication while it does not hold resets its count.
//   - The identity's auth policy (primary.updb.maxAttempts, 0 = unlimited)
//     counts wrong passwords from every address together
//     (command.CountPasswordFailure): the maxAttempts-th in a row disables
//     the identity (disabledAt, disabledUntil) for lockoutDurationMinutes,
//     or until an administrator enables it again when that is 0. A
//     successful password login resets the count. Wrong MFA codes do not
//     count there, and the default admin is never disabled this way.
// One wrong password counts toward both, in one raft entry. An attempt that
// either of them refuses (a lock that holds for the address, or the
// identity disabled) is refused before the password is checked and counts
// toward neither, so a single address spends at most Threshold attempts of the
// policy's maxAttempts per lock, and nobody can guess while the identity is
// disabled. When one failure trips both, the answer reports the disabled
// identity, the wider of the two.
//
// Both answer 401 INVALID_AUTH, with a Retry-After header when the end is
// known, and not 429: the Edge API's contract for a refused authentication
// is 401 INVALID_AUTH, which is what OpenZiti's clients decode and report,
// and a lock or a disabled identity is a refusal of these credentials, not
// a throttled request. The specs' 429 (RATE_LIMITED) stays the generic
// answer for request throttling.

// LockoutPolicy says when repeated authentication failures lock an identity
// out from a source address.
type LockoutPolicy struct {
	// Threshold is the number of failures that places a lock.
	Threshold int
	// BaseLock is how long the first lock lasts; each later one lasts twice
	// as long as the one before.
	BaseLock time.Duration
	// MaxLock caps a lock's length. A counter that saw neither a failure
	// nor a lock for this long starts afresh.
	MaxLock time.Duration
	// IdentityThreshold is the number of failures from any address that
	// locks the identity's passwords and MFA codes out from every address.
	IdentityThreshold int
}

// DefaultLockoutPolicy: 5 failures from one address, or 20 from any, then a
// 1 minute lock that doubles up to 1 hour.
func DefaultLockoutPolicy() LockoutPolicy {
	return LockoutPolicy{Threshold: 5, BaseLock: time.Minute, MaxLock: time.Hour, IdentityThreshold: 20}
}

// withDefaults fills the fields left zero from DefaultLockoutPolicy.
func (p LockoutPolicy) withDefaults() LockoutPolicy {
	d := DefaultLockoutPolicy()
	if p.Threshold <= 0 {
		p.Threshold = d.Threshold
	}
	if p.BaseLock <= 0 {
		p.BaseLock = d.BaseLock
	}
	if p.MaxLock <= 0 {
		p.MaxLock = max(d.MaxLock, p.BaseLock)
	}
	if p.IdentityThreshold <= 0 {
		p.IdentityThreshold = max(d.IdentityThreshold, p.Threshold)
	}
	p.MaxLock = max(p.MaxLock, p.BaseLock)
	return p
}

// Event types of each primary authentication method.
var (
	successEvent = map[string]string{"password": store.AuthEventPasswordSuccess, "cert": store.AuthEventCertSuccess, "ext-jwt": store.AuthEventExtJWTSuccess}
	failureEvent = map[string]string{"password": store.AuthEventPasswordFailure, "cert": store.AuthEventCertFailure, "ext-jwt": store.AuthEventExtJWTFailure}
)

// lockedFor is how long the identity stays locked out from source; zero
// when it is not. With guess (a password or an MFA code, which can be
// guessed), the identity's lock from every address counts too.
func (s *Server) lockedFor(identityID, source string, guess bool) time.Duration {
	var until time.Time
	_ = s.State.View(func(tx *store.Tx) error {
		sources := []string{source}
		if guess {
			sources = append(sources, store.AllSources)
		}
		for _, src := range sources {
			id, ok := tx.Lookup(store.AuthLocks, "identitySource", store.AuthLockKey(identityID, src))
			if !ok {
				continue
			}
			if l, err := store.Get[*store.AuthLock](tx, store.AuthLocks, id); err == nil && l.LockedUntil.After(until) {
				until = l.LockedUntil
			}
		}
		return nil
	})
	if d := time.Until(until); d > 0 {
		return d
	}
	return 0
}

// lockedError is the answer to an attempt while a lock holds.
func lockedError(d time.Duration) *APIError {
	secs := int(math.Ceil(d.Seconds()))
	secs = max(secs, 1)
	return &APIError{Status: http.StatusUnauthorized, Code: CodeInvalidAuth, RetryAfter: secs,
		Message: fmt.Sprintf("the identity is locked for %d seconds after repeated failed authentication attempts", secs)}
}

// refuseLocked records an attempt refused because of a lock and answers it.
func (s *Server) refuseLocked(r *http.Request, identityID, eventType string, d time.Duration) middleware.Responder {
	s.recordFailure(r, identityID, eventType, "locked out", false)
	return fail(lockedError(d))
}

// recordFailure records a failed attempt and, when counted, counts it
// toward the locks. The commands in also are applied in the same raft entry.
// It returns how long the identity is locked out now from the caller's
// address (its lock from every address included), zero when it is not or
// the failure was not counted.
func (s *Server) recordFailure(r *http.Request, identityID, eventType, reason string, counted bool, also ...command.Command) time.Duration {
	p := s.Lockout
	c := &command.RecordAuthFailure{EventID: state.NewID(), EventType: eventType, IdentityID: identityID, Source: clientIP(r),
		Reason: reason, Counted: counted && identityID != ""}
	if c.Counted {
		c.LockID, c.LockEventID = state.NewID(), state.NewID()
		c.Threshold, c.BaseLock, c.MaxLock = int64(p.Threshold), p.BaseLock, p.MaxLock
		c.IdentityThreshold, c.IdentityLockID, c.IdentityLockEventID = int64(p.IdentityThreshold), state.NewID(), state.NewID()
	}
	var entry command.Command = c
	if len(also) > 0 {
		b, err := command.NewBatch(time.Now().UTC(), append([]command.Command{c}, also...)...)
		if err != nil {
			s.Log.Warn("record authentication failure", "identity", identityID, "event", eventType, "err", err)
			return 0
		}
		entry = b
	}
	// The failure is recorded even when the client has gone away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(requestContext(r)), 10*time.Second)
	defer cancel()
	if err := s.State.Apply(ctx, entry); err != nil {
		s.Log.Warn("record authentication failure", "identity", identityID, "event", eventType, "err", err)
		return 0
	}
	if !c.Counted {
		return 0
	}
	return s.lockedFor(identityID, c.Source, true)
}

// failCounted records a counted failure and answers it: with the lock when
// this failure placed one, else with authErr.
func (s *Server) failCounted(r *http.Request, identityID, eventType, reason string, authErr error) middleware.Responder {
	if d := s.recordFailure(r, identityID, eventType, reason, true); d > 0 {
		return fail(lockedError(d))
	}
	return fail(authErr)
}

// failPassword records a wrong password for identity and counts it toward
// both lockouts: the lock of the identity from the caller's address and,
// when the identity's auth policy limits attempts, the disabling of the
// identity. It answers with the disabled identity when this failure
// disabled it, else like failCounted.
func (s *Server) failPassword(r *http.Request, identity *store.Identity, eventType string) middleware.Responder {
	var also []command.Command
	if maxAttempts, lockout := s.passwordAttempts(identity); maxAttempts > 0 {
		also = append(also, &command.CountPasswordFailure{IdentityID: identity.ID, Source: clientIP(r), CounterID: state.NewID(),
			EventID: state.NewID(), MaxAttempts: maxAttempts, LockoutDuration: lockout})
	}
	locked := s.recordFailure(r, identity.ID, eventType, "wrong password", true, also...)
	if len(also) > 0 {
		if rec, err := s.State.Get(store.Identities, identity.ID); err == nil {
			if now := time.Now(); rec.(*store.Identity).IsDisabled(now) {
				return fail(disabledError(rec.(*store.Identity), now))
			}
		}
	}
	if locked > 0 {
		return fail(lockedError(locked))
	}
	return fail(errWrongPassword)
}

// passwordAttempts is how many wrong passwords in a row the identity's auth
// policy allows (0: no limit) and how long it disables the identity then (0:
// until an administrator enables it).
func (s *Server) passwordAttempts(identity *store.Identity) (int64, time.Duration) {
	var maxAttempts, minutes int64
	_ = s.State.View(func(tx *store.Tx) error {
		p, err := store.Get[*store.AuthPolicy](tx, store.AuthPolicies, orDefault(identity.AuthPolicyID, DefaultAuthPolicyID))
		if err != nil {
			return err
		}
		maxAttempts, minutes = p.Primary.MaxAttempts, p.Primary.LockoutDurationMinutes
		return nil
	})
	return max(maxAttempts, 0), time.Duration(max(minutes, 0)) * time.Minute
}

// disabledError is the answer to an attempt of a disabled identity; like a
// lock's, with Retry-After when the end is known.
func disabledError(identity *store.Identity, now time.Time) *APIError {
	if identity.DisabledUntil == nil {
		return &APIError{Status: http.StatusUnauthorized, Code: CodeInvalidAuth,
			Message: "the identity is disabled until an administrator enables it"}
	}
	secs := max(int(math.Ceil(identity.DisabledUntil.Sub(now).Seconds())), 1)
	return &APIError{Status: http.StatusUnauthorized, Code: CodeInvalidAuth, RetryAfter: secs,
		Message: fmt.Sprintf("the identity is disabled for %d more seconds", secs)}
}

// refuseDisabled records an attempt refused because the identity is disabled
// and answers it.
func (s *Server) refuseDisabled(r *http.Request, identity *store.Identity, eventType string) middleware.Responder {
	s.recordFailure(r, identity.ID, eventType, "identity disabled", false)
	return fail(disabledError(identity, time.Now()))
}

// listAuthEvents answers GET /auth-events.
func (s *Server) listAuthEvents(p auth_audit.ListAuthEventsParams, _ any) middleware.Responder {
	return s.auditList(store.AuthEvents, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, "createdAt desc", nil, authEventModel)
}

// listAuthLocks answers GET /auth-locks.
func (s *Server) listAuthLocks(p auth_audit.ListAuthLocksParams, _ any) middleware.Responder {
	now := time.Now()
	return s.auditList(store.AuthLocks, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, "lockedUntil desc",
		func(rec store.Record) bool { return rec.(*store.AuthLock).Locked(now) }, authLockModel)
}

// deleteAuthLock answers DELETE /auth-locks/{id}.
func (s *Server) deleteAuthLock(p auth_audit.DeleteAuthLockParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.AuthLocks, p.ID)
}

// deleteIdentityAuthLocks answers DELETE /identities/{id}/auth-locks.
func (s *Server) deleteIdentityAuthLocks(p auth_audit.DeleteIdentityAuthLocksParams, _ any) middleware.Responder {
	var ids []string
	err := s.State.View(func(tx *store.Tx) error {
		if !tx.Exists(store.Identities, p.ID) {
			return store.ErrNotFound
		}
		ids = tx.Referencing(store.AuthLocks, "identityId", p.ID)
		return nil
	})
	if err != nil {
		return fail(err)
	}
	for _, id := range ids {
		if err := s.State.Delete(requestContext(p.HTTPRequest), store.AuthLocks, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fail(err)
		}
	}
	return okEmpty()
}

// auditList answers a page of auth events or locks: those keep accepts
// (all when nil), filtered with their times compared as times, sorted by
// defaultSort unless the request sorts otherwise.
func (s *Server) auditList(k *store.Kind, lp listParams, defaultSort string, keep func(store.Record) bool, toModel func(store.Record) any) middleware.Responder {
	q, err := filter.FromListParams(str(lp.Filter), str(lp.Sort), lp.Limit, lp.Offset, filter.DefaultLimit, filter.MaxLimit)
	if err != nil {
		return fail(err)
	}
	if schema := listSchemas[k]; schema != nil {
		if err := q.Validate(schema); err != nil {
			return fail(err)
		}
	}
	if len(q.Sort) == 0 {
		if q.Sort, err = filter.ParseSort(defaultSort); err != nil {
			return fail(err)
		}
	}
	data := []any{}
	var page *state.Page
	err = s.State.View(func(tx *store.Tx) error {
		opts := state.ListOptions{Fields: auditFields}
		if keep != nil {
			opts.Only = []string{}
			if err := tx.ForEach(k, func(rec store.Record) error {
				if keep(rec) {
					opts.Only = append(opts.Only, rec.Base().ID)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		var err error
		if page, err = s.State.List(tx, k, q, opts); err != nil {
			return err
		}
		for _, rec := range page.Records {
			data = append(data, toModel(rec))
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return list(data, pagination{Limit: page.Limit, Offset: page.Offset, TotalCount: page.TotalCount})
}

// auditFields are the filterable fields of auth events and locks.
func auditFields(rec store.Record) filter.Fields {
	if a, ok := rec.(*store.AuditEvent); ok {
		return filter.FromMap(auditEventFields(a))
	}
	m := map[string]any{"id": rec.Base().ID, "createdAt": rec.Base().CreatedAt}
	switch r := rec.(type) {
	case *store.AuthEvent:
		m["eventType"], m["sourceAddress"], m["reason"] = r.EventType, r.SourceAddress, r.Reason
		if r.IdentityID != "" { // an attempt naming no identity has none: identityId = null
			m["identityId"] = r.IdentityID
		}
	case *store.AuthLock:
		m["identityId"], m["source"], m["lockedUntil"], m["failures"] = r.IdentityID, r.Source, r.LockedUntil, r.Failures
	}
	return filter.FromMap(m)
}

func authEventModel(rec store.Record) any {
	e := rec.(*store.AuthEvent)
	return &models.AuthEventDetail{ID: ptr(e.ID), CreatedAt: dt(e.CreatedAt), EventType: ptr(models.AuthEventType(e.EventType)),
		IdentityID: e.IdentityID, SourceAddress: ptr(e.SourceAddress), Reason: e.Reason}
}

func authLockModel(rec store.Record) any {
	l := rec.(*store.AuthLock)
	return &models.AuthLockDetail{ID: ptr(l.ID), IdentityID: ptr(l.IdentityID), Source: ptr(l.Source), LockedUntil: dt(l.LockedUntil),
		Failures: ptr(l.Failures), CreatedAt: *dt(l.CreatedAt)}
}
