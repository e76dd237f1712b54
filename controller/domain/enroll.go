package domain

import (
	"errors"
	"fmt"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// Errors of enrollment. The used and expired enrollment errors are package
// command's, which the API already maps.
var (
	// ErrCANotAllowed means the CA that verified a client's certificate is
	// gone, changed, unverified or no longer allows the enrollment by the
	// time the entry applies.
	ErrCANotAllowed = fmt.Errorf("the CA does not allow this enrollment: %w", store.ErrUnauthorized)
	// ErrAlreadyEnrolled means the identity already has an authenticator of
	// the kind the enrollment creates, and only one is allowed (a username
	// and password).
	ErrAlreadyEnrolled = fmt.Errorf("the identity is already enrolled this way: %w", store.ErrConflict)
)

// Enroll uses a pending enrollment once and records what it enrolls, in one
// entry. Apply checks at the entry's time that the enrollment still exists
// with the token hash and method the proposer verified and has not expired
// (command.ErrEnrollmentUsed, command.ErrEnrollmentExpired): of two requests
// with one token, whichever node serves them, only the first applies. Then,
// by method:
//
//   - ott, ottca: the identity of the enrollment still exists; for ottca its
//     CA still exists with the fingerprint the proposer verified the
//     client's chain against, verified and with OTT-CA enrollment on. No
//     authenticator may hold the new certificate's fingerprint, and the
//     identity's certificate authenticators at the entry's time are
//     replaced by the new one.
//   - updb: the identity still exists and has no username and password yet.
//   - erott: the router still exists; its new certificates are recorded and
//     it is marked verified.
//
// The authenticator and router take their owner from the enrollment, never
// from the proposer. Signing happened before the proposal; the command
// carries its results.
type Enroll struct {
	EnrollmentID string `json:"enrollmentId"`
	TokenHash    string `json:"tokenHash"`
	Method       string `json:"method"`
	// Authenticator is what an identity enrollment creates (ID, and the
	// certificate or the username and password hash).
	Authenticator *store.Authenticator `json:"authenticator,omitempty"`
	// CAFingerprint is, for ottca, the CA the client's chain verified with.
	CAFingerprint string `json:"caFingerprint,omitempty"`
	// Router is what a router enrollment records.
	Router *RouterCerts `json:"router,omitempty"`
}

// RouterCerts are the certificates signed for a router.
type RouterCerts struct {
	Fingerprint       string `json:"fingerprint"`
	CertPEM           string `json:"certPem"`
	ServerFingerprint string `json:"serverFingerprint"`
}

// Type implements command.Command.
func (c *Enroll) Type() command.Type { return command.TypeEnroll }

// Apply implements command.Command; it returns the new *store.Authenticator
// or the enrolled *store.EdgeRouter.
func (c *Enroll) Apply(tx *store.Tx) (any, error) {
	e, err := store.Get[*store.Enrollment](tx, store.Enrollments, c.EnrollmentID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, command.ErrEnrollmentUsed
	}
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	if c.TokenHash == "" || e.TokenHash != c.TokenHash || e.Method != c.Method {
		return nil, command.ErrEnrollmentUsed
	}
	if tx.Now().After(e.ExpiresAt) {
		return nil, command.ErrEnrollmentExpired
	}
	if err := tx.Delete(store.Enrollments, e.ID); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	switch e.Method {
	case store.EnrollmentOTT, store.EnrollmentOTTCA:
		if e.Method == store.EnrollmentOTTCA {
			if err := caAllows(tx, e.CAID, c.CAFingerprint, func(ca *store.CA) bool { return ca.IsOttCaEnrollmentEnabled }); err != nil {
				return nil, err
			}
		}
		return c.enrollIdentity(tx, e, store.AuthenticatorCert)
	case store.EnrollmentUpdb:
		return c.enrollIdentity(tx, e, store.AuthenticatorUpdb)
	case store.EnrollmentERott:
		return c.enrollRouter(tx, e)
	}
	return nil, &store.FieldError{Kind: store.Enrollments.Name, Field: "method", Value: e.Method, Reason: "is not an enrollment method", Err: store.ErrInvalid}
}

func (c *Enroll) enrollIdentity(tx *store.Tx, e *store.Enrollment, method string) (*store.Authenticator, error) {
	if c.Authenticator == nil || c.Authenticator.Method != method {
		return nil, &store.FieldError{Kind: store.Authenticators.Name, Field: "method", Reason: "must be " + method + " for a " + e.Method + " enrollment", Err: store.ErrInvalid}
	}
	if _, err := store.Get[*store.Identity](tx, store.Identities, e.IdentityID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, command.ErrEnrollmentUsed
		}
		return nil, fmt.Errorf("enroll: %w", err)
	}
	if fp := c.Authenticator.Fingerprint; fp != "" {
		// Checked before the identity's own certificates go: a certificate
		// already in use, even by this identity, is refused.
		if _, taken := tx.Lookup(store.Authenticators, "fingerprint", fp); taken {
			return nil, &store.FieldError{Kind: store.Authenticators.Name, Field: "fingerprint", Value: fp, Reason: "is already in use", Err: store.ErrConflict}
		}
	}
	for _, id := range tx.Referencing(store.Authenticators, "identityId", e.IdentityID) {
		a, err := store.Get[*store.Authenticator](tx, store.Authenticators, id)
		if err != nil {
			return nil, fmt.Errorf("enroll: %w", err)
		}
		if a.Method != method {
			continue
		}
		if method == store.AuthenticatorUpdb {
			return nil, ErrAlreadyEnrolled
		}
		// A certificate enrollment replaces the identity's certificates.
		if err := tx.Delete(store.Authenticators, a.ID); err != nil {
			return nil, fmt.Errorf("enroll: revoke authenticator %s: %w", a.ID, err)
		}
	}
	a := *c.Authenticator
	a.IdentityID = e.IdentityID
	if err := tx.Create(store.Authenticators, &a); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	return &a, nil
}

