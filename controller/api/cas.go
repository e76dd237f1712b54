package api

import (
	"net/http"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/auth"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/certificate_authority"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// CodeInvalidCAVerification is the envelope code of a refused proof of CA possession.
const CodeInvalidCAVerification = "INVALID_CA_VERIFICATION"

// listCas answers GET /cas.
func (s *Server) listCas(p certificate_authority.ListCasParams, _ any) middleware.Responder {
	return s.listOf(store.CAs, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.caModel)
}

// detailCa answers GET /cas/{id}.
func (s *Server) detailCa(p certificate_authority.DetailCaParams, _ any) middleware.Responder {
	return s.detailOf(store.CAs, p.ID, s.caModel)
}

// createCa answers POST /cas.
func (s *Server) createCa(p certificate_authority.CreateCaParams, _ any) middleware.Responder {
	return s.createCA(p.HTTPRequest, p.Ca)
}

// updateCa answers PUT /cas/{id}.
func (s *Server) updateCa(p certificate_authority.UpdateCaParams, _ any) middleware.Responder {
	b := p.Ca
	claim, err := externalIDClaimIn(b.ExternalIDClaim)
	if err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.CAs, p.ID, func(r store.Record) error {
		ca := r.(*store.CA)
		ca.Name = str(b.Name)
		ca.IsAuthEnabled = b.IsAuthEnabled != nil && *b.IsAuthEnabled
		ca.IsAutoCaEnrollmentEnabled = b.IsAutoCaEnrollmentEnabled != nil && *b.IsAutoCaEnrollmentEnabled
		ca.IsOttCaEnrollmentEnabled = b.IsOttCaEnrollmentEnabled != nil && *b.IsOttCaEnrollmentEnabled
		ca.IdentityRoles = strs(b.IdentityRoles)
		ca.IdentityNameFormat = str(b.IdentityNameFormat)
		ca.ExternalIDClaim = claim
		ca.Tags = tagsIn(b.Tags)
		return nil
	})
}

// patchCa answers PATCH /cas/{id}.
func (s *Server) patchCa(p certificate_authority.PatchCaParams, _ any) middleware.Responder {
	b := p.Ca
	claim, err := externalIDClaimIn(b.ExternalIDClaim)
	if err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.CAs, p.ID, func(r store.Record) error {
		ca := r.(*store.CA)
		if b.Name != nil {
			ca.Name = *b.Name
		}
		if b.IsAuthEnabled != nil {
			ca.IsAuthEnabled = *b.IsAuthEnabled
		}
		if b.IsAutoCaEnrollmentEnabled != nil {
			ca.IsAutoCaEnrollmentEnabled = *b.IsAutoCaEnrollmentEnabled
		}
		if b.IsOttCaEnrollmentEnabled != nil {
			ca.IsOttCaEnrollmentEnabled = *b.IsOttCaEnrollmentEnabled
		}
		if b.IdentityRoles != nil {
			ca.IdentityRoles = strs(b.IdentityRoles)
		}
		if b.IdentityNameFormat != nil {
			ca.IdentityNameFormat = *b.IdentityNameFormat
		}
		if claim != nil {
			ca.ExternalIDClaim = claim
		}
		if b.Tags != nil {
			ca.Tags = tagsIn(b.Tags)
		}
		return nil
	})
}

// deleteCa answers DELETE /cas/{id}.
func (s *Server) deleteCa(p certificate_authority.DeleteCaParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.CAs, p.ID)
}

// verifyCa answers POST /cas/{id}/verify.
func (s *Server) verifyCa(p certificate_authority.VerifyCaParams, _ any) middleware.Responder {
	return s.verifyCA(p.HTTPRequest, p.ID, p.Certificate)
}

// getCaJwt answers GET /cas/{id}/jwt.
func (s *Server) getCaJwt(p certificate_authority.GetCaJwtParams, _ any) middleware.Responder {
	if !s.State.Exists(store.CAs, p.ID) {
		return fail(errNotFound)
	}
	jwt, err := s.caJWT(p.ID)
	if err != nil {
		return fail(err)
	}
	return rawBody{status: http.StatusOK, contentType: "application/jwt", body: []byte(jwt)}
}

// parseCACert parses a PEM CA certificate: the first certificate must be a CA.
func parseCACert(field, certPEM string) (fingerprint string, err error) {
	certs, err := pki.ParseCertificatesPEM([]byte(certPEM))
	if err != nil {
		return "", validationError(field, "must hold a PEM certificate: "+err.Error(), nil)
	}
	c := certs[0]
	if !c.BasicConstraintsValid || !c.IsCA {
		return "", validationError(field, "the certificate is not a CA certificate", nil)
	}
	return pki.Fingerprint(c.Raw), nil
}

