package api

import (
	"net/http"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/authenticator"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// Bounds of updb credentials, as in the spec.
const (
	minUsernameLength = 4
	maxUsernameLength = 100
	minPasswordLength = 5
	maxPasswordLength = 100
)

// listAuthenticators answers GET /authenticators.
func (s *Server) listAuthenticators(p authenticator.ListAuthenticatorsParams, _ any) middleware.Responder {
	return s.listOf(store.Authenticators, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.authenticatorModel)
}

// detailAuthenticator answers GET /authenticators/{id}.
func (s *Server) detailAuthenticator(p authenticator.DetailAuthenticatorParams, _ any) middleware.Responder {
	return s.detailOf(store.Authenticators, p.ID, s.authenticatorModel)
}

// handleCreateAuthenticator answers POST /authenticators.
func (s *Server) handleCreateAuthenticator(p authenticator.CreateAuthenticatorParams, _ any) middleware.Responder {
	return s.createAuthenticator(p.HTTPRequest, p.Authenticator)
}

// updateAuthenticator answers PUT /authenticators/{id}.
func (s *Server) updateAuthenticator(p authenticator.UpdateAuthenticatorParams, _ any) middleware.Responder {
	b := p.Authenticator
	username, password := "", ""
	if b.Username != nil {
		username = string(*b.Username)
	}
	if b.Password != nil {
		password = string(*b.Password)
	}
	return s.updateUpdb(p.HTTPRequest, p.ID, &username, &password, b.Tags, true)
}

// patchAuthenticator answers PATCH /authenticators/{id}.
func (s *Server) patchAuthenticator(p authenticator.PatchAuthenticatorParams, _ any) middleware.Responder {
	b := p.Authenticator
	var username, password *string
	if b.Username != nil {
		username = ptr(string(*b.Username))
	}
	if b.Password != nil {
		password = ptr(string(*b.Password))
	}
	return s.updateUpdb(p.HTTPRequest, p.ID, username, password, b.Tags, false)
}

// deleteAuthenticator answers DELETE /authenticators/{id}.
func (s *Server) deleteAuthenticator(p authenticator.DeleteAuthenticatorParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.Authenticators, p.ID)
}

func checkUsername(field, username string) error {
	if n := len(username); n < minUsernameLength || n > maxUsernameLength {
		return validationError(field, "must be 4 to 100 characters", username)
	}
	return nil
}

// checkPassword never echoes the password.
func checkPassword(field, password string) error {
	if n := len(password); n < minPasswordLength || n > maxPasswordLength {
		return validationError(field, "must be 5 to 100 characters", nil)
	}
	return nil
}

// parseNetworkCert parses a PEM client certificate (leaf first) and checks
// that this network's CA issued it. It returns the leaf's fingerprint and PEM.
func (s *Server) parseNetworkCert(field, certPEM string) (fingerprint, leafPEM string, err error) {
	chain, err := pki.ParseCertificatesPEM([]byte(certPEM))
	if err != nil {
		return "", "", validationError(field, "must hold a PEM certificate: "+err.Error(), nil)
	}
	if s.CA == nil {
		return "", "", validationError(field, "this controller has no CA to verify certificates with", nil)
	}
	if err := s.CA.VerifyClientCert(chain); err != nil {
		return "", "", validationError(field, "the certificate is not a valid client certificate of this network: "+err.Error(), nil)
	}
	leaf := chain[0]
	return pki.Fingerprint(leaf.Raw), string(pki.EncodeCertificatesPEM(leaf)), nil
}

