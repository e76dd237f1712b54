package api

import (
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/strfmt"

	"github.com/ostium-net/ostium/controller/auth"
	"github.com/ostium-net/ostium/controller/domain"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/identity"
	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// DefaultEnrollmentLifetime is how long a new enrollment token stays valid.
const DefaultEnrollmentLifetime = 3 * time.Hour

// listIdentities answers GET /identities.
func (s *Server) listIdentities(p identity.ListIdentitiesParams, _ any) middleware.Responder {
	return s.listOf(store.Identities, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.identityModel)
}

// detailIdentity answers GET /identities/{id}.
func (s *Server) detailIdentity(p identity.DetailIdentityParams, _ any) middleware.Responder {
	return s.detailOf(store.Identities, p.ID, s.identityModel)
}

// handleCreateIdentity answers POST /identities.
func (s *Server) handleCreateIdentity(p identity.CreateIdentityParams, _ any) middleware.Responder {
	return s.createIdentity(p.HTTPRequest, p.Identity)
}

// updateIdentity answers PUT /identities/{id}.
func (s *Server) updateIdentity(p identity.UpdateIdentityParams, _ any) middleware.Responder {
	b := p.Identity
	return s.updateOf(p.HTTPRequest, store.Identities, p.ID, func(r store.Record) error {
		i := r.(*store.Identity)
		i.Name = str(b.Name)
		i.Type = string(*b.Type)
		i.IsAdmin = b.IsAdmin != nil && *b.IsAdmin
		i.RoleAttributes = strs(b.RoleAttributes)
		i.AuthPolicyID = str(b.AuthPolicyID)
		i.ExternalID = str(b.ExternalID)
		i.DefaultHostingCost = 0
		if b.DefaultHostingCost != nil {
			i.DefaultHostingCost = uint16(*b.DefaultHostingCost)
		}
		i.DefaultHostingPrecedence = string(b.DefaultHostingPrecedence)
		i.ServiceHostingCosts = costMap(b.ServiceHostingCosts)
		i.ServiceHostingPrecedences = precedenceMap(b.ServiceHostingPrecedences)
		i.AppData = tagsIn(b.AppData)
		i.Tags = tagsIn(b.Tags)
		return nil
	})
}

// patchIdentity answers PATCH /identities/{id}.
func (s *Server) patchIdentity(p identity.PatchIdentityParams, _ any) middleware.Responder {
	b := p.Identity
	return s.updateOf(p.HTTPRequest, store.Identities, p.ID, func(r store.Record) error {
		i := r.(*store.Identity)
		if b.Name != nil {
			i.Name = *b.Name
		}
		if b.Type != nil {
			if !validIdentityType(*b.Type) {
				return validationError("type", "must be one of Default, User, Device, Service", *b.Type)
			}
			i.Type = *b.Type
		}
		if b.IsAdmin != nil {
			i.IsAdmin = *b.IsAdmin
		}
		if b.RoleAttributes != nil {
			i.RoleAttributes = strs(b.RoleAttributes)
		}
		if b.AuthPolicyID != nil {
			i.AuthPolicyID = *b.AuthPolicyID
		}
		if b.ExternalID != nil {
			i.ExternalID = *b.ExternalID
		}
		if b.DefaultHostingCost != nil {
			if *b.DefaultHostingCost < 0 || *b.DefaultHostingCost > 65535 {
				return validationError("defaultHostingCost", "must be 0 to 65535", *b.DefaultHostingCost)
			}
			i.DefaultHostingCost = uint16(*b.DefaultHostingCost)
		}
		if b.DefaultHostingPrecedence != nil {
			i.DefaultHostingPrecedence = *b.DefaultHostingPrecedence
		}
		if b.ServiceHostingCosts != nil {
			i.ServiceHostingCosts = costMap(b.ServiceHostingCosts)
		}
		if b.ServiceHostingPrecedences != nil {
			i.ServiceHostingPrecedences = precedenceMap(b.ServiceHostingPrecedences)
		}
		if b.AppData != nil {
			i.AppData = tagsIn(b.AppData)
		}
		if b.Tags != nil {
			i.Tags = tagsIn(b.Tags)
		}
		return nil
	})
}

// deleteIdentity answers DELETE /identities/{id}.
func (s *Server) deleteIdentity(p identity.DeleteIdentityParams, _ any) middleware.Responder {
	if rec, err := s.State.Get(store.Identities, p.ID); err == nil && rec.(*store.Identity).IsDefaultAdmin {
		return fail(&APIError{Status: 409, Code: CodeConflict, Message: "the default admin cannot be deleted"})
	}
	return s.deleteOf(p.HTTPRequest, store.Identities, p.ID)
}

// disableIdentity answers POST /identities/{id}/disable.
func (s *Server) disableIdentity(p identity.DisableIdentityParams, pr any) middleware.Responder {
	var minutes int64
	if p.Disable != nil && p.Disable.DurationMinutes != nil {
		minutes = *p.Disable.DurationMinutes
	}
	if minutes < 0 {
		return fail(validationError("durationMinutes", "must not be negative", minutes))
	}
	if minutes > int64(math.MaxInt64/time.Minute) {
		return fail(validationError("durationMinutes", "is too large", minutes))
	}
	c := &domain.DisableIdentity{IdentityID: p.ID, For: time.Duration(minutes) * time.Minute}
	if caller := principalOf(pr); caller != nil && caller.Identity != nil {
		c.By = caller.Identity.ID
	}
	// The API sessions read here are only for this node's activity
	// tracker; the entry ends those there when it applies (and with them
	// their sessions, which routers are told to close).
	var apiSessions []string
	_ = s.State.View(func(tx *store.Tx) error {
		apiSessions = tx.Referencing(store.APISessions, "identityId", p.ID)
		return nil
	})
	err := s.State.Apply(requestContext(p.HTTPRequest), c)
	if domain.Is(err, domain.ErrSelfDisable) {
		return fail(&APIError{Status: 409, Code: CodeConflict, Message: "an admin cannot disable itself"})
	}
	if err != nil {
		return fail(err)
	}
	for _, id := range apiSessions {
		s.Activity.Forget(id)
	}
	return okEmpty()
}

// enableIdentity answers POST /identities/{id}/enable.
func (s *Server) enableIdentity(p identity.EnableIdentityParams, _ any) middleware.Responder {
	return s.updateOf(p.HTTPRequest, store.Identities, p.ID, func(r store.Record) error {
		i := r.(*store.Identity)
		i.Disabled, i.DisabledAt, i.DisabledUntil = false, nil, nil
		return nil
	})
}

// removeIdentityMfa answers DELETE /identities/{id}/mfa.
func (s *Server) removeIdentityMfa(p identity.RemoveIdentityMfaParams, _ any) middleware.Responder {
	// Removing an enrollment that does not exist succeeds, as long as the identity does.
	if !s.State.Exists(store.Identities, p.ID) {
		return fail(errNotFound)
	}
	m, found := s.loadMFA(p.ID)
	if !found {
		return okEmpty()
	}
	if err := s.State.Delete(requestContext(p.HTTPRequest), store.MFAs, m.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fail(err)
	}
	return okEmpty()
}

// Related lists: what policy grants this identity.

// listIdentityServices answers GET /identities/{id}/services.
func (s *Server) listIdentityServices(p identity.ListIdentityServicesParams, _ any) middleware.Responder {
	if !s.State.Exists(store.Identities, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.Services, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return keys(policy.IdentityServices(tx, p.ID))
	}, s.serviceAdminModel)
}

