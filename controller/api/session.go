package api

import (
	"crypto/x509"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/auth"
	"github.com/ostium-net/ostium/controller/domain"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/authentication"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/current_api_session"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/current_identity"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/informational"
	"github.com/ostium-net/ostium/controller/oidc"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/internal/buildinfo"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

var errInvalidAuth = newErr(http.StatusUnauthorized, CodeInvalidAuth, "the authentication request failed")

// errWrongPassword answers every failed password authentication alike: an
// unknown user name, a wrong password and a missing one, whatever their
// length, so that the answer tells nothing of which it was.
// errNoSessionOfToken answers the operations on the caller's own API session
// or identity when the caller is an API token, which has neither.
var errNoSessionOfToken = newErr(http.StatusNotFound, CodeNotFound, "this request was made with an API token, which has no API session or identity; see /current-api-token")

var errWrongPassword = newErr(http.StatusUnauthorized, CodeInvalidAuth, "wrong username or password")

// handleAuthenticate answers POST /authenticate.
func (s *Server) handleAuthenticate(p authentication.AuthenticateParams) middleware.Responder {
	var creds models.Authenticate
	if p.Credentials != nil {
		creds = *p.Credentials
	}
	return s.authenticate(p.HTTPRequest, p.Method, &creds, true)
}

// authenticateMfa answers POST /authenticate/mfa: an administrator with
// MFA enrolled completes the sign-in here, as on the client API
// (client_mfa.go); enrollment itself is done there.
func (s *Server) authenticateMfa(p authentication.AuthenticateMfaParams, pr any) middleware.Responder {
	return s.authenticateMFA(p.HTTPRequest, principalOf(pr), codeOf(p.MfaAuth))
}

// getCurrentAPISession answers GET /current-api-session.
func (s *Server) getCurrentAPISession(p current_api_session.GetCurrentAPISessionParams, pr any) middleware.Responder {
	return s.currentAPISession(pr)
}

// deleteCurrentAPISession answers DELETE /current-api-session.
func (s *Server) deleteCurrentAPISession(p current_api_session.DeleteCurrentAPISessionParams, pr any) middleware.Responder {
	return s.logout(p.HTTPRequest, pr)
}

// getCurrentIdentity answers GET /current-identity.
func (s *Server) getCurrentIdentity(p current_identity.GetCurrentIdentityParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	if caller == nil || caller.Identity == nil {
		return fail(errNoSessionOfToken)
	}
	return s.detailOf(store.Identities, caller.Identity.ID, s.identityModel)
}

// getVersion answers GET /version.
func (s *Server) getVersion(p informational.GetVersionParams) middleware.Responder {
	return ok(s.versionModel())
}

// versionModel describes this build and where its APIs live.
func (s *Server) versionModel() *models.Version {
	base := "https://" + s.Advertise
	api := func(path string) map[string]models.APIVersion {
		return map[string]models.APIVersion{"v1": {Path: ptr(path), APIBaseUrls: []string{base + path}}}
	}
	apis := models.APIVersionsMap{
		"edge":            api(clientBase),
		"edge-client":     api(clientBase),
		"edge-management": api(managementBase),
	}
	if s.oidc != nil {
		apis["edge-oidc"] = api(oidc.PathPrefix)
	}
	return &models.Version{
		Version:        buildinfo.Version,
		Revision:       buildinfo.Revision,
		BuildDate:      buildinfo.BuildDate,
		RuntimeVersion: buildinfo.Runtime(),
		Capabilities:   s.capabilities(),
		APIVersions:    apis,
	}
}

// dummyHash makes a failed username lookup cost as much as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, err := auth.HashPassword("not a password anyone has", auth.DefaultArgon2)
	if err != nil {
		return "$argon2id$v=19$m=65536,t=1,p=2$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	}
	return h
})

