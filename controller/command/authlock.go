package command

import (
	"fmt"
	"slices"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

// failureEventTypes are the event types RecordAuthFailure accepts.
var failureEventTypes = []string{
	store.AuthEventPasswordFailure, store.AuthEventCertFailure, store.AuthEventExtJWTFailure, store.AuthEventMFAFailure,
}

// RecordAuthFailure records one failed authentication: it stores the failure
// event and, when the attempt named an identity and Counted is set, counts
// it against the identity and source address in one transaction, so that
// concurrent failures on any node are all counted. Reaching Threshold
// failures locks the pair out for BaseLock, doubled for every earlier lock
// since the counter was last reset, but never longer than MaxLock; the lock
// is recorded as an event of type "locked" too. A counter that saw neither
// a failure nor a lock for longer than MaxLock starts afresh. Failures while a lock holds are recorded but
// not counted: they cannot lengthen it.
//
// With IdentityThreshold set, the failure also counts against the identity
// from every address (a counter whose Source is store.AllSources), with the
// same rules: IdentityThreshold failures from anywhere lock the identity out
// from everywhere, so that guessing spread over many addresses is bounded
// too.
//
// The proposer chooses the ids and the thresholds; the time is the
// command's, so every node computes the same lock.
type RecordAuthFailure struct {
	EventID    string `json:"eventId"`
	EventType  string `json:"eventType"`
	IdentityID string `json:"identityId,omitempty"`
	Source     string `json:"source"`
	Reason     string `json:"reason,omitempty"`
	// Counted says whether the failure counts toward a lock.
	Counted bool `json:"counted,omitempty"`
	// LockID is the id given to the pair's counter when it does not exist yet.
	LockID string `json:"lockId,omitempty"`
	// LockEventID is the id of the "locked" event, should this failure place a lock.
	LockEventID string        `json:"lockEventId,omitempty"`
	Threshold   int64         `json:"threshold,omitempty"`
	BaseLock    time.Duration `json:"baseLock,omitempty"`
	MaxLock     time.Duration `json:"maxLock,omitempty"`
	// IdentityThreshold, IdentityLockID and IdentityLockEventID are those of
	// the identity's counter from every address (0: not counted).
	IdentityThreshold   int64  `json:"identityThreshold,omitempty"`
	IdentityLockID      string `json:"identityLockId,omitempty"`
	IdentityLockEventID string `json:"identityLockEventId,omitempty"`
}

// Type implements Command.
func (c *RecordAuthFailure) Type() Type { return TypeRecordAuthFailure }

// Apply implements Command. It returns the pair's *store.AuthLock after the
// failure, or nil when the failure was not counted.
func (c *RecordAuthFailure) Apply(tx *store.Tx) (any, error) {
	if c.EventID == "" {
		return nil, fmt.Errorf("record auth failure: event id: %w", store.ErrInvalid)
	}
	if !slices.Contains(failureEventTypes, c.EventType) {
		return nil, fmt.Errorf("record auth failure: event type %q: %w", c.EventType, store.ErrInvalid)
	}
	now := tx.Now()
	event := &store.AuthEvent{Meta: store.Meta{ID: c.EventID}, IdentityID: c.IdentityID, EventType: c.EventType,
		SourceAddress: c.Source, Reason: c.Reason}
	if err := tx.Create(store.AuthEvents, event); err != nil {
		return nil, fmt.Errorf("record auth failure: %w", err)
	}
	if !c.Counted || c.IdentityID == "" || c.Threshold <= 0 || c.BaseLock <= 0 {
		return nil, nil
	}
	if c.LockID == "" || c.LockEventID == "" {
		return nil, fmt.Errorf("record auth failure: lock ids: %w", store.ErrInvalid)
	}
	maxLock := max(c.MaxLock, c.BaseLock)
	lock, counted, err := countFailure(tx, c.IdentityID, c.Source, c.LockID, c.LockEventID, c.Threshold, c.BaseLock, maxLock, now)
	if err != nil || !counted {
		return lock, err
	}
	if c.IdentityThreshold > 0 && c.Source != store.AllSources {
		if c.IdentityLockID == "" || c.IdentityLockEventID == "" {
			return nil, fmt.Errorf("record auth failure: identity lock ids: %w", store.ErrInvalid)
		}
		if _, _, err := countFailure(tx, c.IdentityID, store.AllSources, c.IdentityLockID, c.IdentityLockEventID, c.IdentityThreshold, c.BaseLock, maxLock, now); err != nil {
			return nil, err
		}
	}
	return lock, nil
}

// countFailure counts one failure of an identity from a source and places a
// lock when it reaches threshold. A lock that holds already is returned as
// it is, with counted false.
func countFailure(tx *store.Tx, identityID, source, lockID, lockEventID string, threshold int64, baseLock, maxLock time.Duration, now time.Time) (*store.AuthLock, bool, error) {
	lock := &store.AuthLock{Meta: store.Meta{ID: lockID}, IdentityID: identityID, Source: source}
	exists := false
	if id, ok := tx.Lookup(store.AuthLocks, "identitySource", store.AuthLockKey(identityID, source)); ok {
		cur, err := store.Get[*store.AuthLock](tx, store.AuthLocks, id)
		if err != nil {
			return nil, false, fmt.Errorf("record auth failure: %w", err)
		}
		lock, exists = cur, true
	}
	if lock.Locked(now) {
		return lock, false, nil
	}
	if quietSince := laterOf(lock.LastFailureAt, lock.LockedUntil); !quietSince.IsZero() && now.Sub(quietSince) > maxLock {
		lock.Failures, lock.LockCount = 0, 0
	}
	if !lock.LockedUntil.IsZero() {
		// The last lock lapsed: a new round of attempts begins.
		lock.Failures, lock.LockedUntil = 0, time.Time{}
	}
	lock.Failures++
	lock.LastFailureAt = now
	if lock.Failures >= threshold {
		d := LockDuration(baseLock, maxLock, lock.LockCount)
		lock.LockedUntil = now.Add(d)
		lock.LockCount++
		reason := fmt.Sprintf("%d failed attempts: locked for %s", lock.Failures, d)
		if source == store.AllSources {
			reason = fmt.Sprintf("%d failed attempts from any address: locked out from every address for %s", lock.Failures, d)
		}
		locked := &store.AuthEvent{Meta: store.Meta{ID: lockEventID}, IdentityID: identityID, EventType: store.AuthEventLocked,
			SourceAddress: source, Reason: reason}
		if err := tx.Create(store.AuthEvents, locked); err != nil {
			return nil, false, fmt.Errorf("record auth lock: %w", err)
		}
	}
	var err error
	if exists {
		_, err = tx.Update(store.AuthLocks, lock)
	} else {
		err = tx.Create(store.AuthLocks, lock)
	}
	if err != nil {
		return nil, false, fmt.Errorf("record auth failure: %w", err)
	}
	return lock, true, nil
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// LockDuration is how long the lock placed after earlier locks lasts: base
// doubled earlier times, at most maxLock.
func LockDuration(base, maxLock time.Duration, earlier int64) time.Duration {
	d := base
	for i := int64(0); i < earlier && d < maxLock; i++ {
		if d > maxLock/2 {
			return maxLock
		}
		d *= 2
	}
	return min(d, maxLock)
}