func (s *Server) createAuthenticator(r *http.Request, b *models.AuthenticatorCreate) middleware.Responder {
	a := &store.Authenticator{Meta: store.Meta{ID: state.NewID(), Tags: tagsIn(b.Tags)}, IdentityID: str(b.IdentityID), Method: str(b.Method)}
	switch a.Method {
	case store.AuthenticatorUpdb:
		if b.CertPem != "" {
			return fail(validationError("certPem", "an updb authenticator takes no certificate", nil))
		}
		if err := checkUsername("username", b.Username); err != nil {
			return fail(err)
		}
		if err := checkPassword("password", string(b.Password)); err != nil {
			return fail(err)
		}
		a.Username = b.Username
	case store.AuthenticatorCert:
		if b.Username != "" || b.Password != "" {
			return fail(validationError("username", "a cert authenticator takes no username or password", nil))
		}
		if b.CertPem == "" {
			return fail(validationError("certPem", "is required for a cert authenticator", nil))
		}
		fingerprint, leafPEM, err := s.parseNetworkCert("certPem", b.CertPem)
		if err != nil {
			return fail(err)
		}
		a.Fingerprint, a.CertPEM = fingerprint, leafPEM
	default:
		return fail(validationError("method", "must be cert or updb", a.Method))
	}
	err := s.State.View(func(tx *store.Tx) error {
		if !tx.Exists(store.Identities, a.IdentityID) {
			return validationError("identityId", "names no existing identity", a.IdentityID)
		}
		for _, id := range tx.Referencing(store.Authenticators, "identityId", a.IdentityID) {
			other, err := store.Get[*store.Authenticator](tx, store.Authenticators, id)
			if err == nil && other.Method == a.Method {
				return &APIError{Status: 409, Code: CodeConflict, Message: "the identity already has a " + a.Method + " authenticator",
					Cause: &FieldCause{Field: "method", Reason: "only one authenticator per method", Value: a.Method}}
			}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if a.Method == store.AuthenticatorUpdb {
		hash, err := s.hashPassword(r, string(b.Password))
		if err != nil {
			return fail(err)
		}
		a.PasswordHash = hash
	}
	return s.createOf(r, store.Authenticators, a)
}

// updateUpdb changes the username and password of an updb authenticator.
// With replace (PUT) both are required and tags are replaced; otherwise
// (PATCH) only what is given changes.
func (s *Server) updateUpdb(r *http.Request, id string, username, password *string, tags models.Tags, replace bool) middleware.Responder {
	if username != nil {
		if err := checkUsername("username", *username); err != nil {
			return fail(err)
		}
	}
	hash := ""
	if password != nil {
		if err := checkPassword("password", *password); err != nil {
			return fail(err)
		}
		rec, err := s.State.Get(store.Authenticators, id)
		if err != nil {
			return fail(err)
		}
		if rec.(*store.Authenticator).Method != store.AuthenticatorUpdb {
			return fail(validationError("method", "only updb authenticators have a username and password", rec.(*store.Authenticator).Method))
		}
		if hash, err = s.hashPassword(r, *password); err != nil {
			return fail(err)
		}
	}
	return s.updateOf(r, store.Authenticators, id, func(rec store.Record) error {
		a := rec.(*store.Authenticator)
		if (username != nil || password != nil) && a.Method != store.AuthenticatorUpdb {
			return validationError("method", "only updb authenticators have a username and password", a.Method)
		}
		if username != nil {
			a.Username = *username
		}
		if hash != "" {
			a.PasswordHash = hash
		}
		if replace || tags != nil {
			a.Tags = tagsIn(tags)
		}
		return nil
	})
}

func (s *Server) authenticatorModel(tx *store.Tx, rec store.Record) any {
	a := rec.(*store.Authenticator)
	d := &models.AuthenticatorDetail{
		BaseEntity:        baseOf(store.Authenticators, &a.Meta),
		IdentityID:        ptr(a.IdentityID),
		Identity:          refOf(store.Identities, a.IdentityID, nameOf(tx, store.Identities, a.IdentityID)),
		Method:            ptr(a.Method),
		IsIssuedByNetwork: a.Method == store.AuthenticatorCert,
	}
	switch a.Method {
	case store.AuthenticatorUpdb:
		d.Username = a.Username
	case store.AuthenticatorCert:
		d.Fingerprint = a.Fingerprint
		d.CertPem = a.CertPEM
		d.IsExtendRequested = a.UnverifiedFingerprint != ""
	}
	return d
}
