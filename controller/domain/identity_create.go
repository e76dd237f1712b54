package domain

import (
	"fmt"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// CreateIdentity creates an identity together with its first enrollment,
// in one entry: both or neither. Apply checks at the entry's time that the
// name is free (store.ErrConflict on "name", whatever the proposer saw) and
// that at most one enrollment comes with it, for this identity, of an
// identity's method; the enrollment's CA and the identity's auth policy
// must exist (store.ErrInvalidReference).
type CreateIdentity struct {
	Identity    *store.Identity     `json:"identity"`
	Enrollments []*store.Enrollment `json:"enrollments,omitempty"`
}

// Type implements command.Command.
func (c *CreateIdentity) Type() command.Type { return command.TypeCreateIdentity }

// Apply implements command.Command; it returns the new *store.Identity.
func (c *CreateIdentity) Apply(tx *store.Tx) (any, error) {
	i := c.Identity
	if i == nil || i.Name == "" {
		return nil, &store.FieldError{Kind: store.Identities.Name, Field: "name", Reason: "is required", Err: store.ErrInvalid}
	}
	if _, taken := tx.Lookup(store.Identities, "name", i.Name); taken {
		return nil, &store.FieldError{Kind: store.Identities.Name, Field: "name", Value: i.Name, Reason: "is already in use", Err: store.ErrConflict}
	}
	if len(c.Enrollments) > 1 {
		return nil, &store.FieldError{Kind: store.Identities.Name, Field: "enrollment", Reason: "name at most one of ott, ottca and updb", Err: store.ErrInvalid}
	}
	if err := tx.Create(store.Identities, i); err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	for _, e := range c.Enrollments {
		switch e.Method {
		case store.EnrollmentOTT, store.EnrollmentOTTCA, store.EnrollmentUpdb:
		default:
			return nil, &store.FieldError{Kind: store.Enrollments.Name, Field: "method", Value: e.Method, Reason: "must be ott, ottca or updb", Err: store.ErrInvalid}
		}
		en := *e
		en.IdentityID, en.EdgeRouterID = i.ID, ""
		if err := tx.Create(store.Enrollments, &en); err != nil {
			return nil, fmt.Errorf("create identity: enrollment: %w", err)
		}
	}
	return i, nil
}