func externalIDClaimIn(c *models.CaExternalIDClaim) (*store.ExternalIDClaim, error) {
	if c == nil {
		return nil, nil
	}
	out := &store.ExternalIDClaim{Location: str(c.Location), Matcher: str(c.Matcher), MatcherCriteria: c.MatcherCriteria,
		Parser: str(c.Parser), ParserCriteria: c.ParserCriteria}
	if c.Index != nil {
		out.Index = *c.Index
	}
	if out.Index < 0 {
		return nil, validationError("externalIdClaim.index", "must not be negative", out.Index)
	}
	if out.Matcher != "ALL" && out.MatcherCriteria == "" {
		return nil, validationError("externalIdClaim.matcherCriteria", "is required unless the matcher is ALL", nil)
	}
	if out.Parser == "SPLIT" && out.ParserCriteria == "" {
		return nil, validationError("externalIdClaim.parserCriteria", "is required with the SPLIT parser", nil)
	}
	return out, nil
}

func externalIDClaimOut(c *store.ExternalIDClaim) *models.CaExternalIDClaim {
	if c == nil {
		return nil
	}
	return &models.CaExternalIDClaim{Location: ptr(c.Location), Matcher: ptr(c.Matcher), MatcherCriteria: c.MatcherCriteria,
		Parser: ptr(c.Parser), ParserCriteria: c.ParserCriteria, Index: ptr(c.Index)}
}

func (s *Server) createCA(r *http.Request, b *models.CaCreate) middleware.Responder {
	fingerprint, err := parseCACert("certPem", str(b.CertPem))
	if err != nil {
		return fail(err)
	}
	claim, err := externalIDClaimIn(b.ExternalIDClaim)
	if err != nil {
		return fail(err)
	}
	ca := &store.CA{Meta: store.Meta{ID: state.NewID(), Tags: tagsIn(b.Tags)}, Name: str(b.Name), CertPEM: str(b.CertPem),
		Fingerprint: fingerprint, VerificationToken: auth.NewToken(),
		IsAutoCaEnrollmentEnabled: b.IsAutoCaEnrollmentEnabled != nil && *b.IsAutoCaEnrollmentEnabled,
		IsOttCaEnrollmentEnabled:  b.IsOttCaEnrollmentEnabled != nil && *b.IsOttCaEnrollmentEnabled,
		IsAuthEnabled:             b.IsAuthEnabled != nil && *b.IsAuthEnabled,
		IdentityRoles:             strs(b.IdentityRoles), IdentityNameFormat: b.IdentityNameFormat, ExternalIDClaim: claim}
	return s.createOf(r, store.CAs, ca)
}

// verifyCA checks a proof of possession of the CA's key and marks it verified.
func (s *Server) verifyCA(r *http.Request, id, proofPEM string) middleware.Responder {
	rec, err := s.State.Get(store.CAs, id)
	if err != nil {
		return fail(err)
	}
	ca := rec.(*store.CA)
	if ca.IsVerified {
		return okEmpty()
	}
	if err := pki.VerifyCAOwnership([]byte(ca.CertPEM), []byte(proofPEM), ca.VerificationToken); err != nil {
		return fail(&APIError{Status: http.StatusBadRequest, Code: CodeInvalidCAVerification,
			Message: "the certificate does not prove possession of the CA: " + err.Error(), Err: err})
	}
	return s.updateOf(r, store.CAs, id, func(r store.Record) error {
		r.(*store.CA).IsVerified = true
		return nil
	})
}

func (s *Server) caModel(_ *store.Tx, rec store.Record) any {
	ca := rec.(*store.CA)
	d := &models.CaDetail{
		BaseEntity:                baseOf(store.CAs, &ca.Meta),
		CertPem:                   ptr(ca.CertPEM),
		ExternalIDClaim:           externalIDClaimOut(ca.ExternalIDClaim),
		Fingerprint:               ptr(ca.Fingerprint),
		IdentityNameFormat:        ptr(ca.IdentityNameFormat),
		IdentityRoles:             strs(ca.IdentityRoles),
		IsAuthEnabled:             ptr(ca.IsAuthEnabled),
		IsAutoCaEnrollmentEnabled: ptr(ca.IsAutoCaEnrollmentEnabled),
		IsOttCaEnrollmentEnabled:  ptr(ca.IsOttCaEnrollmentEnabled),
		IsVerified:                ptr(ca.IsVerified),
		Name:                      ptr(ca.Name),
	}
	if !ca.IsVerified {
		d.VerificationToken = ptr(ca.VerificationToken)
	}
	return d
}
