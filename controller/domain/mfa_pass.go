package domain

import (
	"fmt"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// PassMFA is a passed TOTP challenge in one entry: the code is taken as
// used (command.AcceptTOTP: of two uses of one code on any nodes, only the
// first applies, the second fails with command.ErrTOTPReplayed) and the API
// session's MFA step completes (CompleteMFA) in the same write, so a code
// is never used up without the challenge it passed being recorded, nor the
// other way round. Apply checks that the enrollment is the API session's
// identity's (store.ErrNotFound).
type PassMFA struct {
	TOTP     command.AcceptTOTP `json:"totp"`
	Complete CompleteMFA        `json:"complete"`
}

// Type implements command.Command.
func (c *PassMFA) Type() command.Type { return command.TypePassMFA }

// Apply implements command.Command; it returns the updated *store.APISession.
func (c *PassMFA) Apply(tx *store.Tx) (any, error) {
	m, err := store.Get[*store.MFA](tx, store.MFAs, c.TOTP.MFAID)
	if err != nil {
		return nil, fmt.Errorf("pass MFA: %w", err)
	}
	as, err := store.Get[*store.APISession](tx, store.APISessions, c.Complete.APISessionID)
	if err == nil && as.IdentityID != m.IdentityID {
		return nil, fmt.Errorf("pass MFA: the enrollment is not the API session's identity's: %w", store.ErrNotFound)
	}
	if _, err := c.TOTP.Apply(tx); err != nil {
		return nil, err
	}
	return c.Complete.Apply(tx)
}
