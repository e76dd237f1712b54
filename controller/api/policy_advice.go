package api

import (
	"time"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/advisor"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/identity"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// Policy advice: GET /identities/{id}/policy-advice/{serviceId} explains
// whether the identity can dial or bind the service (package advisor).

// getIdentityPolicyAdvice answers GET /identities/{id}/policy-advice/{serviceId}.
func (s *Server) getIdentityPolicyAdvice(p identity.GetIdentityPolicyAdviceParams, _ any) middleware.Responder {
	var out *models.PolicyAdvice
	err := s.State.View(func(tx *store.Tx) error {
		if !tx.Exists(store.Identities, p.ID) || !tx.Exists(store.Services, p.ServiceID) {
			return errNotFound
		}
		out = s.policyAdviceModel(tx, advisor.Advise(tx, p.ID, p.ServiceID, s.routers().Online, time.Now()))
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return ok(out)
}

func (s *Server) policyAdviceModel(tx *store.Tx, a *advisor.Advice) *models.PolicyAdvice {
	refs := func(k *store.Kind, ids []string) []*models.EntityRef {
		out := make([]*models.EntityRef, 0, len(ids))
		for _, id := range ids {
			out = append(out, refOf(k, id, nameOf(tx, k, id)))
		}
		return out
	}
	m := &models.PolicyAdvice{
		IdentityID:                ptr(a.IdentityID),
		Identity:                  refOf(store.Identities, a.IdentityID, nameOf(tx, store.Identities, a.IdentityID)),
		ServiceID:                 ptr(a.ServiceID),
		Service:                   refOf(store.Services, a.ServiceID, nameOf(tx, store.Services, a.ServiceID)),
		IsDialAllowed:             ptr(a.Dial.Allowed),
		IsBindAllowed:             ptr(a.Bind.Allowed),
		IdentityRouterCount:       ptr(int64(a.IdentityRouterCount)),
		ServiceRouterCount:        ptr(int64(a.ServiceRouterCount)),
		CommonRouters:             []*models.RouterEntityRef{},
		IsIdentityDisabled:        ptr(a.IdentityDisabled),
		EdgeRouterPolicies:        refs(store.EdgeRouterPolicies, a.EdgeRouterPolicies),
		ServiceEdgeRouterPolicies: refs(store.ServiceEdgeRouterPolicies, a.ServiceEdgeRouterPolicies),
		PostureAPISessionID:       a.PostureAPISessionID,
		Dial:                      permissionAdviceModel(tx, &a.Dial),
		Bind:                      permissionAdviceModel(tx, &a.Bind),
	}
	for _, r := range a.CommonRouters {
		m.CommonRouters = append(m.CommonRouters, &models.RouterEntityRef{
			EntityRef: *refOf(store.EdgeRouters, r.ID, nameOf(tx, store.EdgeRouters, r.ID)),
			IsOnline:  ptr(r.Online), IsDisabled: ptr(r.Disabled)})
	}
	return m
}

func permissionAdviceModel(tx *store.Tx, p *advisor.Permission) *models.PolicyAdvicePermission {
	m := &models.PolicyAdvicePermission{Allowed: ptr(p.Allowed), PostureOk: ptr(p.PostureOK), Ready: ptr(p.Ready),
		Policies: []*models.PolicyAdvicePolicy{}, Problems: append([]string{}, p.Problems...)}
	for _, pol := range p.Policies {
		pm := &models.PolicyAdvicePolicy{ID: ptr(pol.ID), Name: ptr(nameOf(tx, store.ServicePolicies, pol.ID)),
			Passing: ptr(pol.Passing), PostureChecks: []*models.PostureCheckAdvice{}}
		for _, c := range pol.Checks {
			pm.PostureChecks = append(pm.PostureChecks, &models.PostureCheckAdvice{ID: ptr(c.ID), Name: ptr(c.Name),
				TypeID: ptr(c.TypeID), Evaluated: ptr(c.Evaluated), Passing: ptr(c.Passing), Reason: ptr(c.Reason)})
		}
		m.Policies = append(m.Policies, pm)
	}
	return m
}