// listIdentityEdgeRouters answers GET /identities/{id}/edge-routers.
func (s *Server) listIdentityEdgeRouters(p identity.ListIdentityEdgeRoutersParams, _ any) middleware.Responder {
	if !s.State.Exists(store.Identities, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.EdgeRouters, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return policy.IdentityEdgeRouters(tx, p.ID)
	}, s.edgeRouterModel)
}

// listIdentityServicePolicies answers GET /identities/{id}/service-policies.
func (s *Server) listIdentityServicePolicies(p identity.ListIdentityServicePoliciesParams, _ any) middleware.Responder {
	if !s.State.Exists(store.Identities, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.ServicePolicies, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return tx.Sources(store.ServicePolicyIdentities, p.ID)
	}, s.servicePolicyModel)
}

// listIdentityEdgeRouterPolicies answers GET /identities/{id}/edge-router-policies.
func (s *Server) listIdentityEdgeRouterPolicies(p identity.ListIdentityEdgeRouterPoliciesParams, _ any) middleware.Responder {
	if !s.State.Exists(store.Identities, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.EdgeRouterPolicies, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return tx.Sources(store.EdgeRouterPolicyIdentities, p.ID)
	}, s.edgeRouterPolicyModel)
}

// listIdentityAuthenticators answers GET /identities/{id}/authenticators.
func (s *Server) listIdentityAuthenticators(p identity.ListIdentityAuthenticatorsParams, _ any) middleware.Responder {
	if !s.State.Exists(store.Identities, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.Authenticators, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return tx.Referencing(store.Authenticators, "identityId", p.ID)
	}, s.authenticatorModel)
}

