package domain

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// Errors of certificate renewal and API-session certificates.
var (
	// ErrCertNotAllowed means the API session was authenticated by a
	// certificate, and only sessions that presented none get one.
	ErrCertNotAllowed = fmt.Errorf("API-session certificates are issued only to API sessions authenticated by password or external JWT: %w", store.ErrInvalid)
	// ErrNotPending means the certificate is not the pending extension of
	// the authenticator at the entry's time.
	ErrNotPending = fmt.Errorf("the certificate is not the authenticator's pending extension: %w", store.ErrInvalid)
	// ErrRouterCertChanged means the router's current certificate is no
	// longer the one the request was made with.
	ErrRouterCertChanged = fmt.Errorf("the router's certificate is no longer the one presented: %w", store.ErrUnauthorized)
)

// SessionCertMethods are the authentication methods whose API sessions may
// obtain certificates: those that presented none.
var SessionCertMethods = map[string]bool{"password": true, "ext-jwt": true}

// AddSessionCert records a certificate signed for an API session and lists
// its fingerprint on the session (where routers look), in one entry. Apply
// checks at the entry's time that the API session stands
// (ErrSessionEnded), its identity is enabled (ErrIdentityDisabled), and it
// was authenticated by a method that may obtain certificates
// (ErrCertNotAllowed); the fingerprint is unique (store.ErrConflict).
type AddSessionCert struct {
	Cert *store.APISessionCert `json:"cert"`
}

// Type implements command.Command.
func (c *AddSessionCert) Type() command.Type { return command.TypeAddSessionCert }

// Apply implements command.Command; it returns the new *store.APISessionCert.
func (c *AddSessionCert) Apply(tx *store.Tx) (any, error) {
	if c.Cert == nil || c.Cert.Fingerprint == "" {
		return nil, &store.FieldError{Kind: store.APISessionCerts.Name, Field: "fingerprint", Reason: "is required", Err: store.ErrInvalid}
	}
	as, err := standingSession(tx, c.Cert.APISessionID)
	if err != nil {
		return nil, err
	}
	if !SessionCertMethods[as.AuthMethod] {
		return nil, ErrCertNotAllowed
	}
	cert := *c.Cert
	if err := tx.Create(store.APISessionCerts, &cert); err != nil {
		return nil, fmt.Errorf("add API-session certificate: %w", err)
	}
	as.CertFingerprints = append(as.CertFingerprints, cert.Fingerprint)
	if _, err := tx.Update(store.APISessions, as); err != nil {
		return nil, fmt.Errorf("add API-session certificate: %w", err)
	}
	return &cert, nil
}

// RemoveSessionCert deletes a certificate of an API session and its
// fingerprint from the session, in one entry. A certificate that is gone or
// belongs to another API session is store.ErrNotFound.
type RemoveSessionCert struct {
	APISessionID string `json:"apiSessionId"`
	CertID       string `json:"certId"`
}

// Type implements command.Command.
func (c *RemoveSessionCert) Type() command.Type { return command.TypeRemoveSessionCert }

// Apply implements command.Command.
func (c *RemoveSessionCert) Apply(tx *store.Tx) (any, error) {
	cert, err := store.Get[*store.APISessionCert](tx, store.APISessionCerts, c.CertID)
	if err != nil {
		return nil, err
	}
	if cert.APISessionID != c.APISessionID {
		return nil, fmt.Errorf("API-session certificate %s: %w", c.CertID, store.ErrNotFound)
	}
	as, err := store.Get[*store.APISession](tx, store.APISessions, c.APISessionID)
	if err != nil {
		return nil, err
	}
	if err := tx.Delete(store.APISessionCerts, cert.ID); err != nil {
		return nil, fmt.Errorf("remove API-session certificate: %w", err)
	}
	as.CertFingerprints = slices.DeleteFunc(as.CertFingerprints, func(fp string) bool { return fp == cert.Fingerprint })
	if _, err := tx.Update(store.APISessions, as); err != nil {
		return nil, fmt.Errorf("remove API-session certificate: %w", err)
	}
	return nil, nil
}

// standingSession reads an API session that still exists and whose
// identity is enabled at the entry's time.
func standingSession(tx *store.Tx, id string) (*store.APISession, error) {
	as, err := store.Get[*store.APISession](tx, store.APISessions, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrSessionEnded
	}
	if err != nil {
		return nil, err
	}
	identity, err := store.Get[*store.Identity](tx, store.Identities, as.IdentityID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrSessionEnded
	}
	if err != nil {
		return nil, err
	}
	if identity.IsDisabled(tx.Now()) {
		return nil, ErrIdentityDisabled
	}
	return as, nil
}

