package domain

import (
	"errors"
	"fmt"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// IssueEnrollment gives an identity a new pending enrollment (ott, ottca or
// updb), in one entry. Apply checks at the entry's time that the identity
// (and for ottca the CA) exists, that no enrollment of the same kind is
// pending for the identity and, for updb, that it has no username and
// password yet (store.ErrConflict on the field "method"). A certificate
// enrollment revokes the identity's certificate authenticators as it is
// issued: the ones there at the entry's time.
type IssueEnrollment struct {
	Enrollment *store.Enrollment `json:"enrollment"`
}

// Type implements command.Command.
func (c *IssueEnrollment) Type() command.Type { return command.TypeIssueEnrollment }

// authenticatorMethodOf is the kind of authenticator an enrollment method creates.
func authenticatorMethodOf(method string) string {
	if method == store.EnrollmentUpdb {
		return store.AuthenticatorUpdb
	}
	return store.AuthenticatorCert
}

// Apply implements command.Command; it returns the new *store.Enrollment.
func (c *IssueEnrollment) Apply(tx *store.Tx) (any, error) {
	e := c.Enrollment
	if e == nil {
		return nil, &store.FieldError{Kind: store.Enrollments.Name, Field: "enrollment", Reason: "is required", Err: store.ErrInvalid}
	}
	switch e.Method {
	case store.EnrollmentOTT, store.EnrollmentOTTCA, store.EnrollmentUpdb:
	default:
		return nil, &store.FieldError{Kind: store.Enrollments.Name, Field: "method", Value: e.Method, Reason: "must be ott, ottca or updb", Err: store.ErrInvalid}
	}
	if e.EdgeRouterID != "" {
		return nil, &store.FieldError{Kind: store.Enrollments.Name, Field: "edgeRouterId", Reason: "an identity's enrollment names no router", Err: store.ErrInvalid}
	}
	if !tx.Exists(store.Identities, e.IdentityID) {
		return nil, &store.FieldError{Kind: store.Enrollments.Name, Field: "identityId", Value: e.IdentityID, Reason: "names no existing identity", Err: store.ErrInvalid}
	}
	if e.Method == store.EnrollmentOTTCA && !tx.Exists(store.CAs, e.CAID) {
		return nil, &store.FieldError{Kind: store.Enrollments.Name, Field: "caId", Value: e.CAID, Reason: "names no existing CA", Err: store.ErrInvalid}
	}
	kind := authenticatorMethodOf(e.Method)
	for _, id := range tx.Referencing(store.Enrollments, "identityId", e.IdentityID) {
		other, err := store.Get[*store.Enrollment](tx, store.Enrollments, id)
		if err != nil {
			return nil, fmt.Errorf("issue enrollment: %w", err)
		}
		if authenticatorMethodOf(other.Method) == kind {
			return nil, &store.FieldError{Kind: store.Enrollments.Name, Field: "method", Value: e.Method,
				Reason: "the identity already has a pending " + other.Method + " enrollment", Err: store.ErrConflict}
		}
	}
	for _, id := range tx.Referencing(store.Authenticators, "identityId", e.IdentityID) {
		a, err := store.Get[*store.Authenticator](tx, store.Authenticators, id)
		if err != nil {
			return nil, fmt.Errorf("issue enrollment: %w", err)
		}
		if a.Method != kind {
			continue
		}
		if kind != store.AuthenticatorCert {
			return nil, &store.FieldError{Kind: store.Enrollments.Name, Field: "method", Value: e.Method,
				Reason: "the identity already has a " + a.Method + " authenticator", Err: store.ErrConflict}
		}
		// Re-enrollment: the old certificate is revoked as the new
		// enrollment is issued.
		if err := tx.Delete(store.Authenticators, a.ID); err != nil {
			return nil, fmt.Errorf("issue enrollment: revoke authenticator %s: %w", a.ID, err)
		}
	}
	if err := tx.Create(store.Enrollments, e); err != nil {
		return nil, fmt.Errorf("issue enrollment: %w", err)
	}
	return e, nil
}

// ReEnrollRouter drops a router's certificate and its pending enrollments
// (those there at the entry's time) and gives it a new erott enrollment, in
// one entry: until the router enrolls again, its old certificate is refused.
type ReEnrollRouter struct {
	RouterID   string            `json:"routerId"`
	Enrollment *store.Enrollment `json:"enrollment"`
}

// Type implements command.Command.
func (c *ReEnrollRouter) Type() command.Type { return command.TypeReEnrollRouter }

// Apply implements command.Command; it returns the new *store.Enrollment.
func (c *ReEnrollRouter) Apply(tx *store.Tx) (any, error) {
	if c.Enrollment == nil || c.Enrollment.Method != store.EnrollmentERott {
		return nil, &store.FieldError{Kind: store.Enrollments.Name, Field: "method", Reason: "a router's enrollment is erott", Err: store.ErrInvalid}
	}
	router, err := store.Get[*store.EdgeRouter](tx, store.EdgeRouters, c.RouterID)
	if err != nil {
		return nil, err
	}
	for _, id := range tx.Referencing(store.Enrollments, "edgeRouterId", router.ID) {
		if err := tx.Delete(store.Enrollments, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("re-enroll router: %w", err)
		}
	}
	router.Fingerprint, router.CertPEM, router.ServerFingerprint, router.IsVerified = "", "", "", false
	if _, err := tx.Update(store.EdgeRouters, router); err != nil {
		return nil, fmt.Errorf("re-enroll router: %w", err)
	}
	e := *c.Enrollment
	e.EdgeRouterID, e.IdentityID = router.ID, ""
	if err := tx.Create(store.Enrollments, &e); err != nil {
		return nil, fmt.Errorf("re-enroll router: %w", err)
	}
	return &e, nil
}
