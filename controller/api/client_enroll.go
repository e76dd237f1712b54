package api

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/auth"
	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/domain"
	enrollrules "github.com/ostium-net/ostium/controller/enroll"

	enrollops "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/enroll"
	enrollmentops "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/enrollment"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// Envelope codes of enrollment.
const (
	CodeInvalidEnrollmentToken = "INVALID_ENROLLMENT_TOKEN"
	CodeEnrollmentExpired      = "ENROLLMENT_EXPIRED"
	CodeCouldNotProcessCSR     = "COULD_NOT_PROCESS_CSR"
	CodeCertInUse              = "CERT_IN_USE"
)

// maxEnrollBody bounds the bodies of POST /enroll read by the handler.
const maxEnrollBody = 64 << 10

var (
	errInvalidEnrollmentToken = newErr(http.StatusBadRequest, CodeInvalidEnrollmentToken, "the enrollment token is not valid: unknown, already used, or for another enrollment method")
	errEnrollmentExpired      = newErr(http.StatusBadRequest, CodeEnrollmentExpired, "the enrollment has expired")
	errCertInUse              = newErr(http.StatusConflict, CodeCertInUse, "the certificate is already in use by another authenticator")
	errEnrollCert             = newErr(http.StatusUnauthorized, CodeInvalidAuth, "the client certificate is missing, or not issued by a registered, verified CA that allows this enrollment")
)

func csrError(err error) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: CodeCouldNotProcessCSR, Message: "the certificate signing request could not be processed: " + err.Error(), Err: err}
}

// enroll answers POST /enroll.
func (s *Server) enroll(p enrollops.EnrollParams) middleware.Responder {
	token := ""
	if p.Token != nil {
		token = p.Token.String()
	}
	return s.enrollByQuery(p.HTTPRequest, str(p.Method), token)
}

// enrollOtt answers POST /enroll/ott.
func (s *Server) enrollOtt(p enrollops.EnrollOttParams) middleware.Responder {
	b := p.OttEnrollment
	return s.enrollOTT(p.HTTPRequest, str(b.Token), []byte(str(b.ClientCsr)), "application/x-pem-file")
}

// enrollOttCa answers POST /enroll/ottca.
func (s *Server) enrollOttCa(p enrollops.EnrollOttCaParams) middleware.Responder {
	return s.enrollOTTCA(p.HTTPRequest, str(p.OttcaEnrollment.Token))
}

// enrollCa answers POST /enroll/ca.
func (s *Server) enrollCa(p enrollops.EnrollCaParams) middleware.Responder {
	return s.enrollCA(p.HTTPRequest, "")
}

// clientEnrollUpdb answers POST /enroll/updb.
func (s *Server) clientEnrollUpdb(p enrollops.EnrollUpdbParams) middleware.Responder {
	b := p.UpdbCredentials
	password := ""
	if b.Password != nil {
		password = string(*b.Password)
	}
	return s.enrollUpdb(p.HTTPRequest, p.Token.String(), string(b.Username), password)
}

// enrollErOtt answers POST /enroll/erott.
func (s *Server) enrollErOtt(p enrollops.EnrollErOttParams) middleware.Responder {
	b := p.RouterEnrollment
	return s.enrollRouter(p.HTTPRequest, str(b.Token), str(b.CertCsr), str(b.ServerCertCsr))
}

// listEnrollmentJwks answers GET /enroll/jwks.
func (s *Server) listEnrollmentJwks(enrollops.ListEnrollmentJwksParams) middleware.Responder {
	signer, err := s.enrollmentSigner(true)
	if err != nil {
		return fail(err)
	}
	body, err := signer.JWKS()
	if err != nil {
		return fail(err)
	}
	return rawBody{status: http.StatusOK, contentType: "application/json", body: body}
}

// clientEnrollmentChallenge answers POST /enroll/challenge.
func (s *Server) clientEnrollmentChallenge(p enrollops.EnrollmentChallengeParams) middleware.Responder {
	return s.enrollmentChallenge(str(p.Challenge.KeyID), p.Challenge.Nonce.String())
}

