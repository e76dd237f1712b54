package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/strfmt"

	"github.com/ostium-net/ostium/controller/domain"

	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/currentapisession"
	enrollops "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/enroll"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// Certificate renewal and API-session certificates.
//
// An identity extends its certificate authenticator in two steps: extend
// signs a new certificate and records it as pending, so that the old
// certificate keeps working; extend-verify proves the client holds the new
// certificate and makes it current, and from then the old one is refused.
// A router extends over mTLS with its current certificate and its new
// certificates replace the old ones at once. API sessions authenticated by
// password or external JWT may obtain short-lived client certificates.

var (
	errRouterCert = newErr(http.StatusUnauthorized, CodeInvalidAuth,
		"the client certificate is missing, not issued by this controller, or not the current certificate of an edge router")
	errCertSession = newErr(http.StatusBadRequest, CodeCouldNotValidate,
		"API-session certificates are issued only to API sessions authenticated by password or external JWT; this session was authenticated by certificate")
	errNotPending = newErr(http.StatusBadRequest, CodeCouldNotValidate,
		"the certificate is not the one issued by this authenticator's pending extension")
)

// extendCurrentIdentityAuthenticator answers POST /current-identity/authenticators/{id}/extend.
func (s *Server) extendCurrentIdentityAuthenticator(p currentapisession.ExtendCurrentIdentityAuthenticatorParams, pr any) middleware.Responder {
	csr := ""
	if p.Extend != nil {
		csr = str(p.Extend.ClientCertCsr)
	}
	return s.extendAuthenticator(p.HTTPRequest, principalOf(pr), p.ID, csr)
}

// extendVerifyCurrentIdentityAuthenticator answers POST /current-identity/authenticators/{id}/extend-verify.
func (s *Server) extendVerifyCurrentIdentityAuthenticator(p currentapisession.ExtendVerifyCurrentIdentityAuthenticatorParams, pr any) middleware.Responder {
	cert := ""
	if p.Extend != nil {
		cert = str(p.Extend.ClientCert)
	}
	return s.verifyExtension(p.HTTPRequest, principalOf(pr), p.ID, cert)
}

// extendRouterEnrollment answers POST /enroll/extend/router.
func (s *Server) extendRouterEnrollment(p enrollops.ExtendRouterEnrollmentParams) middleware.Responder {
	var certCSR, serverCSR string
	if b := p.RouterExtendRequest; b != nil {
		certCSR, serverCSR = str(b.CertCsr), str(b.ServerCertCsr)
	}
	return s.extendRouter(p.HTTPRequest, certCSR, serverCSR)
}

// createCurrentAPISessionCertificate answers POST /current-api-session/certificates.
func (s *Server) createCurrentAPISessionCertificate(p currentapisession.CreateCurrentAPISessionCertificateParams, pr any) middleware.Responder {
	csr := ""
	if p.SessionCertificate != nil {
		csr = str(p.SessionCertificate.Csr)
	}
	return s.createSessionCert(p.HTTPRequest, principalOf(pr), csr)
}

// listCurrentAPISessionCertificates answers GET /current-api-session/certificates.
func (s *Server) listCurrentAPISessionCertificates(p currentapisession.ListCurrentAPISessionCertificatesParams, pr any) middleware.Responder {
	sessionID := principalOf(pr).Session.ID
	lp := listParams{Filter: p.Filter, Sort: p.Sort, Limit: p.Limit, Offset: p.Offset}
	return s.listOf(store.APISessionCerts, lp, func(tx *store.Tx) []string {
		return tx.Referencing(store.APISessionCerts, "apiSessionId", sessionID)
	}, func(_ *store.Tx, rec store.Record) any { return sessionCertModel(rec.(*store.APISessionCert)) })
}

// detailCurrentAPISessionCertificate answers GET /current-api-session/certificates/{id}.
func (s *Server) detailCurrentAPISessionCertificate(p currentapisession.DetailCurrentAPISessionCertificateParams, pr any) middleware.Responder {
	c, err := s.ownSessionCert(principalOf(pr), p.ID)
	if err != nil {
		return fail(err)
	}
	return ok(sessionCertModel(c))
}

// deleteCurrentAPISessionCertificate answers DELETE /current-api-session/certificates/{id}.
func (s *Server) deleteCurrentAPISessionCertificate(p currentapisession.DeleteCurrentAPISessionCertificateParams, pr any) middleware.Responder {
	return s.deleteSessionCert(p.HTTPRequest, principalOf(pr), p.ID)
}

