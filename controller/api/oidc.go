package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/runtime/security"
	"github.com/go-openapi/strfmt"

	"github.com/ostium-net/ostium/controller/oidc"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// OpenID Connect sign-in (controller/oidc) as part of the APIs: the
// provider's sign-in is this package's POST /authenticate, and its access
// tokens are a credential of both APIs (Authorization: Bearer) beside
// zt-session tokens, naming the same kind of API session.

// OIDCOptions configure the OpenID Connect provider.
type OIDCOptions struct {
	// Disabled leaves OIDC out: no /oidc endpoints, no OIDC_AUTH capability.
	Disabled bool
	// Keys sign and verify the tokens; nil derives them from the CA.
	Keys *oidc.Keys
	// Token lifetimes; zero takes OpenZiti's defaults (30 min access and
	// ID tokens, 24 h refresh tokens).
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	// RedirectURIs are allowed besides native clients' loopback callbacks.
	RedirectURIs []string
}

// newOIDC builds the provider, or nil when OIDC is disabled.
func (s *Server) newOIDC() (*oidc.Provider, error) {
	o := s.OIDC
	if o.Disabled {
		return nil, nil
	}
	keys := o.Keys
	if keys == nil {
		var err error
		if keys, err = oidc.DeriveKeys(s.CA.DeriveSecret); err != nil {
			return nil, err
		}
	}
	return oidc.New(oidc.Config{Keys: keys, Backend: oidcBackend{s}, Log: s.Log.With("api", "oidc"), Advertise: s.Advertise,
		AccessTokenLifetime: o.AccessTokenLifetime, RefreshTokenLifetime: o.RefreshTokenLifetime, RedirectURIs: o.RedirectURIs}), nil
}

// bearerAuthenticator reads OIDC access tokens for the oauth2 security
// scheme of both APIs. Its request is needed: a session opened with a
// certificate is only used over that certificate.
func (s *Server) bearerAuthenticator(string, security.ScopedTokenAuthentication) runtime.Authenticator {
	return security.ScopedAuthenticator(func(req *security.ScopedAuthRequest) (bool, any, error) {
		token, ok := strings.CutPrefix(req.Request.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return false, nil, nil
		}
		p, err := s.authenticateBearer(req.Request, strings.TrimSpace(token))
		if err != nil {
			s.Log.Debug("bearer token refused", "err", err)
			return true, nil, errUnauthorized
		}
		return true, p, nil
	})
}

// managementBearerAuthenticator reads "Authorization: Bearer" on the
// management API: an API token (by its prefix) or an OIDC access token.
func (s *Server) managementBearerAuthenticator(name string, auth security.ScopedTokenAuthentication) runtime.Authenticator {
	oidcAuth := s.bearerAuthenticator(name, auth)
	return security.ScopedAuthenticator(func(req *security.ScopedAuthRequest) (bool, any, error) {
		token, ok := strings.CutPrefix(req.Request.Header.Get("Authorization"), "Bearer ")
		if token = strings.TrimSpace(token); ok && strings.HasPrefix(token, APITokenPrefix) {
			p, err := s.authenticateAPIToken(token)
			if err != nil {
				return true, nil, errUnauthorized
			}
			return true, p, nil
		}
		return oidcAuth.Authenticate(req)
	})
}

// authenticateBearer turns an access token into a Principal.
func (s *Server) authenticateBearer(r *http.Request, token string) (*Principal, error) {
	if s.oidc == nil {
		return nil, errors.New("OIDC is disabled")
	}
	c, err := s.oidc.VerifyAccessToken(token)
	if err != nil {
		return nil, err
	}
	p, err := s.oidcPrincipal(r, c.APISessionID)
	if err != nil {
		return nil, err
	}
	if p.Identity.ID != c.Subject {
		return nil, errors.New("the token's subject is not its API session's identity")
	}
	p.Token = token
	return p, nil
}