// listNetworkJwts answers GET /network-jwts.
func (s *Server) listNetworkJwts(enrollmentops.ListNetworkJwtsParams) middleware.Responder {
	signer, err := s.enrollmentSigner(false)
	if err != nil {
		return fail(err)
	}
	jwt, err := signer.Mint(enrollrules.Claims{Issuer: s.issuer(), Subject: networkJWTName, Method: enrollrules.MethodNetwork, Controllers: []string{s.issuer()}})
	if err != nil {
		return fail(err)
	}
	out := []*models.NetworkJwt{{Name: ptr(networkJWTName), Token: ptr(jwt)}}
	return list(out, pagination{Limit: int64(len(out)), TotalCount: int64(len(out))})
}

// networkJWTName names the one network JWT this controller hands out.
const networkJWTName = "default"

// issuer is the iss of every JWT this controller signs: where clients find
// the certificate whose key signed it.
func (s *Server) issuer() string { return "https://" + s.Advertise }

// enrollmentSigner signs with the key of the TLS server certificate; with
// chain, its key set carries the certificate chain (x5c).
func (s *Server) enrollmentSigner(chain bool) (*enrollrules.Signer, error) {
	var certs []*x509.Certificate
	if chain {
		tc, err := s.CA.ServerTLSCertificate()
		if err != nil {
			return nil, fmt.Errorf("server certificate: %w", err)
		}
		for _, der := range tc.Certificate {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("server certificate chain: %w", err)
			}
			certs = append(certs, c)
		}
	}
	return enrollrules.NewSigner(s.CA.ServerSigner(), s.CA.ServerCertKID(), certs...)
}

// enrollmentToken derives an enrollment's one-time token; only its hash is stored.
func (s *Server) enrollmentToken(e *store.Enrollment) string {
	return s.tokens.Token(enrollrules.TokenKind, enrollrules.TokenKey(e))
}

// enrollmentJWT derives an enrollment's token and signs its JWT. The JWT is
// empty if signing fails (the failure is logged).
func (s *Server) enrollmentJWT(e *store.Enrollment) (jwt, token string) {
	token = s.enrollmentToken(e)
	subject := e.IdentityID
	if e.EdgeRouterID != "" {
		subject = e.EdgeRouterID
	}
	signer, err := s.enrollmentSigner(false)
	if err == nil {
		jwt, err = signer.Mint(enrollrules.Claims{Issuer: s.issuer(), Subject: subject, TokenID: token, ExpiresAt: e.ExpiresAt,
			Method: e.Method, Controllers: []string{s.issuer()}})
	}
	if err != nil {
		s.Log.Error("sign enrollment JWT", "enrollment", e.ID, "err", err)
		return "", token
	}
	return jwt, token
}

// caJWT is the JWT of a CA's auto-enrollment (GET /cas/{id}/jwt).
func (s *Server) caJWT(caID string) (string, error) {
	signer, err := s.enrollmentSigner(false)
	if err != nil {
		return "", err
	}
	return signer.Mint(enrollrules.Claims{Issuer: s.issuer(), Subject: caID, TokenID: caID, Method: enrollrules.MethodCA, Controllers: []string{s.issuer()}})
}

// enrollmentChallenge signs a client's nonce with the enrollment key named keyID.
func (s *Server) enrollmentChallenge(keyID, nonce string) middleware.Responder {
	signer, err := s.enrollmentSigner(false)
	if err != nil {
		return fail(err)
	}
	if keyID != signer.KeyID() {
		return fail(errNotFound)
	}
	sig, err := signer.SignChallenge([]byte(nonce))
	if err != nil {
		return fail(err)
	}
	body := models.EnrollmentChallengeResponse{Algorithm: ptr(signer.Algorithm()), Kid: ptr(signer.KeyID()),
		Signature: ptr(base64.StdEncoding.EncodeToString(sig)), CaPool: string(s.CA.CAPEM())}
	return respond{status: http.StatusOK, body: body}
}

