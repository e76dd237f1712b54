package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// ErrLocked means the identity is locked out from the source address (or,
// for a password, from every address) by repeated failures at the entry's
// time.
var ErrLocked = fmt.Errorf("the identity is locked out: %w", store.ErrUnauthorized)

// Authenticate opens an API session after the proposer checked the
// credential, in one entry with everything a login records: the success
// event, and, for a complete login, the end of the failure count of the
// identity from its address (unless a lock holds), the end of the wrong
// passwords counted against its auth policy (password logins), and the
// client's environment and SDK info on the identity. Apply re-checks what
// may have changed since the credential was checked: the identity exists,
// is enabled, is an administrator when AdminOnly, and no lock holds for it
// from Source.
type Authenticate struct {
	// APISession is the new API session (its id and token hash chosen by
	// the proposer).
	APISession *store.APISession `json:"apiSession"`
	// EventID, EventType and Reason describe the success event.
	EventID   string `json:"eventId"`
	EventType string `json:"eventType"`
	Reason    string `json:"reason,omitempty"`
	// Source is the client's address.
	Source    string `json:"source"`
	AdminOnly bool   `json:"adminOnly,omitempty"`
	// Complete says the login needs no further step (no MFA pending): it
	// forgets earlier failures from Source.
	Complete bool `json:"complete,omitempty"`
	// ResetPasswordFailures forgets the wrong passwords counted against the
	// identity's auth policy (the right one was given).
	ResetPasswordFailures bool `json:"resetPasswordFailures,omitempty"`
	// CheckIdentityLock refuses the login while the identity's lock from
	// every address holds (set for passwords, which can be guessed). A
	// complete login forgets that counter's failures when no lock holds.
	CheckIdentityLock bool `json:"checkIdentityLock,omitempty"`
	// EnvInfo and SDKInfo, when set, replace the identity's.
	EnvInfo map[string]any `json:"envInfo,omitempty"`
	SDKInfo map[string]any `json:"sdkInfo,omitempty"`
}

// Type implements command.Command.
func (c *Authenticate) Type() command.Type { return command.TypeAuthenticate }

// Apply implements command.Command; it returns the stored *store.APISession.
func (c *Authenticate) Apply(tx *store.Tx) (any, error) {
	if c.APISession == nil || c.APISession.ID == "" || c.APISession.TokenHash == "" || c.EventID == "" {
		return nil, fmt.Errorf("authenticate: API session and event ids: %w", store.ErrInvalid)
	}
	now := tx.Now()
	identity, err := store.Get[*store.Identity](tx, store.Identities, c.APISession.IdentityID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("authenticate: the identity is gone: %w", store.ErrUnauthorized)
	}
	if err != nil {
		return nil, err
	}
	if identity.IsDisabled(now) {
		return nil, ErrIdentityDisabled
	}
	if c.AdminOnly && !identity.IsAdmin {
		return nil, fmt.Errorf("authenticate: not an administrator: %w", store.ErrUnauthorized)
	}
	lock, err := lockOf(tx, identity.ID, c.Source)
	if err != nil {
		return nil, err
	}
	if lock != nil && lock.Locked(now) {
		return nil, ErrLocked
	}
	everywhere, err := lockOf(tx, identity.ID, store.AllSources)
	if err != nil {
		return nil, err
	}
	if c.CheckIdentityLock && everywhere != nil && everywhere.Locked(now) {
		return nil, ErrLocked
	}
	as := *c.APISession
	if err := tx.Create(store.APISessions, &as); err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	event := &store.AuthEvent{Meta: store.Meta{ID: c.EventID}, IdentityID: identity.ID, EventType: c.EventType,
		SourceAddress: c.Source, Reason: c.Reason}
	if err := tx.Create(store.AuthEvents, event); err != nil {
		return nil, fmt.Errorf("authenticate: record event: %w", err)
	}
	if c.Complete && lock != nil {
		if err := tx.Delete(store.AuthLocks, lock.ID); err != nil {
			return nil, fmt.Errorf("authenticate: reset failures: %w", err)
		}
	}
	if c.Complete && everywhere != nil && !everywhere.Locked(now) {
		if err := tx.Delete(store.AuthLocks, everywhere.ID); err != nil {
			return nil, fmt.Errorf("authenticate: reset failures: %w", err)
		}
	}
	if c.ResetPasswordFailures {
		if id, ok := tx.Lookup(store.PasswordFailures, "identity", identity.ID); ok {
			if err := tx.Delete(store.PasswordFailures, id); err != nil {
				return nil, fmt.Errorf("authenticate: reset password failures: %w", err)
			}
		}
	}
	if (c.EnvInfo != nil || c.SDKInfo != nil) && (!jsonEqual(identity.EnvInfo, c.EnvInfo) || !jsonEqual(identity.SDKInfo, c.SDKInfo)) {
		identity.EnvInfo, identity.SDKInfo = c.EnvInfo, c.SDKInfo
		if _, err := tx.Update(store.Identities, identity); err != nil {
			return nil, fmt.Errorf("authenticate: record client info: %w", err)
		}
	}
	return &as, nil
}

// lockOf reads the failure counter of an identity from a source; nil when
// there is none.
func lockOf(tx *store.Tx, identityID, source string) (*store.AuthLock, error) {
	id, ok := tx.Lookup(store.AuthLocks, "identitySource", store.AuthLockKey(identityID, source))
	if !ok {
		return nil, nil
	}
	return store.Get[*store.AuthLock](tx, store.AuthLocks, id)
}

func jsonEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// AuthenticateMany opens the API sessions of sign-ins that were answered
// before they were applied (controller/api's pending logins), gathered into
// one entry while the previous one was being committed. Each is applied at
// the time it was answered. A sign-in refused by the state it meets (the
// identity gone, disabled or locked out since its credential was checked) is
// skipped and the others open their sessions; its token then authenticates
// nothing.
type AuthenticateMany struct {
	Logins []TimedLogin `json:"logins"`
}

// TimedLogin is one sign-in of an AuthenticateMany and when it was answered.
type TimedLogin struct {
	At    time.Time     `json:"at"`
	Login *Authenticate `json:"login"`
}

// Type implements command.Command.
func (c *AuthenticateMany) Type() command.Type { return command.TypeAuthenticateMany }

// Apply implements command.Command; it returns the opened API sessions
// ([]any of *store.APISession).
func (c *AuthenticateMany) Apply(tx *store.Tx) (any, error) {
	// Authenticate refuses before it writes anything: a refusal skips this
	// sign-in alone.
	return applyEach(tx, "authenticate many", "sign-in", len(c.Logins),
		func(i int) (time.Time, command.Command) {
			if c.Logins[i].Login == nil {
				return time.Time{}, nil
			}
			return c.Logins[i].At, c.Logins[i].Login
		},
		func(err error) bool { return errors.Is(err, store.ErrUnauthorized) })
}
