package command

import (
	"fmt"

	"github.com/ostium-net/ostium/controller/store"
)

// ErrTOTPReplayed refuses a TOTP code whose time step is not later than the
// last one accepted for the enrollment. It is a conflict, so that it keeps
// its class when a follower forwards the command to the leader.
var ErrTOTPReplayed = fmt.Errorf("the TOTP code was already used: %w", store.ErrConflict)

// AcceptTOTP takes a TOTP code of an MFA enrollment as used. The proposer
// checked the code and lists the time steps it matches (within the accepted
// skew; two steps only when their codes collide). The earliest of them that
// is later than the enrollment's last accepted step becomes the last
// accepted step; when there is none, the code is a replay and the command
// fails with ErrTOTPReplayed. The check runs in the state machine, so that of
// two uses of one code on any nodes of a cluster, only the first succeeds.
type AcceptTOTP struct {
	MFAID string  `json:"mfaId"`
	Steps []int64 `json:"steps"`
}

// Type implements Command.
func (c *AcceptTOTP) Type() Type { return TypeAcceptTOTP }

// Apply implements Command. It returns the step taken.
func (c *AcceptTOTP) Apply(tx *store.Tx) (any, error) {
	if c.MFAID == "" || len(c.Steps) == 0 {
		return nil, fmt.Errorf("accept TOTP: mfa id and steps: %w", store.ErrInvalid)
	}
	m, err := store.Get[*store.MFA](tx, store.MFAs, c.MFAID)
	if err != nil {
		return nil, fmt.Errorf("accept TOTP: %w", err)
	}
	taken := int64(0)
	for _, step := range c.Steps {
		if step > m.LastTOTPStep && (taken == 0 || step < taken) {
			taken = step
		}
	}
	if taken == 0 {
		return nil, ErrTOTPReplayed
	}
	m.LastTOTPStep = taken
	if _, err := tx.Update(store.MFAs, m); err != nil {
		return nil, fmt.Errorf("accept TOTP: %w", err)
	}
	return taken, nil
}
