package api

import (
	"net/http"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/auth_policy"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// DefaultAuthPolicyID is the id of the built-in auth policy, used by
// identities that name none.
const DefaultAuthPolicyID = "default"

// DefaultAuthPolicy is the built-in auth policy: certificates, passwords and
// external JWTs from any signer, no second factor.
func DefaultAuthPolicy() *store.AuthPolicy {
	return &store.AuthPolicy{
		Meta: store.Meta{ID: DefaultAuthPolicyID},
		Name: "Default",
		Primary: store.AuthPolicyPrimary{
			CertAllowed:       true,
			CertAllowExpired:  false,
			UpdbAllowed:       true,
			MinPasswordLength: minPasswordLength,
			ExtJWTAllowed:     true,
		},
	}
}

// listAuthPolicies answers GET /auth-policies.
func (s *Server) listAuthPolicies(p auth_policy.ListAuthPoliciesParams, _ any) middleware.Responder {
	return s.listOf(store.AuthPolicies, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.authPolicyModel)
}

// detailAuthPolicy answers GET /auth-policies/{id}.
func (s *Server) detailAuthPolicy(p auth_policy.DetailAuthPolicyParams, _ any) middleware.Responder {
	return s.detailOf(store.AuthPolicies, p.ID, s.authPolicyModel)
}

// createAuthPolicy answers POST /auth-policies.
func (s *Server) createAuthPolicy(p auth_policy.CreateAuthPolicyParams, _ any) middleware.Responder {
	b := p.AuthPolicy
	ap := &store.AuthPolicy{Meta: store.Meta{ID: state.NewID(), Tags: tagsIn(b.Tags)}, Name: str(b.Name)}
	if err := s.applyAuthPolicy(ap, b.Primary, b.Secondary); err != nil {
		return fail(err)
	}
	return s.createOf(p.HTTPRequest, store.AuthPolicies, ap)
}

// updateAuthPolicy answers PUT /auth-policies/{id}.
func (s *Server) updateAuthPolicy(p auth_policy.UpdateAuthPolicyParams, _ any) middleware.Responder {
	b := p.AuthPolicy
	next := &store.AuthPolicy{}
	if err := s.applyAuthPolicy(next, b.Primary, b.Secondary); err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.AuthPolicies, p.ID, func(r store.Record) error {
		ap := r.(*store.AuthPolicy)
		ap.Name = str(b.Name)
		ap.Primary, ap.Secondary = next.Primary, next.Secondary
		ap.Tags = tagsIn(b.Tags)
		return nil
	})
}

// handlePatchAuthPolicy answers PATCH /auth-policies/{id}.
func (s *Server) handlePatchAuthPolicy(p auth_policy.PatchAuthPolicyParams, _ any) middleware.Responder {
	return s.patchAuthPolicy(p.HTTPRequest, p.ID, p.AuthPolicy)
}

// deleteAuthPolicy answers DELETE /auth-policies/{id}.
func (s *Server) deleteAuthPolicy(p auth_policy.DeleteAuthPolicyParams, _ any) middleware.Responder {
	if p.ID == DefaultAuthPolicyID {
		return fail(&APIError{Status: http.StatusConflict, Code: CodeConflict, Message: "the default auth policy cannot be deleted"})
	}
	return s.deleteOf(p.HTTPRequest, store.AuthPolicies, p.ID)
}

// applyAuthPolicy sets the primary and secondary rules of ap from a full
// (create or update) document.
func (s *Server) applyAuthPolicy(ap *store.AuthPolicy, pr *models.AuthPolicyPrimary, sec *models.AuthPolicySecondary) error {
	if pr == nil || pr.Cert == nil || pr.Updb == nil || pr.ExtJwt == nil {
		return validationError("primary", "cert, updb and extJwt are required", nil)
	}
	if sec == nil {
		return validationError("secondary", "is required", nil)
	}
	c, u, j := pr.Cert, pr.Updb, pr.ExtJwt
	ap.Primary = store.AuthPolicyPrimary{
		CertAllowed:            boolOf(c.Allowed),
		CertAllowExpired:       boolOf(c.AllowExpiredCerts),
		UpdbAllowed:            boolOf(u.Allowed),
		MinPasswordLength:      int64Of(u.MinPasswordLength),
		RequireSpecialChar:     boolOf(u.RequireSpecialChar),
		RequireNumberChar:      boolOf(u.RequireNumberChar),
		RequireMixedCase:       boolOf(u.RequireMixedCase),
		MaxAttempts:            int64Of(u.MaxAttempts),
		LockoutDurationMinutes: int64Of(u.LockoutDurationMinutes),
		ExtJWTAllowed:          boolOf(j.Allowed),
		ExtJWTAllowedSigners:   strs(j.AllowedSigners),
	}
	ap.Secondary = store.AuthPolicySecondary{RequireTOTP: boolOf(sec.RequireTotp), RequireExtJWTSigner: str(sec.RequireExtJwtSigner)}
	return s.checkAuthPolicy(ap)
}