// listIdentityEnrollments answers GET /identities/{id}/enrollments.
func (s *Server) listIdentityEnrollments(p identity.ListIdentityEnrollmentsParams, _ any) middleware.Responder {
	if !s.State.Exists(store.Identities, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.Enrollments, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return tx.Referencing(store.Enrollments, "identityId", p.ID)
	}, s.enrollmentModel)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func validIdentityType(t string) bool {
	switch t {
	case store.IdentityTypeDefault, store.IdentityTypeUser, store.IdentityTypeDevice, store.IdentityTypeService:
		return true
	}
	return false
}

func costMap(m models.TerminatorCostMap) map[string]uint16 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]uint16, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = uint16(*v)
		}
	}
	return out
}

func precedenceMap(m models.TerminatorPrecedenceMap) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// newEnrollment builds a pending enrollment. Its token is derived from it
// (see enrollmentToken) and stored only as a hash.
func (s *Server) newEnrollment(method, identityID string, now time.Time) *store.Enrollment {
	e := &store.Enrollment{Meta: store.Meta{ID: state.NewID()}, Method: method, IdentityID: identityID,
		ExpiresAt: now.Add(DefaultEnrollmentLifetime)}
	e.TokenHash = auth.TokenHash(s.enrollmentToken(e))
	return e
}

func (s *Server) createIdentity(r *http.Request, b *models.IdentityCreate) middleware.Responder {
	now := time.Now().UTC()
	i := &store.Identity{Meta: store.Meta{ID: state.NewID(), Tags: tagsIn(b.Tags)}, Name: str(b.Name), Type: string(*b.Type),
		IsAdmin: b.IsAdmin != nil && *b.IsAdmin, RoleAttributes: strs(b.RoleAttributes), AuthPolicyID: str(b.AuthPolicyID),
		ExternalID: str(b.ExternalID), DefaultHostingPrecedence: string(b.DefaultHostingPrecedence),
		ServiceHostingCosts: costMap(b.ServiceHostingCosts), ServiceHostingPrecedences: precedenceMap(b.ServiceHostingPrecedences),
		AppData: tagsIn(b.AppData)}
	if b.DefaultHostingCost != nil {
		i.DefaultHostingCost = uint16(*b.DefaultHostingCost)
	}
	c := &domain.CreateIdentity{Identity: i}
	if e := b.Enrollment; e != nil {
		if e.Ott {
			c.Enrollments = append(c.Enrollments, s.newEnrollment(store.EnrollmentOTT, i.ID, now))
		}
		if e.Ottca != "" {
			en := s.newEnrollment(store.EnrollmentOTTCA, i.ID, now)
			en.CAID = e.Ottca
			c.Enrollments = append(c.Enrollments, en)
		}
		if e.Updb != "" {
			if len(e.Updb) < 4 || len(e.Updb) > 100 {
				return fail(validationError("enrollment.updb", "the username must be 4 to 100 characters", e.Updb))
			}
			en := s.newEnrollment(store.EnrollmentUpdb, i.ID, now)
			en.Username = e.Updb
			c.Enrollments = append(c.Enrollments, en)
		}
		if len(c.Enrollments) > 1 {
			return fail(validationError("enrollment", "name at most one of ott, ottca and updb", nil))
		}
	}
	// The entry checks again that the name is free.
	o, err := s.State.ApplyOutcome(requestContext(r), c)
	if err != nil {
		return fail(err)
	}
	id := state.CreatedID(o, i.ID)
	return created(id, selfLink(store.Identities, id))
}

