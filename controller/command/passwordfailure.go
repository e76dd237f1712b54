package command

import (
	"errors"
	"fmt"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

// CountPasswordFailure counts a wrong password against the maxAttempts of
// the identity's auth policy (primary.updb): failures from every source add
// up, and the MaxAttempts-th one in a row disables the identity for
// LockoutDuration, or until an administrator enables it again when that is
// zero. Disabling ends the identity's API sessions (and with them its
// sessions), removes the counter, so that a new round starts once the
// identity is enabled again, and is recorded as an event of type "locked".
// A failure while the identity is disabled is not counted, and the default
// administrator is never disabled: nobody could enable it again.
//
// The proposer chooses the ids and takes MaxAttempts and LockoutDuration
// from the auth policy; the time is the command's, so every node disables
// the identity identically. It is applied in one batch with the
// RecordAuthFailure of the same attempt, which keeps counting the attempts
// per source address for the controller's own lockout.
type CountPasswordFailure struct {
	IdentityID string `json:"identityId"`
	Source     string `json:"source"`
	// CounterID is the id given to the identity's counter when it does not exist yet.
	CounterID string `json:"counterId"`
	// EventID is the id of the "locked" event, should this failure disable the identity.
	EventID         string        `json:"eventId"`
	MaxAttempts     int64         `json:"maxAttempts"`
	LockoutDuration time.Duration `json:"lockoutDuration,omitempty"`
}

// Type implements Command.
func (c *CountPasswordFailure) Type() Type { return TypeCountPasswordFailure }

// Apply implements Command. It returns the identity's counter after the
// failure, or nil when the failure was not counted or the identity is
// disabled now.
func (c *CountPasswordFailure) Apply(tx *store.Tx) (any, error) {
	if c.IdentityID == "" || c.CounterID == "" || c.EventID == "" {
		return nil, fmt.Errorf("count password failure: ids: %w", store.ErrInvalid)
	}
	if c.MaxAttempts <= 0 || c.LockoutDuration < 0 {
		return nil, nil // unlimited attempts
	}
	identity, err := store.Get[*store.Identity](tx, store.Identities, c.IdentityID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // deleted since the attempt
	}
	if err != nil {
		return nil, fmt.Errorf("count password failure: %w", err)
	}
	now := tx.Now()
	if identity.IsDisabled(now) || identity.IsDefaultAdmin {
		return nil, nil
	}
	counter := &store.PasswordFailureCount{Meta: store.Meta{ID: c.CounterID}, IdentityID: c.IdentityID}
	exists := false
	if id, ok := tx.Lookup(store.PasswordFailures, "identity", c.IdentityID); ok {
		if counter, err = store.Get[*store.PasswordFailureCount](tx, store.PasswordFailures, id); err != nil {
			return nil, fmt.Errorf("count password failure: %w", err)
		}
		exists = true
	}
	counter.Failures++
	counter.LastFailureAt = now
	if counter.Failures < c.MaxAttempts {
		if exists {
			_, err = tx.Update(store.PasswordFailures, counter)
		} else {
			err = tx.Create(store.PasswordFailures, counter)
		}
		if err != nil {
			return nil, fmt.Errorf("count password failure: %w", err)
		}
		return counter, nil
	}
	if err := c.disable(tx, identity, counter.Failures, now); err != nil {
		return nil, err
	}
	if exists {
		if err := tx.Delete(store.PasswordFailures, counter.ID); err != nil {
			return nil, fmt.Errorf("count password failure: %w", err)
		}
	}
	return nil, nil
}

// disable disables the identity after failures wrong passwords in a row and
// ends its API sessions.
func (c *CountPasswordFailure) disable(tx *store.Tx, identity *store.Identity, failures int64, now time.Time) error {
	identity.Disabled, identity.DisabledAt, identity.DisabledUntil = true, &now, nil
	how := "until an administrator enables it"
	if c.LockoutDuration > 0 {
		until := now.Add(c.LockoutDuration)
		identity.DisabledUntil = &until
		how = "for " + c.LockoutDuration.String()
	}
	if _, err := tx.Update(store.Identities, identity); err != nil {
		return fmt.Errorf("disable identity %s: %w", identity.ID, err)
	}
	for _, id := range tx.Referencing(store.APISessions, "identityId", identity.ID) {
		if err := tx.Delete(store.APISessions, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("disable identity %s: end API session: %w", identity.ID, err)
		}
	}
	event := &store.AuthEvent{Meta: store.Meta{ID: c.EventID}, IdentityID: identity.ID, EventType: store.AuthEventLocked,
		SourceAddress: c.Source, Reason: fmt.Sprintf("%d failed password logins in a row: disabled by the auth policy %s", failures, how)}
	if err := tx.Create(store.AuthEvents, event); err != nil {
		return fmt.Errorf("record identity disabled: %w", err)
	}
	return nil
}