// authenticate checks a password, client certificate or external JWT,
// enforces the identity's auth policy and its lockout, and opens an API
// session. adminOnly refuses identities that are not administrators (the
// management API). Every attempt is recorded as an auth event (those naming
// no identity in batches, see limits.go); wrong passwords count toward a
// lock of the identity from the caller's address and from every address,
// and while a lock holds, attempts are refused before any credential is
// checked. Wrong passwords also count toward the maxAttempts of the
// identity's auth policy, which disables the identity (see auth_audit.go for
// how they combine); a disabled identity's password is not checked. Password
// hashes are computed a few at a time: a check that finds no turn in time is
// answered 429. An identity with MFA enrolled, or required by its auth
// policy, gets a session that must complete POST /authenticate/mfa (or
// enroll) before anything else.
// Each of shape is given the new API session before it is stored.
func (s *Server) authenticate(r *http.Request, method string, creds *models.Authenticate, adminOnly bool, shape ...func(*store.APISession)) (resp middleware.Responder) {
	defer func() { s.met.authenticated(method, resp) }()
	var authn *store.Authenticator
	var identity *store.Identity
	var signerID string // the external JWT signer of method ext-jwt
	find := func(index, value string) error {
		return s.State.View(func(tx *store.Tx) error {
			id, ok := tx.Lookup(store.Authenticators, index, value)
			if !ok {
				return store.ErrNotFound
			}
			a, err := store.Peek[*store.Authenticator](tx, store.Authenticators, id)
			if err != nil {
				return err
			}
			i, err := store.Peek[*store.Identity](tx, store.Identities, a.IdentityID)
			if err != nil {
				return err
			}
			authn, identity = a, i
			return nil
		})
	}
	failed := failureEvent[method]
	refused := errInvalidAuth
	if method == "password" {
		refused = errWrongPassword
	}
	// A refusal naming no identity is counted in memory and written with
	// others like it (limits.go): guesses must not cost a raft entry each.
	refuse := func(identityID, reason string) middleware.Responder {
		if identityID == "" {
			s.recordAnonymousFailure(r, failed, reason)
		} else {
			s.recordFailure(r, identityID, failed, reason, false)
		}
		return fail(refused)
	}
	switch method {
	case "password":
		username, password := string(creds.Username), string(creds.Password)
		if username == "" || password == "" {
			return refuse("", "no username or password")
		}
		if err := find("username", username); err != nil || authn.Method != store.AuthenticatorUpdb {
			if _, err := s.verifyPassword(r, password, dummyHash()); err != nil {
				return fail(err)
			}
			return refuse("", "unknown username")
		}
		if d := s.lockedFor(identity.ID, clientIP(r), true); d > 0 {
			return s.refuseLocked(r, identity.ID, failed, d)
		}
		// The password of a disabled identity is not even checked: while
		// its auth policy keeps it disabled, guessing cannot go on.
		if identity.IsDisabled(time.Now()) {
			return s.refuseDisabled(r, identity, failed)
		}
		matched, err := s.verifyPassword(r, password, authn.PasswordHash)
		if err != nil {
			return fail(err)
		}
		if !matched {
			return s.failPassword(r, identity, failed)
		}
	case "cert":
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return refuse("", "no client certificate")
		}
		chain := r.TLS.PeerCertificates
		if err := s.CA.VerifyClientCert(chain); err != nil && !s.trustedThirdParty(chain) {
			return refuse("", "client certificate not trusted")
		}
		if err := find("fingerprint", pki.Fingerprint(chain[0].Raw)); err != nil || authn.Method != store.AuthenticatorCert {
			return refuse("", "unknown client certificate")
		}
		if authn.UnverifiedFingerprint == pki.Fingerprint(chain[0].Raw) && authn.Fingerprint != authn.UnverifiedFingerprint {
			return refuse(identity.ID, "certificate extension not verified") // an extension not yet verified
		}
	case "ext-jwt":
		i, sg, err := s.identityFromExtJWT(r)
		if err != nil {
			return refuse("", "external JWT not accepted")
		}
		identity, signerID = i, sg.ID
	default:
		return fail(validationError("method", "must be password, cert or ext-jwt", method))
	}
	if method != "password" {
		if d := s.lockedFor(identity.ID, clientIP(r), false); d > 0 {
			return s.refuseLocked(r, identity.ID, failed, d)
		}
	}
	mfaRequired := false
	secondSigner := ""
	err := s.State.View(func(tx *store.Tx) error {
		if err := checkAuthPolicy(tx, identity, method, signerID); err != nil {
			return err
		}
		secondSigner = secondaryExtJWTSigner(tx, identity)
		m, enrolled := mfaOf(tx, identity.ID)
		mfaRequired = (enrolled && m.IsVerified) || mfaRequiredByPolicy(tx, identity)
		return nil
	})
	if err != nil {
		s.Log.Debug("authentication refused by auth policy", "identity", identity.ID, "error", err)
		return refuse(identity.ID, "refused by auth policy")
	}
	// A policy may require a JWT of one signer as a second factor: it comes
	// with the authentication request (Authorization: Bearer) and must name
	// the same identity.
	if secondSigner != "" && signerID != secondSigner {
		second, sg, err := s.identityFromExtJWT(r)
		if err != nil || sg.ID != secondSigner || second.ID != identity.ID {
			return refuse(identity.ID, "the second-factor JWT is missing or not valid")
		}
	}
	now := time.Now().UTC()
	if identityDisabled(identity, now) {
		return s.refuseDisabled(r, identity, failed)
	}
	if adminOnly && !identity.IsAdmin {
		return refuse(identity.ID, "not an administrator")
	}
	authenticatorID := ""
	if authn != nil {
		authenticatorID = authn.ID
	}
	token := auth.NewToken()
	sess := &store.APISession{Meta: store.Meta{ID: state.NewID()}, IdentityID: identity.ID, TokenHash: auth.TokenHash(token),
		AuthenticatorID: authenticatorID, AuthMethod: method, IPAddress: clientIP(r), ConfigTypes: strs(creds.ConfigTypes),
		IsMFARequired: mfaRequired, IsMFAComplete: !mfaRequired}
	for _, f := range shape {
		f(sess)
	}
	if method == "cert" && r.TLS != nil && s.CA.VerifyClientCert(r.TLS.PeerCertificates) == nil {
		sess.CertExtendable = true
	}
	if r.TLS != nil {
		for _, c := range r.TLS.PeerCertificates[:min(1, len(r.TLS.PeerCertificates))] {
			sess.CertFingerprints = append(sess.CertFingerprints, certFingerprint(c))
		}
	}
	reason := ""
	if mfaRequired {
		reason = "MFA pending"
	}
	login := &domain.Authenticate{APISession: sess, EventID: state.NewID(), EventType: successEvent[method], Reason: reason,
		Source: clientIP(r), AdminOnly: adminOnly,
		// Only a complete authentication forgets earlier failures: a known
		// password must not reset the count of wrong MFA codes.
		Complete: !mfaRequired,
		// The right password ends a run of wrong ones: the auth policy's
		// count starts again.
		ResetPasswordFailures: method == "password",
		// A password is refused while the identity is locked out from
		// every address; a certificate or an external JWT is not.
		CheckIdentityLock: method == "password"}
	if !adminOnly {
		login.EnvInfo, login.SDKInfo = clientInfoMaps(creds.EnvInfo, creds.SdkInfo)
	}
	if s.answerBeforeApply(requestContext(r), login, method) {
		answered := s.pending.add(login, now)
		s.Activity.Touch(sess.ID, now)
		body := envelope{Data: s.currentSessionModel(answered, identity, token), Meta: newMeta()}
		return respond{status: 200, body: body, header: map[string]string{"zt-session": token}}
	}
	if err := s.State.Apply(requestContext(r), login); err != nil {
		if !errors.Is(err, store.ErrUnauthorized) {
			return fail(err)
		}
		// Refused by the state the login applied to: a lock placed or the
		// identity disabled since the credential was checked.
		if d := s.lockedFor(identity.ID, clientIP(r), method == "password"); d > 0 {
			return s.refuseLocked(r, identity.ID, failed, d)
		}
		if rec, err := s.State.Get(store.Identities, identity.ID); err == nil && rec.(*store.Identity).IsDisabled(time.Now()) {
			return s.refuseDisabled(r, rec.(*store.Identity), failed)
		}
		return refuse(identity.ID, "refused when the session was opened")
	}
	if got, err := s.State.Get(store.APISessions, sess.ID); err == nil {
		sess = got.(*store.APISession)
	}
	s.Activity.Touch(sess.ID, now)
	body := envelope{Data: s.currentSessionModel(sess, identity, token), Meta: newMeta()}
	return respond{status: 200, body: body, header: map[string]string{"zt-session": token}}
}