// enrollByQuery serves POST /enroll?method=&token=. Without a method, the
// token's enrollment says which it is.
func (s *Server) enrollByQuery(r *http.Request, method, token string) middleware.Responder {
	if method == enrollrules.MethodCA {
		var req struct {
			Name string `json:"name"`
		}
		if err := readJSONBody(r, &req, true); err != nil {
			return fail(err)
		}
		return s.enrollCA(r, req.Name)
	}
	if method == "" {
		e, err := s.pendingEnrollment(token, "")
		if err != nil {
			return fail(err)
		}
		method = e.Method
	}
	switch method {
	case enrollrules.MethodOTT:
		body, contentType, err := readBody(r)
		if err != nil {
			return fail(err)
		}
		if mediaType(contentType) == runtime.JSONMime {
			var req struct {
				ClientCsr string `json:"clientCsr"`
				Csr       string `json:"csr"`
			}
			if err := json.Unmarshal(body, &req); err != nil {
				return fail(validationError("body", "must be a JSON object with clientCsr: "+err.Error(), nil))
			}
			body = []byte(req.ClientCsr)
			if req.ClientCsr == "" {
				body = []byte(req.Csr)
			}
		}
		return s.enrollOTT(r, token, body, contentType)
	case enrollrules.MethodOTTCA:
		return s.enrollOTTCA(r, token)
	case enrollrules.MethodUpdb:
		var req struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		if err := readJSONBody(r, &req, false); err != nil {
			return fail(err)
		}
		return s.enrollUpdb(r, token, req.Username, req.Password)
	case enrollrules.MethodERott:
		var req struct {
			CertCsr       string `json:"certCsr"`
			ServerCertCsr string `json:"serverCertCsr"`
		}
		if err := readJSONBody(r, &req, false); err != nil {
			return fail(err)
		}
		return s.enrollRouter(r, token, req.CertCsr, req.ServerCertCsr)
	}
	return fail(validationError("method", "must be ott, ottca, ca, updb or erott", method))
}

func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

// readBody reads a request body of at most maxEnrollBody bytes.
func readBody(r *http.Request) ([]byte, string, error) {
	if r.Body == nil {
		return nil, r.Header.Get("Content-Type"), nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEnrollBody+1))
	if err != nil {
		return nil, "", validationError("body", "could not be read: "+err.Error(), nil)
	}
	if len(body) > maxEnrollBody {
		return nil, "", validationError("body", fmt.Sprintf("exceeds %d bytes", maxEnrollBody), nil)
	}
	return body, r.Header.Get("Content-Type"), nil
}

// readJSONBody decodes a JSON body into v; an empty body is allowed when optional.
func readJSONBody(r *http.Request, v any, optional bool) error {
	body, contentType, err := readBody(r)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if optional {
			return nil
		}
		return validationError("body", "is required", nil)
	}
	if mt := mediaType(contentType); mt != runtime.JSONMime {
		return &APIError{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedMediaType, Message: "this enrollment method takes application/json, not " + contentType}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return validationError("body", "is not valid JSON for this enrollment method: "+err.Error(), nil)
	}
	return nil
}