// ExtendAuthenticator records a newly signed certificate as the pending
// extension of an identity's certificate authenticator; the current
// certificate keeps working until VerifyExtension. Apply checks at the
// entry's time that the authenticator exists, is a certificate and belongs
// to IdentityID (else store.ErrNotFound), and that no other authenticator
// holds the fingerprint (store.ErrConflict).
type ExtendAuthenticator struct {
	AuthenticatorID string `json:"authenticatorId"`
	IdentityID      string `json:"identityId"`
	Fingerprint     string `json:"fingerprint"`
	CertPEM         string `json:"certPem"`
}

// Type implements command.Command.
func (c *ExtendAuthenticator) Type() command.Type { return command.TypeExtendAuthenticator }

// Apply implements command.Command; it returns the *store.Authenticator.
func (c *ExtendAuthenticator) Apply(tx *store.Tx) (any, error) {
	if c.Fingerprint == "" {
		return nil, &store.FieldError{Kind: store.Authenticators.Name, Field: "fingerprint", Reason: "is required", Err: store.ErrInvalid}
	}
	a, err := ownCertAuthenticator(tx, c.AuthenticatorID, c.IdentityID)
	if err != nil {
		return nil, err
	}
	a.UnverifiedFingerprint, a.UnverifiedCertPEM = c.Fingerprint, c.CertPEM
	if _, err := tx.Update(store.Authenticators, a); err != nil {
		return nil, fmt.Errorf("extend authenticator: %w", err)
	}
	return a, nil
}

// VerifyExtension makes the pending certificate of an identity's
// authenticator current; from then the old one is refused. Apply checks at
// the entry's time that the authenticator is the identity's certificate
// authenticator (store.ErrNotFound) and that Fingerprint is its pending
// extension (ErrNotPending): of two verifications of one extension, the
// second finds nothing pending.
type VerifyExtension struct {
	AuthenticatorID string `json:"authenticatorId"`
	IdentityID      string `json:"identityId"`
	Fingerprint     string `json:"fingerprint"`
}

// Type implements command.Command.
func (c *VerifyExtension) Type() command.Type { return command.TypeVerifyExtension }

// Apply implements command.Command; it returns the *store.Authenticator.
func (c *VerifyExtension) Apply(tx *store.Tx) (any, error) {
	a, err := ownCertAuthenticator(tx, c.AuthenticatorID, c.IdentityID)
	if err != nil {
		return nil, err
	}
	if a.UnverifiedFingerprint == "" || a.UnverifiedFingerprint != c.Fingerprint {
		return nil, ErrNotPending
	}
	a.Fingerprint, a.CertPEM = a.UnverifiedFingerprint, a.UnverifiedCertPEM
	a.UnverifiedFingerprint, a.UnverifiedCertPEM = "", ""
	if _, err := tx.Update(store.Authenticators, a); err != nil {
		return nil, fmt.Errorf("verify extension: %w", err)
	}
	return a, nil
}

func ownCertAuthenticator(tx *store.Tx, id, identityID string) (*store.Authenticator, error) {
	a, err := store.Get[*store.Authenticator](tx, store.Authenticators, id)
	if err != nil {
		return nil, err
	}
	if identityID == "" || a.IdentityID != identityID || a.Method != store.AuthenticatorCert {
		return nil, fmt.Errorf("authenticator %s: %w", id, store.ErrNotFound)
	}
	return a, nil
}

// ExtendRouter replaces a router's certificates with newly signed ones at
// once. Apply checks at the entry's time that the router exists and still
// holds the certificate the request was made with (ErrRouterCertChanged):
// of two extensions with one certificate, the second is refused.
type ExtendRouter struct {
	RouterID           string      `json:"routerId"`
	CurrentFingerprint string      `json:"currentFingerprint"`
	Certs              RouterCerts `json:"certs"`
}

// Type implements command.Command.
func (c *ExtendRouter) Type() command.Type { return command.TypeExtendRouter }

// Apply implements command.Command; it returns the *store.EdgeRouter.
func (c *ExtendRouter) Apply(tx *store.Tx) (any, error) {
	if c.Certs.Fingerprint == "" {
		return nil, &store.FieldError{Kind: store.EdgeRouters.Name, Field: "fingerprint", Reason: "is required", Err: store.ErrInvalid}
	}
	router, err := store.Get[*store.EdgeRouter](tx, store.EdgeRouters, c.RouterID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrRouterCertChanged
	}
	if err != nil {
		return nil, err
	}
	if c.CurrentFingerprint == "" || router.Fingerprint != c.CurrentFingerprint {
		return nil, ErrRouterCertChanged
	}
	router.Fingerprint, router.CertPEM = c.Certs.Fingerprint, c.Certs.CertPEM
	router.ServerFingerprint, router.IsVerified = c.Certs.ServerFingerprint, true
	if _, err := tx.Update(store.EdgeRouters, router); err != nil {
		return nil, fmt.Errorf("extend router: %w", err)
	}
	return router, nil
}