func certFingerprint(c *x509.Certificate) string { return pki.Fingerprint(c.Raw) }

// currentSessionModel is the API-session detail returned by authenticate and
// GET /current-api-session, with the token when it is given.
func (s *Server) currentSessionModel(sess *store.APISession, identity *store.Identity, token string) *models.CurrentAPISessionDetail {
	last := s.lastActivity(nil, sess)
	expires := s.sessionExpiresAt(sess, last)
	d := &models.CurrentAPISessionDetail{
		APISessionDetail: models.APISessionDetail{
			BaseEntity:       baseOf(store.APISessions, &sess.Meta),
			AuthQueries:      models.AuthQueryList{},
			AuthenticatorID:  ptr(sess.AuthenticatorID),
			ConfigTypes:      strs(sess.ConfigTypes),
			Identity:         refOf(store.Identities, identity.ID, identity.Name),
			IdentityID:       ptr(identity.ID),
			IPAddress:        ptr(sess.IPAddress),
			IsMfaComplete:    ptr(sess.IsMFAComplete),
			IsMfaRequired:    ptr(sess.IsMFARequired),
			IsCertExtendable: sess.CertExtendable,
			LastActivityAt:   *dt(last),
			// What this node knows of the last use is all it has cached.
			CachedLastActivityAt: *dt(last),
			Token:                ptr(token),
		},
		ExpiresAt:         dt(expires),
		ExpirationSeconds: ptr(int64(time.Until(expires).Seconds())),
	}
	if token == "" {
		d.Token = nil
	}
	if sess.IsMFARequired && !sess.IsMFAComplete {
		d.AuthQueries = append(d.AuthQueries, mfaAuthQuery())
	}
	return d
}

