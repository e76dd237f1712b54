package api

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/strfmt"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/external_j_w_t_signer"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// listExternalJwtSigners answers GET /external-jwt-signers.
func (s *Server) listExternalJwtSigners(p external_j_w_t_signer.ListExternalJwtSignersParams, _ any) middleware.Responder {
	return s.listOf(store.ExternalJWTSigners, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.externalJWTSignerModel)
}

// detailExternalJwtSigner answers GET /external-jwt-signers/{id}.
func (s *Server) detailExternalJwtSigner(p external_j_w_t_signer.DetailExternalJwtSignerParams, _ any) middleware.Responder {
	return s.detailOf(store.ExternalJWTSigners, p.ID, s.externalJWTSignerModel)
}

// createExternalJwtSigner answers POST /external-jwt-signers.
func (s *Server) createExternalJwtSigner(p external_j_w_t_signer.CreateExternalJwtSignerParams, _ any) middleware.Responder {
	b := p.ExternalJwtSigner
	sg := &store.ExternalJWTSigner{Meta: store.Meta{ID: state.NewID(), Tags: tagsIn(b.Tags)}, Name: str(b.Name),
		CertPEM: str(b.CertPem), JWKSEndpoint: uriOf(b.JwksEndpoint), Kid: str(b.Kid), Enabled: boolOf(b.Enabled),
		ExternalAuthURL: uriOf(b.ExternalAuthURL), ClaimsProperty: str(b.ClaimsProperty), UseExternalID: boolOf(b.UseExternalID),
		Issuer: str(b.Issuer), Audience: str(b.Audience), ClientID: str(b.ClientID), Scopes: strs(b.Scopes)}
	if err := checkExternalJWTSigner(sg); err != nil {
		return fail(err)
	}
	return s.createOf(p.HTTPRequest, store.ExternalJWTSigners, sg)
}

// updateExternalJwtSigner answers PUT /external-jwt-signers/{id}.
func (s *Server) updateExternalJwtSigner(p external_j_w_t_signer.UpdateExternalJwtSignerParams, _ any) middleware.Responder {
	b := p.ExternalJwtSigner
	return s.updateOf(p.HTTPRequest, store.ExternalJWTSigners, p.ID, func(r store.Record) error {
		sg := r.(*store.ExternalJWTSigner)
		sg.Name, sg.CertPEM, sg.JWKSEndpoint, sg.Kid = str(b.Name), str(b.CertPem), uriOf(b.JwksEndpoint), str(b.Kid)
		sg.Enabled, sg.ExternalAuthURL, sg.ClaimsProperty = boolOf(b.Enabled), uriOf(b.ExternalAuthURL), str(b.ClaimsProperty)
		sg.UseExternalID, sg.Issuer, sg.Audience = boolOf(b.UseExternalID), str(b.Issuer), str(b.Audience)
		sg.ClientID, sg.Scopes, sg.Tags = str(b.ClientID), strs(b.Scopes), tagsIn(b.Tags)
		return checkExternalJWTSigner(sg)
	})
}

// patchExternalJwtSigner answers PATCH /external-jwt-signers/{id}.
func (s *Server) patchExternalJwtSigner(p external_j_w_t_signer.PatchExternalJwtSignerParams, _ any) middleware.Responder {
	b := p.ExternalJwtSigner
	return s.updateOf(p.HTTPRequest, store.ExternalJWTSigners, p.ID, func(r store.Record) error {
		sg := r.(*store.ExternalJWTSigner)
		setStr(&sg.Name, b.Name)
		if b.CertPem != nil {
			// A certificate replaces a JWKS endpoint, and the reverse.
			sg.CertPEM, sg.JWKSEndpoint = *b.CertPem, ""
		}
		if b.JwksEndpoint != nil {
			sg.JWKSEndpoint, sg.CertPEM = b.JwksEndpoint.String(), ""
		}
		setStr(&sg.Kid, b.Kid)
		setBool(&sg.Enabled, b.Enabled)
		if b.ExternalAuthURL != nil {
			sg.ExternalAuthURL = b.ExternalAuthURL.String()
		}
		setStr(&sg.ClaimsProperty, b.ClaimsProperty)
		setBool(&sg.UseExternalID, b.UseExternalID)
		setStr(&sg.Issuer, b.Issuer)
		setStr(&sg.Audience, b.Audience)
		setStr(&sg.ClientID, b.ClientID)
		if b.Scopes != nil {
			sg.Scopes = strs(b.Scopes)
		}
		if b.Tags != nil {
			sg.Tags = tagsIn(b.Tags)
		}
		if b.CertPem != nil && b.JwksEndpoint != nil {
			return validationError("certPem", "give exactly one of certPem and jwksEndpoint", nil)
		}
		return checkExternalJWTSigner(sg)
	})
}