// pendingEnrollment finds the enrollment of token and checks it may be used
// with method now. An empty method accepts the enrollment's own.
func (s *Server) pendingEnrollment(token, method string) (*store.Enrollment, error) {
	if token == "" || len(token) > 128 {
		return nil, errInvalidEnrollmentToken
	}
	var e *store.Enrollment
	err := s.State.View(func(tx *store.Tx) error {
		id, found := tx.Lookup(store.Enrollments, "token", auth.TokenHash(token))
		if !found {
			return nil
		}
		rec, err := store.Get[*store.Enrollment](tx, store.Enrollments, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		e = rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	if e != nil && method == "" {
		method = e.Method
	}
	if err := enrollrules.Check(e, method, time.Now()); err != nil {
		if errors.Is(err, enrollrules.ErrExpired) {
			return nil, errEnrollmentExpired
		}
		return nil, errInvalidEnrollmentToken
	}
	return e, nil
}

// consume completes enrollment e through raft with what it enrolls: it
// succeeds for one request only, whichever node serves the others, and the
// entry re-checks the enrollment, its identity or router and its CA.
func (s *Server) consume(r *http.Request, e *store.Enrollment, c *domain.Enroll) error {
	c.EnrollmentID, c.TokenHash, c.Method = e.ID, e.TokenHash, e.Method
	return enrollmentError(s.State.Apply(requestContext(r), c))
}

// enrollmentError maps the failures of completing an enrollment.
func enrollmentError(err error) error {
	var fe *store.FieldError
	switch {
	case err == nil:
		return nil
	case command.IsEnrollmentUsed(err):
		return errInvalidEnrollmentToken
	case command.IsEnrollmentExpired(err):
		return errEnrollmentExpired
	case domain.Is(err, domain.ErrCANotAllowed):
		return errEnrollCert
	case errors.Is(err, store.ErrConflict) && errors.As(err, &fe) && fe.Field == "fingerprint":
		return errCertInUse
	}
	return err
}

// certAuthenticator is a new certificate authenticator for cert; the entry
// that creates it gives it its identity.
func certAuthenticator(cert *x509.Certificate) *store.Authenticator {
	return &store.Authenticator{Meta: store.Meta{ID: state.NewID()}, Method: store.AuthenticatorCert,
		Fingerprint: pki.Fingerprint(cert.Raw), CertPEM: string(pki.EncodeCertificatesPEM(cert))}
}

// enrollOTT signs the CSR of an identity with an ott token.
func (s *Server) enrollOTT(r *http.Request, token string, csrData []byte, contentType string) middleware.Responder {
	e, err := s.pendingEnrollment(token, store.EnrollmentOTT)
	if err != nil {
		return fail(err)
	}
	csr, err := pki.ParseCSR(csrData, contentType)
	if err != nil {
		return fail(csrError(err))
	}
	issued, err := s.signClient(requestContext(r), csr, pki.ClientProfile{CommonName: e.IdentityID})
	if errors.Is(err, pki.ErrInvalidCSR) {
		return fail(csrError(err))
	}
	if err != nil {
		return fail(err)
	}
	// The identity's certificates are replaced by the new one.
	if err := s.consume(r, e, &domain.Enroll{Authenticator: certAuthenticator(issued.Cert)}); err != nil {
		return fail(err)
	}
	return ok(&models.EnrollmentCerts{Cert: string(issued.ChainPEM)})
}

// peerChain is the certificate chain the client presented in the handshake.
func peerChain(r *http.Request) []*x509.Certificate {
	if r == nil || r.TLS == nil {
		return nil
	}
	return r.TLS.PeerCertificates
}

// enrollOTTCA makes the presented certificate of the enrollment's CA the
// identity's authenticator.
func (s *Server) enrollOTTCA(r *http.Request, token string) middleware.Responder {
	e, err := s.pendingEnrollment(token, store.EnrollmentOTTCA)
	if err != nil {
		return fail(err)
	}
	chain := peerChain(r)
	if len(chain) == 0 {
		return fail(errEnrollCert)
	}
	rec, err := s.State.Get(store.CAs, e.CAID)
	if errors.Is(err, store.ErrNotFound) {
		return fail(errInvalidEnrollmentToken)
	}
	if err != nil {
		return fail(err)
	}
	ca := rec.(*store.CA)
	if !ca.IsVerified || !ca.IsOttCaEnrollmentEnabled {
		return fail(errEnrollCert)
	}
	if err := verifyWithCA(chain, ca); err != nil {
		return fail(errEnrollCert)
	}
	if s.fingerprintInUse(chain[0]) {
		return fail(errCertInUse)
	}
	// The entry checks again that the CA allows it and that the certificate
	// is not in use, and replaces the identity's certificates.
	if err := s.consume(r, e, &domain.Enroll{Authenticator: certAuthenticator(chain[0]), CAFingerprint: ca.Fingerprint}); err != nil {
		return fail(err)
	}
	return okEmpty()
}

func verifyWithCA(chain []*x509.Certificate, ca *store.CA) error {
	certs, err := pki.ParseCertificatesPEM([]byte(ca.CertPEM))
	if err != nil {
		return fmt.Errorf("CA %s: %w", ca.ID, err)
	}
	return pki.VerifyClientCertWithCA(chain, certs[0])
}

// fingerprintInUse previews whether an authenticator holds cert, so that a
// client repeating an enrollment it completed costs no log entry; the entry
// decides.
func (s *Server) fingerprintInUse(cert *x509.Certificate) bool {
	used := false
	_ = s.State.View(func(tx *store.Tx) error {
		_, used = tx.Lookup(store.Authenticators, "fingerprint", pki.Fingerprint(cert.Raw))
		return nil
	})
	return used
}

// enrollCA creates an identity for a certificate of a verified CA with
// auto-enrollment on. requestedName fills the [requestedName] placeholder.
func (s *Server) enrollCA(r *http.Request, requestedName string) middleware.Responder {
	chain := peerChain(r)
	if len(chain) == 0 {
		return fail(errEnrollCert)
	}
	var ca *store.CA
	err := s.State.View(func(tx *store.Tx) error {
		return tx.ForEach(store.CAs, func(rec store.Record) error {
			c := rec.(*store.CA)
			if ca == nil && c.IsVerified && c.IsAutoCaEnrollmentEnabled && verifyWithCA(chain, c) == nil {
				ca = c
			}
			return nil
		})
	})
	if err != nil {
		return fail(err)
	}
	if ca == nil {
		return fail(errEnrollCert)
	}
	if s.fingerprintInUse(chain[0]) {
		return fail(errCertInUse)
	}
	identityID := state.NewID()
	name := enrollrules.IdentityName(ca.IdentityNameFormat, enrollrules.NameValues{CAName: ca.Name, CAID: ca.ID,
		CommonName: chain[0].Subject.CommonName, RequestedName: requestedName, IdentityID: identityID})
	if name == "" {
		name = identityID
	}
	// The entry checks again that the CA allows it, and that the
	// certificate and the name are free.
	c := &domain.EnrollWithCA{CAID: ca.ID, CAFingerprint: ca.Fingerprint, IdentityID: identityID, Name: name,
		Authenticator: certAuthenticator(chain[0])}
	if err := enrollmentError(s.State.Apply(requestContext(r), c)); err != nil {
		return fail(err)
	}
	return okEmpty()
}

// enrollUpdb gives the identity a username and password.
func (s *Server) enrollUpdb(r *http.Request, token, username, password string) middleware.Responder {
	e, err := s.pendingEnrollment(token, store.EnrollmentUpdb)
	if err != nil {
		return fail(err)
	}
	if e.Username != "" {
		if username != "" && username != e.Username {
			return fail(validationError("username", "must be the username of the enrollment, or absent", username))
		}
		username = e.Username
	}
	if err := checkUsername("username", username); err != nil {
		return fail(err)
	}
	if err := checkPassword("password", password); err != nil {
		return fail(err)
	}
	hash, err := s.hashPassword(r, password)
	if err != nil {
		return fail(err)
	}
	c := &domain.Enroll{Authenticator: &store.Authenticator{Meta: store.Meta{ID: state.NewID()}, Method: store.AuthenticatorUpdb,
		Username: username, PasswordHash: hash}}
	if err := s.consume(r, e, c); err != nil {
		return fail(err)
	}
	return okEmpty()
}

// enrollRouter signs a router's client and server certificates and records
// them on the router.
func (s *Server) enrollRouter(r *http.Request, token, certCSR, serverCSR string) middleware.Responder {
	e, err := s.pendingEnrollment(token, store.EnrollmentERott)
	if err != nil {
		return fail(err)
	}
	clientReq, err := pki.ParseCSR([]byte(certCSR), "certCsr")
	if err != nil {
		return fail(csrError(err))
	}
	serverReq, err := pki.ParseCSR([]byte(serverCSR), "serverCertCsr")
	if err != nil {
		return fail(csrError(err))
	}
	client, err := s.signClient(requestContext(r), clientReq, pki.ClientProfile{CommonName: e.EdgeRouterID, Lifetime: s.CA.Lifetimes().Router})
	if err != nil {
		return fail(signError(err))
	}
	server, err := s.signServer(requestContext(r), serverReq, pki.ServerProfile{CommonName: e.EdgeRouterID})
	if err != nil {
		return fail(signError(err))
	}
	// The entry records the certificates on the router as it is then.
	c := &domain.Enroll{Router: &domain.RouterCerts{Fingerprint: client.Fingerprint, CertPEM: string(client.PEM), ServerFingerprint: server.Fingerprint}}
	if err := s.consume(r, e, c); err != nil {
		return fail(err)
	}
	return ok(&models.EnrollmentCerts{Cert: string(client.ChainPEM), ServerCert: string(server.ChainPEM), Ca: string(s.CA.CAPEM())})
}

func signError(err error) error {
	if errors.Is(err, pki.ErrInvalidCSR) {
		return csrError(err)
	}
	return err
}
