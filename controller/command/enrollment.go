package command

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

// Errors of ConsumeEnrollment. They wrap store error classes so that the
// class survives forwarding to the leader; IsEnrollmentUsed and
// IsEnrollmentExpired recognise them on either side.
var (
	// ErrEnrollmentUsed means the enrollment no longer exists (used,
	// deleted, or re-issued with another token) or is not of the method the
	// proposer checked.
	ErrEnrollmentUsed = fmt.Errorf("enrollment token already used or revoked: %w", store.ErrNotFound)
	// ErrEnrollmentExpired means the enrollment expired before the command's time.
	ErrEnrollmentExpired = fmt.Errorf("enrollment token expired: %w", store.ErrInvalid)
)

// IsEnrollmentUsed reports whether err is ErrEnrollmentUsed, locally or as
// forwarded from the leader.
func IsEnrollmentUsed(err error) bool {
	return errors.Is(err, ErrEnrollmentUsed) ||
		(errors.Is(err, store.ErrNotFound) && strings.Contains(err.Error(), ErrEnrollmentUsed.Error()))
}

// IsEnrollmentExpired reports whether err is ErrEnrollmentExpired, locally or
// as forwarded from the leader.
func IsEnrollmentExpired(err error) bool {
	return errors.Is(err, ErrEnrollmentExpired) ||
		(errors.Is(err, store.ErrInvalid) && strings.Contains(err.Error(), ErrEnrollmentExpired.Error()))
}

// ConsumeEnrollment uses a pending enrollment once. In one transaction it
// checks that the enrollment still exists with the token hash and method the
// proposer verified, and that it has not expired at the command's time (the
// proposer's clock, so every node decides alike); it deletes the enrollment
// and applies the enrollment's effects: the authenticator it creates, the
// router certificate it records, the older authenticator it revokes. Since
// raft orders all commands, of two nodes accepting the same token only the
// first command succeeds; the second fails with ErrEnrollmentUsed.
//
// Everything non-deterministic (signing the certificate) happens before the
// command is proposed; the effects carry its results.
//
// The API now proposes domain.Enroll, which also re-checks the identity,
// router and CA; this type stays so that entries already in a log apply.
type ConsumeEnrollment struct {
	EnrollmentID string `json:"enrollmentId"`
	TokenHash    string `json:"tokenHash"`
	Method       string `json:"method"`
	// Effects are encoded commands (see Encode), applied in order after the
	// enrollment is deleted. Any failure undoes the whole command.
	Effects [][]byte `json:"effects,omitempty"`
}

// NewConsumeEnrollment builds the command that uses enrollment e and then
// applies effects.
func NewConsumeEnrollment(e *store.Enrollment, at time.Time, effects ...Command) (*ConsumeEnrollment, error) {
	c := &ConsumeEnrollment{EnrollmentID: e.ID, TokenHash: e.TokenHash, Method: e.Method}
	for _, eff := range effects {
		if _, nested := eff.(*ConsumeEnrollment); nested {
			return nil, errors.New("an enrollment's effects cannot consume another enrollment")
		}
		raw, err := Encode(eff, at)
		if err != nil {
			return nil, err
		}
		c.Effects = append(c.Effects, raw)
	}
	return c, nil
}

// Type implements Command.
func (c *ConsumeEnrollment) Type() Type { return TypeConsumeEnrollment }

// Apply implements Command; it returns the results of the effects.
func (c *ConsumeEnrollment) Apply(tx *store.Tx) (any, error) {
	e, err := store.Get[*store.Enrollment](tx, store.Enrollments, c.EnrollmentID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrEnrollmentUsed
	}
	if err != nil {
		return nil, fmt.Errorf("consume enrollment: %w", err)
	}
	if c.TokenHash == "" || e.TokenHash != c.TokenHash || e.Method != c.Method {
		return nil, ErrEnrollmentUsed
	}
	if tx.Now().After(e.ExpiresAt) {
		return nil, ErrEnrollmentExpired
	}
	if err := tx.Delete(store.Enrollments, e.ID); err != nil {
		return nil, fmt.Errorf("consume enrollment: %w", err)
	}
	out := make([]any, 0, len(c.Effects))
	for i, raw := range c.Effects {
		eff, _, err := Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("enrollment effect %d: %w", i, err)
		}
		if _, nested := eff.(*ConsumeEnrollment); nested {
			return nil, fmt.Errorf("enrollment effect %d consumes another enrollment: %w", i, store.ErrInvalid)
		}
		v, err := eff.Apply(tx)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
