package domain

import (
	"errors"
	"fmt"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// ErrSelfDisable means an administrator asked to disable its own identity.
var ErrSelfDisable = fmt.Errorf("an admin cannot disable itself: %w", store.ErrConflict)

// DisableIdentity disables an identity and ends its API sessions (and with
// them its sessions, whose circuits routers close) in one entry, so no
// request of the identity can slip in between the two. An identity does not
// disable itself (ErrSelfDisable).
type DisableIdentity struct {
	IdentityID string `json:"identityId"`
	// By is the identity asking, when an identity asks.
	By string `json:"by,omitempty"`
	// For is how long the identity stays disabled; zero means until an
	// administrator enables it again.
	For time.Duration `json:"for,omitempty"`
}

// Type implements command.Command.
func (c *DisableIdentity) Type() command.Type { return command.TypeDisableIdentity }

// Apply implements command.Command; it returns the ids of the API sessions
// it ended.
func (c *DisableIdentity) Apply(tx *store.Tx) (any, error) {
	if c.For < 0 {
		return nil, &store.FieldError{Kind: store.Identities.Name, Field: "durationMinutes", Reason: "must not be negative", Err: store.ErrInvalid}
	}
	if c.By != "" && c.By == c.IdentityID {
		return nil, ErrSelfDisable
	}
	identity, err := store.Get[*store.Identity](tx, store.Identities, c.IdentityID)
	if err != nil {
		return nil, err
	}
	now := tx.Now()
	identity.Disabled, identity.DisabledAt, identity.DisabledUntil = true, &now, nil
	if c.For > 0 {
		until := now.Add(c.For)
		identity.DisabledUntil = &until
	}
	if _, err := tx.Update(store.Identities, identity); err != nil {
		return nil, fmt.Errorf("disable identity: %w", err)
	}
	return endAPISessions(tx, tx.Referencing(store.APISessions, "identityId", c.IdentityID))
}

// EndAPISessions ends API sessions (logout, an administrator's delete) in one
// entry; their sessions, certificates and posture data go with them. API
// sessions already gone are skipped.
type EndAPISessions struct {
	IDs []string `json:"ids"`
}

// Type implements command.Command.
func (c *EndAPISessions) Type() command.Type { return command.TypeEndAPISessions }

// Apply implements command.Command; it returns the ids it ended.
func (c *EndAPISessions) Apply(tx *store.Tx) (any, error) {
	return endAPISessions(tx, c.IDs)
}

func endAPISessions(tx *store.Tx, ids []string) ([]string, error) {
	ended := []string{}
	for _, id := range ids {
		err := tx.Delete(store.APISessions, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("end API session %s: %w", id, err)
		}
		ended = append(ended, id)
	}
	return ended, nil
}