// ownCertAuthenticator reads the caller's certificate authenticator id;
// anything else (unknown, another identity's, a password) is not found.
func (s *Server) ownCertAuthenticator(caller *Principal, id string) (*store.Authenticator, error) {
	rec, err := s.State.Get(store.Authenticators, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	a := rec.(*store.Authenticator)
	if caller == nil || caller.Identity == nil || a.IdentityID != caller.Identity.ID || a.Method != store.AuthenticatorCert {
		return nil, errNotFound
	}
	return a, nil
}

// signCSR parses and signs a client certificate request.
func (s *Server) signCSR(csrPEM, field, commonName string, lifetime time.Duration) (*pki.Issued, error) {
	csr, err := pki.ParseCSR([]byte(csrPEM), field)
	if err != nil {
		return nil, csrError(err)
	}
	issued, err := s.signClient(context.Background(), csr, pki.ClientProfile{CommonName: commonName, Lifetime: lifetime})
	if err != nil {
		return nil, signError(err)
	}
	return issued, nil
}

// extendAuthenticator signs a new certificate for the caller's certificate
// authenticator and records it as the pending extension.
func (s *Server) extendAuthenticator(r *http.Request, caller *Principal, id, csrPEM string) middleware.Responder {
	if _, err := s.ownCertAuthenticator(caller, id); err != nil {
		return fail(err)
	}
	issued, err := s.signCSR(csrPEM, "clientCertCsr", caller.Identity.ID, s.CA.Lifetimes().Identity)
	if err != nil {
		return fail(err)
	}
	// The entry checks again that the authenticator is the caller's certificate.
	err = s.State.Apply(requestContext(r), &domain.ExtendAuthenticator{AuthenticatorID: id, IdentityID: caller.Identity.ID,
		Fingerprint: issued.Fingerprint, CertPEM: string(issued.PEM)})
	if errors.Is(err, store.ErrNotFound) {
		return fail(errNotFound)
	}
	if err != nil {
		return fail(certConflict(err))
	}
	return ok(&models.IdentityExtendCerts{ClientCert: string(issued.ChainPEM), Ca: string(s.CA.CAPEM())})
}

// verifyExtension makes the pending certificate of the caller's
// authenticator current; the old certificate is refused from then on.
func (s *Server) verifyExtension(r *http.Request, caller *Principal, id, certPEM string) middleware.Responder {
	a, err := s.ownCertAuthenticator(caller, id)
	if err != nil {
		return fail(err)
	}
	certs, err := pki.ParseCertificatesPEM([]byte(certPEM))
	if err != nil || len(certs) == 0 {
		return fail(validationError("clientCert", "must be the PEM certificate returned by extend", nil))
	}
	presented := pki.Fingerprint(certs[0].Raw)
	if a.UnverifiedFingerprint == "" || presented != a.UnverifiedFingerprint {
		return fail(errNotPending)
	}
	// The entry checks again that the certificate is the pending one: of two
	// verifications, the second finds none.
	err = s.State.Apply(requestContext(r), &domain.VerifyExtension{AuthenticatorID: id, IdentityID: caller.Identity.ID, Fingerprint: presented})
	switch {
	case domain.Is(err, domain.ErrNotPending):
		return fail(errNotPending)
	case errors.Is(err, store.ErrNotFound):
		return fail(errNotFound)
	case err != nil:
		return fail(err)
	}
	return okEmpty()
}

// certConflict maps a fingerprint collision to CERT_IN_USE.
func certConflict(err error) error {
	var fe *store.FieldError
	if errors.Is(err, store.ErrConflict) && errors.As(err, &fe) && fe.Field == "fingerprint" {
		return errCertInUse
	}
	return err
}

// extendRouter issues new client and server certificates to the router
// whose current client certificate made the TLS connection. The new
// certificates replace the old at once.
func (s *Server) extendRouter(r *http.Request, certCSR, serverCSR string) middleware.Responder {
	chain := peerChain(r)
	if len(chain) == 0 || s.CA.VerifyClientCert(chain) != nil {
		return fail(errRouterCert)
	}
	current := pki.Fingerprint(chain[0].Raw)
	var routerID string
	_ = s.State.View(func(tx *store.Tx) error {
		routerID, _ = tx.Lookup(store.EdgeRouters, "fingerprint", current)
		return nil
	})
	if routerID == "" {
		return fail(errRouterCert)
	}
	clientReq, err := pki.ParseCSR([]byte(certCSR), "certCsr")
	if err != nil {
		return fail(csrError(err))
	}
	serverReq, err := pki.ParseCSR([]byte(serverCSR), "serverCertCsr")
	if err != nil {
		return fail(csrError(err))
	}
	lifetimes := s.CA.Lifetimes()
	client, err := s.signClient(requestContext(r), clientReq, pki.ClientProfile{CommonName: routerID, Lifetime: lifetimes.Router})
	if err != nil {
		return fail(signError(err))
	}
	server, err := s.signServer(requestContext(r), serverReq, pki.ServerProfile{CommonName: routerID})
	if err != nil {
		return fail(signError(err))
	}
	// The entry checks again that the router still holds the certificate
	// presented: of two extensions with one certificate, the second is refused.
	err = s.State.Apply(requestContext(r), &domain.ExtendRouter{RouterID: routerID, CurrentFingerprint: current,
		Certs: domain.RouterCerts{Fingerprint: client.Fingerprint, CertPEM: string(client.PEM), ServerFingerprint: server.Fingerprint}})
	if domain.Is(err, domain.ErrRouterCertChanged) {
		return fail(errRouterCert)
	}
	if err != nil {
		return fail(certConflict(err))
	}
	return ok(&models.EnrollmentCerts{Cert: string(client.ChainPEM), ServerCert: string(server.ChainPEM), Ca: string(s.CA.CAPEM())})
}

// sessionCertBase is where the caller's API-session certificates live.
const sessionCertBase = "./current-api-session/certificates/"

// createSessionCert signs a short-lived client certificate for the caller's
// API session and lists its fingerprint on the session, so that routers
// accept it.
func (s *Server) createSessionCert(r *http.Request, caller *Principal, csrPEM string) middleware.Responder {
	if !domain.SessionCertMethods[caller.Session.AuthMethod] {
		return fail(errCertSession)
	}
	issued, err := s.signCSR(csrPEM, "csr", caller.Identity.ID, s.CA.Lifetimes().APISessionCert)
	if err != nil {
		return fail(err)
	}
	rec := &store.APISessionCert{Meta: store.Meta{ID: state.NewID()}, APISessionID: caller.Session.ID, Fingerprint: issued.Fingerprint,
		CertPEM: string(issued.PEM), Subject: issued.Cert.Subject.String(), ValidFrom: issued.Cert.NotBefore.UTC(), ValidTo: issued.Cert.NotAfter.UTC()}
	// The entry checks again that the API session stands and may hold
	// certificates, and lists the fingerprint on it.
	err = s.State.Apply(requestContext(r), &domain.AddSessionCert{Cert: rec})
	if domain.Is(err, domain.ErrCertNotAllowed) {
		return fail(errCertSession)
	}
	if err != nil {
		return fail(certConflict(err))
	}
	body := &models.CurrentAPISessionCertificateCreateResponse{
		CreateLocation: models.CreateLocation{ID: rec.ID, Links: sessionCertLinks(rec.ID)},
		Certificate:    ptr(string(issued.ChainPEM)),
		Cas:            string(s.CA.CAPEM()),
	}
	return respond{status: http.StatusCreated, body: envelope{Data: body, Meta: newMeta()}}
}

// ownSessionCert reads a certificate of the caller's API session.
func (s *Server) ownSessionCert(caller *Principal, id string) (*store.APISessionCert, error) {
	rec, err := s.State.Get(store.APISessionCerts, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	c := rec.(*store.APISessionCert)
	if c.APISessionID != caller.Session.ID {
		return nil, errNotFound
	}
	return c, nil
}

// deleteSessionCert removes one of the caller's API-session certificates
// and its fingerprint from the session.
func (s *Server) deleteSessionCert(r *http.Request, caller *Principal, id string) middleware.Responder {
	c, err := s.ownSessionCert(caller, id)
	if err != nil {
		return fail(err)
	}
	err = s.State.Apply(requestContext(r), &domain.RemoveSessionCert{APISessionID: caller.Session.ID, CertID: c.ID})
	if errors.Is(err, store.ErrNotFound) {
		return fail(errNotFound)
	}
	if err != nil {
		return fail(err)
	}
	return okEmpty()
}

func sessionCertLinks(id string) models.Links {
	href := strfmt.URI(sessionCertBase + id)
	return models.Links{"self": models.Link{Href: &href}}
}

func sessionCertModel(c *store.APISessionCert) *models.CurrentAPISessionCertificateDetail {
	base := baseOf(store.APISessionCerts, &c.Meta)
	base.Links = sessionCertLinks(c.ID)
	return &models.CurrentAPISessionCertificateDetail{
		BaseEntity:  base,
		Certificate: ptr(c.CertPEM),
		Fingerprint: ptr(c.Fingerprint),
		Subject:     ptr(c.Subject),
		ValidFrom:   dt(c.ValidFrom),
		ValidTo:     dt(c.ValidTo),
	}
}