func (c *Enroll) enrollRouter(tx *store.Tx, e *store.Enrollment) (*store.EdgeRouter, error) {
	if c.Router == nil || c.Router.Fingerprint == "" {
		return nil, &store.FieldError{Kind: store.EdgeRouters.Name, Field: "fingerprint", Reason: "is required for a router enrollment", Err: store.ErrInvalid}
	}
	router, err := store.Get[*store.EdgeRouter](tx, store.EdgeRouters, e.EdgeRouterID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, command.ErrEnrollmentUsed
	}
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	router.Fingerprint, router.CertPEM = c.Router.Fingerprint, c.Router.CertPEM
	router.ServerFingerprint, router.IsVerified = c.Router.ServerFingerprint, true
	if _, err := tx.Update(store.EdgeRouters, router); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	return router, nil
}

// caAllows checks that the CA caID still exists with fingerprint, is
// verified and allows what allowed asks.
func caAllows(tx *store.Tx, caID, fingerprint string, allowed func(*store.CA) bool) error {
	ca, err := store.Get[*store.CA](tx, store.CAs, caID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrCANotAllowed
	}
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	if fingerprint == "" || ca.Fingerprint != fingerprint || !ca.IsVerified || !allowed(ca) {
		return ErrCANotAllowed
	}
	return nil
}

// EnrollWithCA creates an identity for a certificate of a CA with
// auto-enrollment on, with the certificate as its authenticator, in one
// entry. Apply checks at the entry's time that the CA still exists with the
// fingerprint the proposer verified the chain against, verified and with
// auto-enrollment on (ErrCANotAllowed), that no authenticator holds the
// certificate's fingerprint and that no identity holds the name (both
// store.ErrConflict on the field). The identity's roles are the CA's at the
// entry's time.
type EnrollWithCA struct {
	CAID          string               `json:"caId"`
	CAFingerprint string               `json:"caFingerprint"`
	IdentityID    string               `json:"identityId"`
	Name          string               `json:"name"`
	Authenticator *store.Authenticator `json:"authenticator"`
}

// Type implements command.Command.
func (c *EnrollWithCA) Type() command.Type { return command.TypeEnrollWithCA }

// Apply implements command.Command; it returns the new *store.Identity.
func (c *EnrollWithCA) Apply(tx *store.Tx) (any, error) {
	if c.Authenticator == nil || c.Authenticator.Method != store.AuthenticatorCert || c.Authenticator.Fingerprint == "" {
		return nil, &store.FieldError{Kind: store.Authenticators.Name, Field: "fingerprint", Reason: "a certificate authenticator is required", Err: store.ErrInvalid}
	}
	if c.Name == "" {
		return nil, &store.FieldError{Kind: store.Identities.Name, Field: "name", Reason: "is required", Err: store.ErrInvalid}
	}
	if err := caAllows(tx, c.CAID, c.CAFingerprint, func(ca *store.CA) bool { return ca.IsAutoCaEnrollmentEnabled }); err != nil {
		return nil, err
	}
	if _, taken := tx.Lookup(store.Authenticators, "fingerprint", c.Authenticator.Fingerprint); taken {
		return nil, &store.FieldError{Kind: store.Authenticators.Name, Field: "fingerprint", Value: c.Authenticator.Fingerprint, Reason: "is already in use", Err: store.ErrConflict}
	}
	if _, taken := tx.Lookup(store.Identities, "name", c.Name); taken {
		return nil, &store.FieldError{Kind: store.Identities.Name, Field: "name", Value: c.Name, Reason: "is already in use", Err: store.ErrConflict}
	}
	ca, err := store.Get[*store.CA](tx, store.CAs, c.CAID)
	if err != nil {
		return nil, fmt.Errorf("enroll with CA: %w", err)
	}
	identity := &store.Identity{Meta: store.Meta{ID: c.IdentityID}, Name: c.Name, Type: store.IdentityTypeDefault,
		RoleAttributes: append([]string(nil), ca.IdentityRoles...)}
	if err := tx.Create(store.Identities, identity); err != nil {
		return nil, fmt.Errorf("enroll with CA: %w", err)
	}
	a := *c.Authenticator
	a.IdentityID = identity.ID
	if err := tx.Create(store.Authenticators, &a); err != nil {
		return nil, fmt.Errorf("enroll with CA: %w", err)
	}
	return identity, nil
}