func (s *Server) identityModel(tx *store.Tx, rec store.Record) any {
	i := rec.(*store.Identity)
	d := &models.IdentityDetail{
		BaseEntity:                baseOf(store.Identities, &i.Meta),
		Name:                      ptr(i.Name),
		IsAdmin:                   ptr(i.IsAdmin),
		IsDefaultAdmin:            ptr(i.IsDefaultAdmin),
		RoleAttributes:            strs(i.RoleAttributes),
		ExternalID:                ptr(i.ExternalID),
		AuthPolicyID:              ptr(i.AuthPolicyID),
		DefaultHostingCost:        ptr(models.TerminatorCost(i.DefaultHostingCost)),
		DefaultHostingPrecedence:  ptr(models.TerminatorPrecedence(orDefault(i.DefaultHostingPrecedence, "default"))),
		Disabled:                  ptr(i.Disabled),
		DisabledAt:                dtOpt(i.DisabledAt),
		DisabledUntil:             dtOpt(i.DisabledUntil),
		TypeID:                    ptr(i.Type),
		Type:                      identityTypeRef(i.Type),
		AppData:                   models.Tags(i.AppData),
		ServiceHostingCosts:       models.TerminatorCostMap{},
		ServiceHostingPrecedences: models.TerminatorPrecedenceMap{},
		HasAPISession:             ptr(len(tx.Referencing(store.APISessions, "identityId", i.ID)) > 0),
		HasEdgeRouterConnection:   ptr(s.hasRouterConnection(tx, i.ID, time.Now())),
		IsMfaEnabled:              ptr(mfaEnabled(tx, i.ID)),
		Authenticators:            &models.IdentityAuthenticators{},
		Enrollment:                &models.IdentityEnrollments{},
		EnvInfo:                   envInfoModel(i.EnvInfo),
		SdkInfo:                   sdkInfoModel(i.SDKInfo),
	}
	if i.AuthPolicyID != "" {
		d.AuthPolicy = refOf(store.AuthPolicies, i.AuthPolicyID, nameOf(tx, store.AuthPolicies, i.AuthPolicyID))
	}
	for k, v := range i.ServiceHostingCosts {
		d.ServiceHostingCosts[k] = ptr(models.TerminatorCost(v))
	}
	for k, v := range i.ServiceHostingPrecedences {
		d.ServiceHostingPrecedences[k] = models.TerminatorPrecedence(v)
	}
	for _, aid := range tx.Referencing(store.Authenticators, "identityId", i.ID) {
		a, err := store.Get[*store.Authenticator](tx, store.Authenticators, aid)
		if err != nil {
			continue
		}
		switch a.Method {
		case store.AuthenticatorCert:
			d.Authenticators.Cert = &models.IdentityCertAuthenticator{ID: a.ID, Fingerprint: a.Fingerprint}
		case store.AuthenticatorUpdb:
			d.Authenticators.Updb = &models.IdentityUpdbAuthenticator{ID: a.ID, Username: a.Username}
		}
	}
	for _, eid := range tx.Referencing(store.Enrollments, "identityId", i.ID) {
		e, err := store.Get[*store.Enrollment](tx, store.Enrollments, eid)
		if err != nil {
			continue
		}
		pending := &models.IdentityPendingEnrollment{ID: e.ID, ExpiresAt: strfmt.DateTime(e.ExpiresAt)}
		pending.Jwt, pending.Token = s.enrollmentJWT(e)
		switch e.Method {
		case store.EnrollmentOTT:
			d.Enrollment.Ott = pending
		case store.EnrollmentOTTCA:
			pending.CaID = e.CAID
			d.Enrollment.Ottca = pending
		case store.EnrollmentUpdb:
			d.Enrollment.Updb = pending
		}
	}
	return d
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func envInfoModel(m map[string]any) *models.EnvInfo {
	out := &models.EnvInfo{}
	if m == nil {
		return out
	}
	get := func(k string) string { v, _ := m[k].(string); return v }
	out.Arch, out.Os, out.OsRelease, out.OsVersion = get("arch"), get("os"), get("osRelease"), get("osVersion")
	return out
}

func sdkInfoModel(m map[string]any) *models.SdkInfo {
	out := &models.SdkInfo{}
	if m == nil {
		return out
	}
	get := func(k string) string { v, _ := m[k].(string); return v }
	out.AppID, out.AppVersion, out.Branch, out.Revision, out.Type, out.Version = get("appId"), get("appVersion"), get("branch"), get("revision"), get("type"), get("version")
	return out
}
