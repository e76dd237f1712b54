package api

import (
	"net/http"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/domain"

	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/currentapisession"
	"github.com/ostium-net/ostium/controller/store"
)

// The caller's own authenticators: list, detail, and changing its own
// username and password, which needs the current password.

// listCurrentIdentityAuthenticators answers GET /current-identity/authenticators.
func (s *Server) listCurrentIdentityAuthenticators(p currentapisession.ListCurrentIdentityAuthenticatorsParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	return s.listOf(store.Authenticators, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return tx.Referencing(store.Authenticators, "identityId", caller.Identity.ID)
	}, s.authenticatorModel)
}

// detailCurrentIdentityAuthenticator answers GET /current-identity/authenticators/{id}.
func (s *Server) detailCurrentIdentityAuthenticator(p currentapisession.DetailCurrentIdentityAuthenticatorParams, pr any) middleware.Responder {
	if !s.ownsAuthenticator(principalOf(pr), p.ID) {
		return fail(errNotFound)
	}
	return s.detailOf(store.Authenticators, p.ID, s.authenticatorModel)
}

// updateCurrentIdentityAuthenticator answers PUT /current-identity/authenticators/{id}.
func (s *Server) updateCurrentIdentityAuthenticator(p currentapisession.UpdateCurrentIdentityAuthenticatorParams, pr any) middleware.Responder {
	b := p.Authenticator
	var username, password string
	if b.Username != nil {
		username = string(*b.Username)
	}
	if b.Password != nil {
		password = string(*b.Password)
	}
	return s.changeOwnPassword(p.HTTPRequest, principalOf(pr), p.ID, passwordOf(b.CurrentPassword), &username, &password)
}

// patchCurrentIdentityAuthenticator answers PATCH /current-identity/authenticators/{id}.
func (s *Server) patchCurrentIdentityAuthenticator(p currentapisession.PatchCurrentIdentityAuthenticatorParams, pr any) middleware.Responder {
	b := p.Authenticator
	var username, password *string
	if b.Username != nil {
		u := string(*b.Username)
		username = &u
	}
	if b.Password != nil {
		pw := string(*b.Password)
		password = &pw
	}
	return s.changeOwnPassword(p.HTTPRequest, principalOf(pr), p.ID, passwordOf(b.CurrentPassword), username, password)
}

func passwordOf[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}

func (s *Server) ownsAuthenticator(caller *Principal, id string) bool {
	owns := false
	_ = s.State.View(func(tx *store.Tx) error {
		a, err := store.Get[*store.Authenticator](tx, store.Authenticators, id)
		owns = err == nil && a.IdentityID == caller.Identity.ID
		return nil
	})
	return owns
}

var errWrongCurrentPassword = &APIError{Status: 401, Code: CodeUnauthorized, Message: "the current password is wrong",
	Cause: &FieldCause{Field: "currentPassword", Reason: "does not match"}}

func (s *Server) changeOwnPassword(r *http.Request, caller *Principal, id, current string, username, password *string) middleware.Responder {
	if !s.ownsAuthenticator(caller, id) {
		return fail(errNotFound)
	}
	rec, err := s.State.Get(store.Authenticators, id)
	if err != nil {
		return fail(err)
	}
	authn := rec.(*store.Authenticator)
	if authn.Method != store.AuthenticatorUpdb {
		return fail(validationError("method", "only password authenticators can be changed here", authn.Method))
	}
	matched := false
	if current != "" {
		if matched, err = s.verifyPassword(r, current, authn.PasswordHash); err != nil {
			return fail(err)
		}
	}
	if !matched {
		return fail(errWrongCurrentPassword)
	}
	var hash string
	if password != nil && *password != "" {
		if len(*password) < 5 || len(*password) > 100 {
			return fail(validationError("password", "must be 5 to 100 characters", nil))
		}
		if hash, err = s.hashPassword(r, *password); err != nil {
			return fail(err)
		}
	}
	if username != nil && *username != "" && (len(*username) < 4 || len(*username) > 100) {
		return fail(validationError("username", "must be 4 to 100 characters", *username))
	}
	c := &domain.ChangePassword{AuthenticatorID: id, IdentityID: caller.Identity.ID, CheckedHash: authn.PasswordHash, PasswordHash: hash}
	if username != nil {
		c.Username = *username
	}
	// The entry checks that the password checked is still the one stored.
	err = s.State.Apply(requestContext(r), c)
	switch {
	case domain.Is(err, domain.ErrPasswordChanged):
		return fail(errWrongCurrentPassword)
	case err != nil:
		return fail(err)
	}
	return okEmpty()
}
