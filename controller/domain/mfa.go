package domain

import (
	"errors"
	"fmt"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// CompleteMFA records a passed MFA challenge of an API session, after the
// proposer checked the code and took it as used (command.AcceptTOTP): the
// session's MFA step is complete as of the entry's time (MFA posture checks
// count from then), the success event is recorded, the identity's failure
// counts from Source and from every address end unless a lock holds, and, for the code that
// confirms a new enrollment, the enrollment is verified. One entry.
type CompleteMFA struct {
	APISessionID string `json:"apiSessionId"`
	EventID      string `json:"eventId"`
	Source       string `json:"source"`
	Reason       string `json:"reason,omitempty"`
	// VerifyEnrollment marks the identity's MFA enrollment verified.
	VerifyEnrollment bool `json:"verifyEnrollment,omitempty"`
}

// Type implements command.Command.
func (c *CompleteMFA) Type() command.Type { return command.TypeCompleteMFA }

// Apply implements command.Command; it returns the updated *store.APISession.
func (c *CompleteMFA) Apply(tx *store.Tx) (any, error) {
	if c.EventID == "" {
		return nil, fmt.Errorf("complete MFA: event id: %w", store.ErrInvalid)
	}
	now := tx.Now()
	as, err := store.Get[*store.APISession](tx, store.APISessions, c.APISessionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrSessionEnded
	}
	if err != nil {
		return nil, err
	}
	identity, err := store.Get[*store.Identity](tx, store.Identities, as.IdentityID)
	if err != nil {
		return nil, fmt.Errorf("complete MFA: %w", err)
	}
	if identity.IsDisabled(now) {
		return nil, ErrIdentityDisabled
	}
	if c.VerifyEnrollment {
		id, ok := tx.Lookup(store.MFAs, "identity", identity.ID)
		if !ok {
			return nil, fmt.Errorf("complete MFA: the enrollment is gone: %w", store.ErrNotFound)
		}
		m, err := store.Get[*store.MFA](tx, store.MFAs, id)
		if err != nil {
			return nil, err
		}
		if !m.IsVerified {
			m.IsVerified = true
			if _, err := tx.Update(store.MFAs, m); err != nil {
				return nil, fmt.Errorf("complete MFA: verify enrollment: %w", err)
			}
		}
	}
	as.IsMFAComplete, as.MFACompletedAt = true, &now
	if _, err := tx.Update(store.APISessions, as); err != nil {
		return nil, fmt.Errorf("complete MFA: %w", err)
	}
	event := &store.AuthEvent{Meta: store.Meta{ID: c.EventID}, IdentityID: identity.ID, EventType: store.AuthEventMFASuccess,
		SourceAddress: c.Source, Reason: c.Reason}
	if err := tx.Create(store.AuthEvents, event); err != nil {
		return nil, fmt.Errorf("complete MFA: record event: %w", err)
	}
	for _, source := range []string{c.Source, store.AllSources} {
		lock, err := lockOf(tx, identity.ID, source)
		if err != nil {
			return nil, err
		}
		if lock != nil && !lock.Locked(now) {
			if err := tx.Delete(store.AuthLocks, lock.ID); err != nil {
				return nil, fmt.Errorf("complete MFA: reset failures: %w", err)
			}
		}
	}
	return as, nil
}
