package domain

import (
	"crypto/subtle"
	"fmt"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// ErrPasswordChanged means the password the proposer checked the current
// password against was replaced before the entry applied.
var ErrPasswordChanged = fmt.Errorf("the password changed meanwhile: %w", store.ErrUnauthorized)

// ChangePassword sets a new username or password on an identity's own
// password authenticator. The proposer checked the current password
// against CheckedHash; Apply checks at the entry's time that the
// authenticator is the identity's (store.ErrNotFound), holds a password
// (store.ErrInvalid) and still has that hash (ErrPasswordChanged): of two
// changes made with one old password, the second is refused. A username
// taken by another authenticator is store.ErrConflict.
type ChangePassword struct {
	AuthenticatorID string `json:"authenticatorId"`
	IdentityID      string `json:"identityId"`
	CheckedHash     string `json:"checkedHash"`
	// Username and PasswordHash are the new values; empty keeps the old.
	Username     string `json:"username,omitempty"`
	PasswordHash string `json:"passwordHash,omitempty"`
}

// Type implements command.Command.
func (c *ChangePassword) Type() command.Type { return command.TypeChangePassword }

// Apply implements command.Command; it returns the *store.Authenticator.
func (c *ChangePassword) Apply(tx *store.Tx) (any, error) {
	a, err := store.Get[*store.Authenticator](tx, store.Authenticators, c.AuthenticatorID)
	if err != nil {
		return nil, err
	}
	if c.IdentityID == "" || a.IdentityID != c.IdentityID {
		return nil, fmt.Errorf("authenticator %s: %w", c.AuthenticatorID, store.ErrNotFound)
	}
	if a.Method != store.AuthenticatorUpdb {
		return nil, &store.FieldError{Kind: store.Authenticators.Name, Field: "method", Value: a.Method, Reason: "only password authenticators can be changed here", Err: store.ErrInvalid}
	}
	if c.CheckedHash == "" || subtle.ConstantTimeCompare([]byte(a.PasswordHash), []byte(c.CheckedHash)) != 1 {
		return nil, ErrPasswordChanged
	}
	if c.Username != "" {
		a.Username = c.Username
	}
	if c.PasswordHash != "" {
		a.PasswordHash = c.PasswordHash
	}
	if _, err := tx.Update(store.Authenticators, a); err != nil {
		return nil, fmt.Errorf("change password: %w", err)
	}
	return a, nil
}