// oidcPrincipal reads an OIDC API session that may still be used by the
// caller of r, and counts the request as a use.
func (s *Server) oidcPrincipal(r *http.Request, sessionID string) (*Principal, error) {
	var p Principal
	var lastUse time.Time
	err := s.State.View(func(tx *store.Tx) error {
		sess, err := store.Get[*store.APISession](tx, store.APISessions, sessionID)
		if err != nil || !sess.OIDC {
			return oidc.ErrSessionEnded
		}
		identity, err := store.Get[*store.Identity](tx, store.Identities, sess.IdentityID)
		if err != nil {
			return oidc.ErrSessionEnded
		}
		p = Principal{Session: sess, Identity: identity}
		lastUse = s.lastActivity(tx, sess)
		if sess.IsMFARequired && !sess.IsMFAComplete {
			m, found := mfaOf(tx, identity.ID)
			p.MFAEnrolled = found && m.IsVerified
		}
		if sess.AuthMethod == "cert" && !holdsSessionCert(tx, r, sess) {
			return &oidc.Error{Status: http.StatusBadRequest, Code: oidc.ErrCodeInvalidGrant,
				Description: "the request must present the certificate the sign-in was made with"}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if s.sessionEnded(p.Session, lastUse, now) || identityDisabled(p.Identity, now) {
		return nil, oidc.ErrSessionEnded
	}
	s.Activity.Touch(p.Session.ID, now)
	return &p, nil
}

// holdsSessionCert reports whether r presents a certificate of the API
// session: the one it was opened with, an API-session certificate, or the
// identity's current (possibly just extended) certificate.
func holdsSessionCert(tx *store.Tx, r *http.Request, sess *store.APISession) bool {
	if r == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	fp := pki.Fingerprint(r.TLS.PeerCertificates[0].Raw)
	if slices.Contains(sess.CertFingerprints, fp) {
		return true
	}
	if id, ok := tx.Lookup(store.Authenticators, "fingerprint", fp); ok {
		a, err := store.Get[*store.Authenticator](tx, store.Authenticators, id)
		return err == nil && a.IdentityID == sess.IdentityID && a.Method == store.AuthenticatorCert
	}
	return false
}

// oidcBackend is the provider's view of this package.
type oidcBackend struct{ s *Server }

// SignIn runs POST /authenticate's sign-in and marks the API session it
// opens as an OIDC one.
func (b oidcBackend) SignIn(r *http.Request, method string, c oidc.Credentials, lifetime time.Duration) (*oidc.Grant, error) {
	creds := &models.Authenticate{Username: c.Username, Password: strfmt.Password(c.Password),
		ConfigTypes: c.ConfigTypes, EnvInfo: infoModel[models.EnvInfo](c.EnvInfo), SdkInfo: infoModel[models.SdkInfo](c.SDKInfo)}
	var opened *store.APISession
	resp := b.s.authenticate(r, method, creds, false, func(as *store.APISession) {
		as.OIDC, as.AccessTokenLifetime = true, lifetime
		opened = as
	})
	if err := refusalOf(resp); err != nil {
		return nil, err
	}
	if opened == nil {
		return nil, errors.New("sign-in opened no API session")
	}
	var g *oidc.Grant
	err := b.s.State.View(func(tx *store.Tx) error {
		sess, err := store.Get[*store.APISession](tx, store.APISessions, opened.ID)
		if err != nil {
			return err
		}
		identity, err := store.Get[*store.Identity](tx, store.Identities, sess.IdentityID)
		if err != nil {
			return err
		}
		g = grantOf(&Principal{Session: sess, Identity: identity})
		return nil
	})
	return g, err
}

// CompleteMFA is POST /authenticate/mfa for the provider's sign-in.
func (b oidcBackend) CompleteMFA(r *http.Request, sessionID, code string) error {
	var p *Principal
	err := b.s.State.View(func(tx *store.Tx) error {
		sess, err := store.Get[*store.APISession](tx, store.APISessions, sessionID)
		if err != nil {
			return oidc.ErrSessionEnded
		}
		identity, err := store.Get[*store.Identity](tx, store.Identities, sess.IdentityID)
		if err != nil {
			return oidc.ErrSessionEnded
		}
		m, found := mfaOf(tx, identity.ID)
		p = &Principal{Session: sess, Identity: identity, MFAEnrolled: found && m.IsVerified}
		return nil
	})
	if err != nil {
		return err
	}
	err = refusalOf(b.s.authenticateMFA(r, p, code))
	// OpenZiti's SDKs take 400 for a code that did not verify.
	if e, ok := err.(*oidc.Error); ok && e.Status == http.StatusUnauthorized {
		e.Status = http.StatusBadRequest
	}
	return err
}

// Session reads a usable OIDC API session.
func (b oidcBackend) Session(r *http.Request, sessionID string) (*oidc.Grant, error) {
	p, err := b.s.oidcPrincipal(r, sessionID)
	if err != nil {
		return nil, err
	}
	if p.mfaPending() {
		return nil, oidc.ErrSessionEnded
	}
	return grantOf(p), nil
}

// EndSession deletes an API session, as a logout does; routers are told.
func (b oidcBackend) EndSession(r *http.Request, sessionID string) error {
	if err := b.s.State.Delete(requestContext(r), store.APISessions, sessionID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	b.s.Activity.Forget(sessionID)
	return nil
}

func grantOf(p *Principal) *oidc.Grant {
	sess, identity := p.Session, p.Identity
	return &oidc.Grant{APISessionID: sess.ID, IdentityID: identity.ID, IdentityName: identity.Name, ExternalID: identity.ExternalID,
		IsAdmin: identity.IsAdmin, Method: sess.AuthMethod, AuthenticatorID: sess.AuthenticatorID, ConfigTypes: sess.ConfigTypes,
		CertFingerprints: sess.CertFingerprints, CertExtendable: sess.CertExtendable,
		MFAPending: sess.IsMFARequired && !sess.IsMFAComplete, MFADone: sess.IsMFARequired && sess.IsMFAComplete,
		AccessTokenLifetime: sess.AccessTokenLifetime, AuthTime: sess.CreatedAt}
}

// infoModel turns a client's env or SDK info into its API model.
func infoModel[T any](m map[string]string) *T {
	if len(m) == 0 {
		return nil
	}
	var out T
	b, err := json.Marshal(m)
	if err != nil || json.Unmarshal(b, &out) != nil {
		return nil
	}
	return &out
}

// refusalOf turns the error answer of a handler into an OAuth error; nil
// when the handler succeeded.
func refusalOf(resp middleware.Responder) error {
	f, ok := resp.(failure)
	if !ok {
		return nil
	}
	ae := toAPIError(f.err)
	if ae.Status >= 500 {
		return f.err
	}
	code := oidc.ErrCodeAccessDenied
	if ae.Status == http.StatusBadRequest && ae.Code == CodeCouldNotValidate {
		code = oidc.ErrCodeInvalidRequest
	}
	return &oidc.Error{Status: ae.Status, Code: code, Description: ae.Message, RetryAfter: ae.RetryAfter}
}

// revocationPruneInterval is how often the leader forgets revocations
// whose tokens have all expired.
const revocationPruneInterval = time.Minute

// keepRevocations prunes expired revocations while this node leads, until
// ctx ends.
func (s *Server) keepRevocations(ctx context.Context) {
	if s.oidc == nil {
		return
	}
	s.everyWhileLeading(ctx, revocationPruneInterval, func(ctx context.Context) {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := oidc.PruneRevocations(pctx, s.State, time.Now())
		cancel()
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("pruning token revocations failed", "err", err)
		} else if n > 0 {
			s.Log.Debug("pruned token revocations", "count", n)
		}
	})
}
