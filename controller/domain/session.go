package domain

import (
	"errors"
	"fmt"

	"github.com/ostium-net/ostium/controller/access"
	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// Errors of the user actions. They wrap the store's domain errors, which
// the API maps to the error envelope.
var (
	// ErrSessionEnded means the API session acting is gone (logged out,
	// expired, revoked) by the time the action applies.
	ErrSessionEnded = fmt.Errorf("the API session has ended: %w", store.ErrUnauthorized)
	// ErrIdentityDisabled means the identity acting is disabled at the
	// action's time.
	ErrIdentityDisabled = fmt.Errorf("the identity is disabled: %w", store.ErrUnauthorized)
	// ErrMFAPending means the API session has not completed its MFA step.
	ErrMFAPending = fmt.Errorf("the API session has not completed MFA: %w", store.ErrUnauthorized)
)

// CreateSession gives an API session a Dial or Bind session for a service.
// Apply decides, at the entry's time, what the proposer only previewed: the
// API session still stands and completed MFA, its identity is enabled, a
// policy of the type grants the service and the posture of one such policy
// passes (access.Check). It is idempotent per (API session, service, type):
// when that session exists, Apply returns it and creates nothing.
type CreateSession struct {
	// ID and TokenHash are the new session's, chosen by the proposer.
	ID           string `json:"id"`
	TokenHash    string `json:"tokenHash"`
	APISessionID string `json:"apiSessionId"`
	ServiceID    string `json:"serviceId"`
	// Permission is Dial or Bind.
	Permission string         `json:"type"`
	Tags       map[string]any `json:"tags,omitempty"`
}

// Type implements command.Command.
func (c *CreateSession) Type() command.Type { return command.TypeCreateSession }

// SessionKey is the unique key of a session's (API session, service, type).
func SessionKey(apiSessionID, serviceID, typ string) string {
	return apiSessionID + "|" + serviceID + "|" + typ
}

// Apply implements command.Command; it returns the *store.Session, new or
// the one that existed.
func (c *CreateSession) Apply(tx *store.Tx) (any, error) {
	if c.Permission != store.PolicyDial && c.Permission != store.PolicyBind {
		return nil, &store.FieldError{Kind: store.Sessions.Name, Field: "type", Value: c.Permission, Reason: "must be Dial or Bind", Err: store.ErrInvalid}
	}
	as, err := actingSession(tx, c.APISessionID)
	if err != nil {
		return nil, err
	}
	if err := access.Check(tx, as, c.ServiceID, c.Permission, tx.Now()); err != nil {
		return nil, err
	}
	if id, found := tx.Lookup(store.Sessions, "apiSessionServiceType", SessionKey(c.APISessionID, c.ServiceID, c.Permission)); found {
		return tx.Get(store.Sessions, id)
	}
	sess := &store.Session{Meta: store.Meta{ID: c.ID, Tags: c.Tags}, APISessionID: as.ID, IdentityID: as.IdentityID,
		ServiceID: c.ServiceID, Type: c.Permission, TokenHash: c.TokenHash}
	if err := tx.Create(store.Sessions, sess); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return sess, nil
}

// actingSession reads the API session an action is taken with and checks
// that it may act now: it exists, completed MFA, and its identity is
// enabled. The session returned is shared (store.Peek): not to be changed.
func actingSession(tx *store.Tx, apiSessionID string) (*store.APISession, error) {
	as, err := store.Peek[*store.APISession](tx, store.APISessions, apiSessionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrSessionEnded
	}
	if err != nil {
		return nil, err
	}
	if as.IsMFARequired && !as.IsMFAComplete {
		return nil, ErrMFAPending
	}
	identity, err := store.Peek[*store.Identity](tx, store.Identities, as.IdentityID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrSessionEnded
	}
	if err != nil {
		return nil, err
	}
	if identity.IsDisabled(tx.Now()) {
		return nil, ErrIdentityDisabled
	}
	return as, nil
}