// deleteExternalJwtSigner answers DELETE /external-jwt-signers/{id}.
func (s *Server) deleteExternalJwtSigner(p external_j_w_t_signer.DeleteExternalJwtSignerParams, _ any) middleware.Responder {
	var usedBy string
	_ = s.State.View(func(tx *store.Tx) error {
		return tx.ForEach(store.AuthPolicies, func(r store.Record) error {
			ap := r.(*store.AuthPolicy)
			if usedBy == "" && (ap.Secondary.RequireExtJWTSigner == p.ID || slices.Contains(ap.Primary.ExtJWTAllowedSigners, p.ID)) {
				usedBy = ap.ID
			}
			return nil
		})
	})
	if usedBy != "" {
		return fail(&APIError{Status: http.StatusConflict, Code: CodeReferenced, Message: "the signer is still named by auth policy " + usedBy,
			Cause: &FieldCause{Field: "id", Reason: "is still referenced by an auth policy", Value: p.ID}})
	}
	return s.deleteOf(p.HTTPRequest, store.ExternalJWTSigners, p.ID)
}

func uriOf(u *strfmt.URI) string {
	if u == nil {
		return ""
	}
	return u.String()
}

func setStr(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

// checkExternalJWTSigner enforces the rules of a signer and computes the
// fingerprint of its certificate.
func checkExternalJWTSigner(sg *store.ExternalJWTSigner) error {
	if sg.Name == "" {
		return validationError("name", "is required", nil)
	}
	if sg.Issuer == "" {
		return validationError("issuer", "is required", nil)
	}
	if sg.Audience == "" {
		return validationError("audience", "is required", nil)
	}
	if (sg.CertPEM == "") == (sg.JWKSEndpoint == "") {
		return validationError("certPem", "give exactly one of certPem and jwksEndpoint", nil)
	}
	sg.Fingerprint = ""
	if sg.CertPEM != "" {
		certs, err := pki.ParseCertificatesPEM([]byte(sg.CertPEM))
		if err != nil {
			return validationError("certPem", "must hold a PEM certificate: "+err.Error(), nil)
		}
		sg.Fingerprint = pki.Fingerprint(certs[0].Raw)
	}
	for _, f := range []struct{ field, raw string }{{"jwksEndpoint", sg.JWKSEndpoint}, {"externalAuthUrl", sg.ExternalAuthURL}} {
		field, raw := f.field, f.raw
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return validationError(field, "must be an http(s) URL", raw)
		}
	}
	return nil
}

func (s *Server) externalJWTSignerModel(_ *store.Tx, rec store.Record) any {
	sg := rec.(*store.ExternalJWTSigner)
	d := &models.ExternalJwtSignerDetail{
		BaseEntity:     baseOf(store.ExternalJWTSigners, &sg.Meta),
		Audience:       ptr(sg.Audience),
		ClaimsProperty: ptr(orDefault(sg.ClaimsProperty, "sub")),
		Enabled:        ptr(sg.Enabled),
		Issuer:         ptr(sg.Issuer),
		Name:           ptr(sg.Name),
		Scopes:         strs(sg.Scopes),
		UseExternalID:  ptr(sg.UseExternalID),
	}
	opt := func(v string) *string {
		if v == "" {
			return nil
		}
		return ptr(v)
	}
	d.ClientID, d.ExternalAuthURL, d.JwksEndpoint, d.Kid = opt(sg.ClientID), opt(sg.ExternalAuthURL), opt(sg.JWKSEndpoint), opt(sg.Kid)
	if sg.CertPEM != "" {
		d.CertPem, d.Fingerprint = ptr(sg.CertPEM), opt(sg.Fingerprint)
		if certs, err := pki.ParseCertificatesPEM([]byte(sg.CertPEM)); err == nil {
			c := certs[0]
			d.CommonName, d.NotBefore, d.NotAfter = ptr(c.Subject.CommonName), dt(c.NotBefore), dt(c.NotAfter)
		}
	}
	return d
}
