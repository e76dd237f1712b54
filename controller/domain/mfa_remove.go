package domain

import (
	"fmt"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// ErrMFAVerified means an MFA enrollment removed without a code, as
// unverified, was verified by the time the entry applied: removing it now
// takes a code.
var ErrMFAVerified = fmt.Errorf("the MFA enrollment was verified meanwhile; removing it takes a code: %w", store.ErrInvalid)

// RemoveMFA removes an identity's MFA enrollment. Apply checks at the
// entry's time that the enrollment exists and is the identity's
// (store.ErrNotFound), and, when the proposer let it go without a code as
// unverified (Unverified), that it still is (ErrMFAVerified): an enrollment
// verified in between is not removed without a code.
type RemoveMFA struct {
	IdentityID string `json:"identityId"`
	MFAID      string `json:"mfaId"`
	Unverified bool   `json:"unverified,omitempty"`
}

// Type implements command.Command.
func (c *RemoveMFA) Type() command.Type { return command.TypeRemoveMFA }

// Apply implements command.Command.
func (c *RemoveMFA) Apply(tx *store.Tx) (any, error) {
	m, err := store.Get[*store.MFA](tx, store.MFAs, c.MFAID)
	if err != nil {
		return nil, err
	}
	if c.IdentityID == "" || m.IdentityID != c.IdentityID {
		return nil, fmt.Errorf("MFA enrollment %s: %w", c.MFAID, store.ErrNotFound)
	}
	if c.Unverified && m.IsVerified {
		return nil, ErrMFAVerified
	}
	if err := tx.Delete(store.MFAs, m.ID); err != nil {
		return nil, fmt.Errorf("remove MFA enrollment: %w", err)
	}
	return nil, nil
}