// trustedThirdParty reports a client certificate issued by a registered CA
// that is verified and enabled for authentication.
func (s *Server) trustedThirdParty(chain []*x509.Certificate) bool {
	trusted := false
	_ = s.State.View(func(tx *store.Tx) error {
		return tx.ForEach(store.CAs, func(r store.Record) error {
			ca := r.(*store.CA)
			if !ca.IsVerified || !ca.IsAuthEnabled {
				return nil
			}
			certs, err := pki.ParseCertificatesPEM([]byte(ca.CertPEM))
			if err != nil || len(certs) == 0 {
				return nil
			}
			if pki.VerifyClientCertWithCA(chain, certs[0]) == nil {
				trusted = true
				return store.ErrStop
			}
			return nil
		})
	})
	return trusted
}

// currentAPISession answers GET /current-api-session (both APIs), with the
// token the caller presented: OpenZiti's C SDK reads it from there.
func (s *Server) currentAPISession(pr any) middleware.Responder {
	caller := principalOf(pr)
	if caller == nil || caller.Session == nil {
		return fail(errNoSessionOfToken)
	}
	return ok(s.currentSessionModel(caller.Session, caller.Identity, caller.Token))
}

// logout answers DELETE /current-api-session (both APIs): the API session
// and, by cascade, its sessions are deleted, and routers are told.
func (s *Server) logout(r *http.Request, pr any) middleware.Responder {
	caller := principalOf(pr)
	if caller == nil || caller.Session == nil {
		return fail(errNoSessionOfToken)
	}
	if err := s.State.Delete(requestContext(r), store.APISessions, caller.Session.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fail(err)
	}
	s.Activity.Forget(caller.Session.ID)
	return okEmpty()
}