func (s *Server) patchAuthPolicy(r *http.Request, id string, b *models.AuthPolicyPatch) middleware.Responder {
	return s.updateOf(r, store.AuthPolicies, id, func(rec store.Record) error {
		ap := rec.(*store.AuthPolicy)
		if b.Name != nil {
			ap.Name = *b.Name
		}
		if b.Tags != nil {
			ap.Tags = tagsIn(b.Tags)
		}
		if pr := b.Primary; pr != nil {
			if c := pr.Cert; c != nil {
				setBool(&ap.Primary.CertAllowed, c.Allowed)
				setBool(&ap.Primary.CertAllowExpired, c.AllowExpiredCerts)
			}
			if u := pr.Updb; u != nil {
				setBool(&ap.Primary.UpdbAllowed, u.Allowed)
				setInt64(&ap.Primary.MinPasswordLength, u.MinPasswordLength)
				setBool(&ap.Primary.RequireSpecialChar, u.RequireSpecialChar)
				setBool(&ap.Primary.RequireNumberChar, u.RequireNumberChar)
				setBool(&ap.Primary.RequireMixedCase, u.RequireMixedCase)
				setInt64(&ap.Primary.MaxAttempts, u.MaxAttempts)
				setInt64(&ap.Primary.LockoutDurationMinutes, u.LockoutDurationMinutes)
			}
			if j := pr.ExtJwt; j != nil {
				setBool(&ap.Primary.ExtJWTAllowed, j.Allowed)
				if j.AllowedSigners != nil {
					ap.Primary.ExtJWTAllowedSigners = strs(j.AllowedSigners)
				}
			}
		}
		if sec := b.Secondary; sec != nil {
			setBool(&ap.Secondary.RequireTOTP, sec.RequireTotp)
			if sec.RequireExtJwtSigner != nil {
				ap.Secondary.RequireExtJWTSigner = *sec.RequireExtJwtSigner
			}
		}
		return s.checkAuthPolicy(ap)
	})
}

// checkAuthPolicy enforces what the schema cannot: bounds and that the
// signers named exist.
func (s *Server) checkAuthPolicy(ap *store.AuthPolicy) error {
	p := ap.Primary
	if p.MinPasswordLength < minPasswordLength || p.MinPasswordLength > maxPasswordLength {
		return validationError("primary.updb.minPasswordLength", "must be 5 to 100", p.MinPasswordLength)
	}
	if p.MaxAttempts < 0 {
		return validationError("primary.updb.maxAttempts", "must not be negative", p.MaxAttempts)
	}
	if p.LockoutDurationMinutes < 0 {
		return validationError("primary.updb.lockoutDurationMinutes", "must not be negative", p.LockoutDurationMinutes)
	}
	return s.State.View(func(tx *store.Tx) error {
		for _, id := range p.ExtJWTAllowedSigners {
			if !tx.Exists(store.ExternalJWTSigners, id) {
				return validationError("primary.extJwt.allowedSigners", "names no existing external JWT signer", id)
			}
		}
		if id := ap.Secondary.RequireExtJWTSigner; id != "" && !tx.Exists(store.ExternalJWTSigners, id) {
			return validationError("secondary.requireExtJwtSigner", "names no existing external JWT signer", id)
		}
		return nil
	})
}

func boolOf(b *bool) bool { return b != nil && *b }

func int64Of(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

func setInt64(dst *int64, v *int64) {
	if v != nil {
		*dst = *v
	}
}

func (s *Server) authPolicyModel(_ *store.Tx, rec store.Record) any {
	ap := rec.(*store.AuthPolicy)
	p := ap.Primary
	d := &models.AuthPolicyDetail{
		BaseEntity: baseOf(store.AuthPolicies, &ap.Meta),
		Name:       ptr(ap.Name),
		Primary: &models.AuthPolicyPrimary{
			Cert: &models.AuthPolicyPrimaryCert{Allowed: ptr(p.CertAllowed), AllowExpiredCerts: ptr(p.CertAllowExpired)},
			Updb: &models.AuthPolicyPrimaryUpdb{
				Allowed:                ptr(p.UpdbAllowed),
				MinPasswordLength:      ptr(p.MinPasswordLength),
				RequireSpecialChar:     ptr(p.RequireSpecialChar),
				RequireNumberChar:      ptr(p.RequireNumberChar),
				RequireMixedCase:       ptr(p.RequireMixedCase),
				MaxAttempts:            ptr(p.MaxAttempts),
				LockoutDurationMinutes: ptr(p.LockoutDurationMinutes),
			},
			ExtJwt: &models.AuthPolicyPrimaryExtJwt{Allowed: ptr(p.ExtJWTAllowed), AllowedSigners: strs(p.ExtJWTAllowedSigners)},
		},
		Secondary: &models.AuthPolicySecondary{RequireTotp: ptr(ap.Secondary.RequireTOTP)},
	}
	if ap.Secondary.RequireExtJWTSigner != "" {
		d.Secondary.RequireExtJwtSigner = ptr(ap.Secondary.RequireExtJWTSigner)
	}
	return d
}
