package api

import (
	"strings"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/edge_router_policy"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/service_edge_router_policy"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/service_policy"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// Role lists, semantics and service-policy types are validated by the
// policy store hook (policy.Hook) inside the write; its errors map to 400.

func semanticIn(v *models.Semantic) string {
	if v == nil || *v == "" {
		return store.SemanticAllOf
	}
	return string(*v)
}

func dialBindIn(v *models.DialBind) string {
	if v == nil {
		return ""
	}
	return string(*v)
}

// listServicePolicies answers GET /service-policies.
func (s *Server) listServicePolicies(p service_policy.ListServicePoliciesParams, _ any) middleware.Responder {
	return s.listOf(store.ServicePolicies, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.servicePolicyModel)
}

// detailServicePolicy answers GET /service-policies/{id}.
func (s *Server) detailServicePolicy(p service_policy.DetailServicePolicyParams, _ any) middleware.Responder {
	return s.detailOf(store.ServicePolicies, p.ID, s.servicePolicyModel)
}

// createServicePolicy answers POST /service-policies.
func (s *Server) createServicePolicy(p service_policy.CreateServicePolicyParams, _ any) middleware.Responder {
	b := p.Policy
	if err := checkName("name", str(b.Name)); err != nil {
		return fail(err)
	}
	sp := &store.ServicePolicy{Meta: store.Meta{Tags: tagsIn(b.Tags)}, Name: str(b.Name), Type: dialBindIn(b.Type),
		Semantic: semanticIn(b.Semantic), IdentityRoles: strs(b.IdentityRoles), ServiceRoles: strs(b.ServiceRoles),
		PostureCheckRoles: strs(b.PostureCheckRoles)}
	return s.createOf(p.HTTPRequest, store.ServicePolicies, sp)
}

// updateServicePolicy answers PUT /service-policies/{id}.
func (s *Server) updateServicePolicy(p service_policy.UpdateServicePolicyParams, _ any) middleware.Responder {
	b := p.Policy
	if err := checkName("name", str(b.Name)); err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.ServicePolicies, p.ID, func(r store.Record) error {
		sp := r.(*store.ServicePolicy)
		sp.Name, sp.Type, sp.Semantic = str(b.Name), dialBindIn(b.Type), semanticIn(b.Semantic)
		sp.IdentityRoles, sp.ServiceRoles, sp.PostureCheckRoles = strs(b.IdentityRoles), strs(b.ServiceRoles), strs(b.PostureCheckRoles)
		sp.Tags = tagsIn(b.Tags)
		return nil
	})
}

// patchServicePolicy answers PATCH /service-policies/{id}.
func (s *Server) patchServicePolicy(p service_policy.PatchServicePolicyParams, _ any) middleware.Responder {
	b := p.Policy
	if b.Name != nil {
		if err := checkName("name", *b.Name); err != nil {
			return fail(err)
		}
	}
	return s.updateOf(p.HTTPRequest, store.ServicePolicies, p.ID, func(r store.Record) error {
		sp := r.(*store.ServicePolicy)
		if b.Name != nil {
			sp.Name = *b.Name
		}
		if b.Type != nil {
			sp.Type = *b.Type
		}
		if b.Semantic != nil {
			sp.Semantic = *b.Semantic
		}
		if b.IdentityRoles != nil {
			sp.IdentityRoles = strs(b.IdentityRoles)
		}
		if b.ServiceRoles != nil {
			sp.ServiceRoles = strs(b.ServiceRoles)
		}
		if b.PostureCheckRoles != nil {
			sp.PostureCheckRoles = strs(b.PostureCheckRoles)
		}
		if b.Tags != nil {
			sp.Tags = tagsIn(b.Tags)
		}
		return nil
	})
}

// deleteServicePolicy answers DELETE /service-policies/{id}.
func (s *Server) deleteServicePolicy(p service_policy.DeleteServicePolicyParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.ServicePolicies, p.ID)
}

// listServicePolicyIdentities answers GET /service-policies/{id}/identities.
func (s *Server) listServicePolicyIdentities(p service_policy.ListServicePolicyIdentitiesParams, _ any) middleware.Responder {
	return s.policyTargets(store.ServicePolicies, p.ID, store.ServicePolicyIdentities, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, s.identityModel)
}

// listServicePolicyServices answers GET /service-policies/{id}/services.
func (s *Server) listServicePolicyServices(p service_policy.ListServicePolicyServicesParams, _ any) middleware.Responder {
	return s.policyTargets(store.ServicePolicies, p.ID, store.ServicePolicyServices, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, s.serviceAdminModel)
}

// listServicePolicyPostureChecks answers GET /service-policies/{id}/posture-checks.
func (s *Server) listServicePolicyPostureChecks(p service_policy.ListServicePolicyPostureChecksParams, _ any) middleware.Responder {
	return s.policyTargets(store.ServicePolicies, p.ID, store.ServicePolicyPostureChecks, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, s.postureCheckModel)
}

// listEdgeRouterPolicies answers GET /edge-router-policies.
func (s *Server) listEdgeRouterPolicies(p edge_router_policy.ListEdgeRouterPoliciesParams, _ any) middleware.Responder {
	return s.listOf(store.EdgeRouterPolicies, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.edgeRouterPolicyModel)
}

// detailEdgeRouterPolicy answers GET /edge-router-policies/{id}.
func (s *Server) detailEdgeRouterPolicy(p edge_router_policy.DetailEdgeRouterPolicyParams, _ any) middleware.Responder {
	return s.detailOf(store.EdgeRouterPolicies, p.ID, s.edgeRouterPolicyModel)
}

// createEdgeRouterPolicy answers POST /edge-router-policies.
func (s *Server) createEdgeRouterPolicy(p edge_router_policy.CreateEdgeRouterPolicyParams, _ any) middleware.Responder {
	b := p.Policy
	if err := checkName("name", str(b.Name)); err != nil {
		return fail(err)
	}
	ep := &store.EdgeRouterPolicy{Meta: store.Meta{Tags: tagsIn(b.Tags)}, Name: str(b.Name), Semantic: semanticIn(b.Semantic),
		IdentityRoles: strs(b.IdentityRoles), EdgeRouterRoles: strs(b.EdgeRouterRoles)}
	return s.createOf(p.HTTPRequest, store.EdgeRouterPolicies, ep)
}

// updateEdgeRouterPolicy answers PUT /edge-router-policies/{id}.
func (s *Server) updateEdgeRouterPolicy(p edge_router_policy.UpdateEdgeRouterPolicyParams, _ any) middleware.Responder {
	b := p.Policy
	if err := checkName("name", str(b.Name)); err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.EdgeRouterPolicies, p.ID, func(r store.Record) error {
		ep := r.(*store.EdgeRouterPolicy)
		ep.Name, ep.Semantic = str(b.Name), semanticIn(b.Semantic)
		ep.IdentityRoles, ep.EdgeRouterRoles = strs(b.IdentityRoles), strs(b.EdgeRouterRoles)
		ep.Tags = tagsIn(b.Tags)
		return nil
	})
}

// patchEdgeRouterPolicy answers PATCH /edge-router-policies/{id}.
func (s *Server) patchEdgeRouterPolicy(p edge_router_policy.PatchEdgeRouterPolicyParams, _ any) middleware.Responder {
	b := p.Policy
	if b.Name != nil {
		if err := checkName("name", *b.Name); err != nil {
			return fail(err)
		}
	}
	return s.updateOf(p.HTTPRequest, store.EdgeRouterPolicies, p.ID, func(r store.Record) error {
		ep := r.(*store.EdgeRouterPolicy)
		if b.Name != nil {
			ep.Name = *b.Name
		}
		if b.Semantic != nil {
			ep.Semantic = *b.Semantic
		}
		if b.IdentityRoles != nil {
			ep.IdentityRoles = strs(b.IdentityRoles)
		}
		if b.EdgeRouterRoles != nil {
			ep.EdgeRouterRoles = strs(b.EdgeRouterRoles)
		}
		if b.Tags != nil {
			ep.Tags = tagsIn(b.Tags)
		}
		return nil
	})
}

// deleteEdgeRouterPolicy answers DELETE /edge-router-policies/{id}.
func (s *Server) deleteEdgeRouterPolicy(p edge_router_policy.DeleteEdgeRouterPolicyParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.EdgeRouterPolicies, p.ID)
}

// listEdgeRouterPolicyIdentities answers GET /edge-router-policies/{id}/identities.
func (s *Server) listEdgeRouterPolicyIdentities(p edge_router_policy.ListEdgeRouterPolicyIdentitiesParams, _ any) middleware.Responder {
	return s.policyTargets(store.EdgeRouterPolicies, p.ID, store.EdgeRouterPolicyIdentities, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, s.identityModel)
}

// listEdgeRouterPolicyEdgeRouters answers GET /edge-router-policies/{id}/edge-routers.
func (s *Server) listEdgeRouterPolicyEdgeRouters(p edge_router_policy.ListEdgeRouterPolicyEdgeRoutersParams, _ any) middleware.Responder {
	return s.policyTargets(store.EdgeRouterPolicies, p.ID, store.EdgeRouterPolicyRouters, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, s.edgeRouterModel)
}

// listServiceEdgeRouterPolicies answers GET /service-edge-router-policies.
func (s *Server) listServiceEdgeRouterPolicies(p service_edge_router_policy.ListServiceEdgeRouterPoliciesParams, _ any) middleware.Responder {
	return s.listOf(store.ServiceEdgeRouterPolicies, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.serviceEdgeRouterPolicyModel)
}

// detailServiceEdgeRouterPolicy answers GET /service-edge-router-policies/{id}.
func (s *Server) detailServiceEdgeRouterPolicy(p service_edge_router_policy.DetailServiceEdgeRouterPolicyParams, _ any) middleware.Responder {
	return s.detailOf(store.ServiceEdgeRouterPolicies, p.ID, s.serviceEdgeRouterPolicyModel)
}

// createServiceEdgeRouterPolicy answers POST /service-edge-router-policies.
func (s *Server) createServiceEdgeRouterPolicy(p service_edge_router_policy.CreateServiceEdgeRouterPolicyParams, _ any) middleware.Responder {
	b := p.Policy
	if err := checkName("name", str(b.Name)); err != nil {
		return fail(err)
	}
	sp := &store.ServiceEdgeRouterPolicy{Meta: store.Meta{Tags: tagsIn(b.Tags)}, Name: str(b.Name), Semantic: semanticIn(b.Semantic),
		ServiceRoles: strs(b.ServiceRoles), EdgeRouterRoles: strs(b.EdgeRouterRoles)}
	return s.createOf(p.HTTPRequest, store.ServiceEdgeRouterPolicies, sp)
}

// updateServiceEdgeRouterPolicy answers PUT /service-edge-router-policies/{id}.
func (s *Server) updateServiceEdgeRouterPolicy(p service_edge_router_policy.UpdateServiceEdgeRouterPolicyParams, _ any) middleware.Responder {
	b := p.Policy
	if err := checkName("name", str(b.Name)); err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.ServiceEdgeRouterPolicies, p.ID, func(r store.Record) error {
		sp := r.(*store.ServiceEdgeRouterPolicy)
		sp.Name, sp.Semantic = str(b.Name), semanticIn(b.Semantic)
		sp.ServiceRoles, sp.EdgeRouterRoles = strs(b.ServiceRoles), strs(b.EdgeRouterRoles)
		sp.Tags = tagsIn(b.Tags)
		return nil
	})
}

// patchServiceEdgeRouterPolicy answers PATCH /service-edge-router-policies/{id}.
func (s *Server) patchServiceEdgeRouterPolicy(p service_edge_router_policy.PatchServiceEdgeRouterPolicyParams, _ any) middleware.Responder {
	b := p.Policy
	if b.Name != nil {
		if err := checkName("name", *b.Name); err != nil {
			return fail(err)
		}
	}
	return s.updateOf(p.HTTPRequest, store.ServiceEdgeRouterPolicies, p.ID, func(r store.Record) error {
		sp := r.(*store.ServiceEdgeRouterPolicy)
		if b.Name != nil {
			sp.Name = *b.Name
		}
		if b.Semantic != nil {
			sp.Semantic = *b.Semantic
		}
		if b.ServiceRoles != nil {
			sp.ServiceRoles = strs(b.ServiceRoles)
		}
		if b.EdgeRouterRoles != nil {
			sp.EdgeRouterRoles = strs(b.EdgeRouterRoles)
		}
		if b.Tags != nil {
			sp.Tags = tagsIn(b.Tags)
		}
		return nil
	})
}

// deleteServiceEdgeRouterPolicy answers DELETE /service-edge-router-policies/{id}.
func (s *Server) deleteServiceEdgeRouterPolicy(p service_edge_router_policy.DeleteServiceEdgeRouterPolicyParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.ServiceEdgeRouterPolicies, p.ID)
}

// listServiceEdgeRouterPolicyServices answers GET /service-edge-router-policies/{id}/services.
func (s *Server) listServiceEdgeRouterPolicyServices(p service_edge_router_policy.ListServiceEdgeRouterPolicyServicesParams, _ any) middleware.Responder {
	return s.policyTargets(store.ServiceEdgeRouterPolicies, p.ID, store.ServiceEdgeRouterPolicyServices, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, s.serviceAdminModel)
}

// listServiceEdgeRouterPolicyEdgeRouters answers GET /service-edge-router-policies/{id}/edge-routers.
func (s *Server) listServiceEdgeRouterPolicyEdgeRouters(p service_edge_router_policy.ListServiceEdgeRouterPolicyEdgeRoutersParams, _ any) middleware.Responder {
	return s.policyTargets(store.ServiceEdgeRouterPolicies, p.ID, store.ServiceEdgeRouterPolicyRouters, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, s.edgeRouterModel)
}

// policyTargets lists what one side of a policy selects.
func (s *Server) policyTargets(k *store.Kind, id string, l *store.Link, lp listParams, toModel toModelFunc) middleware.Responder {
	if !s.State.Exists(k, id) {
		return fail(errNotFound)
	}
	return s.listOf(l.To, lp, func(tx *store.Tx) []string { return tx.Targets(l, id) }, toModel)
}

// namedRoles shows a role list for people: "@id" entries carry the named
// entity's name, "#attr" and "#all" entries themselves.
func namedRoles(tx *store.Tx, k *store.Kind, roles []string) models.NamedRoles {
	out := make(models.NamedRoles, 0, len(roles))
	for _, role := range roles {
		name := role
		if id, isID := strings.CutPrefix(role, "@"); isID {
			if n := nameOf(tx, k, id); n != "" {
				name = "@" + n
			}
		}
		out = append(out, &models.NamedRole{Role: role, Name: name})
	}
	return out
}

func (s *Server) servicePolicyModel(tx *store.Tx, rec store.Record) any {
	sp := rec.(*store.ServicePolicy)
	return &models.ServicePolicyDetail{
		BaseEntity:               baseOf(store.ServicePolicies, &sp.Meta),
		Name:                     ptr(sp.Name),
		Type:                     ptr(models.DialBind(sp.Type)),
		Semantic:                 ptr(models.Semantic(orDefault(sp.Semantic, store.SemanticAllOf))),
		IdentityRoles:            strs(sp.IdentityRoles),
		IdentityRolesDisplay:     namedRoles(tx, store.Identities, sp.IdentityRoles),
		ServiceRoles:             strs(sp.ServiceRoles),
		ServiceRolesDisplay:      namedRoles(tx, store.Services, sp.ServiceRoles),
		PostureCheckRoles:        strs(sp.PostureCheckRoles),
		PostureCheckRolesDisplay: namedRoles(tx, store.PostureChecks, sp.PostureCheckRoles),
	}
}

func (s *Server) edgeRouterPolicyModel(tx *store.Tx, rec store.Record) any {
	ep := rec.(*store.EdgeRouterPolicy)
	return &models.EdgeRouterPolicyDetail{
		BaseEntity:             baseOf(store.EdgeRouterPolicies, &ep.Meta),
		Name:                   ptr(ep.Name),
		Semantic:               ptr(models.Semantic(orDefault(ep.Semantic, store.SemanticAllOf))),
		IdentityRoles:          strs(ep.IdentityRoles),
		IdentityRolesDisplay:   namedRoles(tx, store.Identities, ep.IdentityRoles),
		EdgeRouterRoles:        strs(ep.EdgeRouterRoles),
		EdgeRouterRolesDisplay: namedRoles(tx, store.EdgeRouters, ep.EdgeRouterRoles),
	}
}

func (s *Server) serviceEdgeRouterPolicyModel(tx *store.Tx, rec store.Record) any {
	sp := rec.(*store.ServiceEdgeRouterPolicy)
	return &models.ServiceEdgeRouterPolicyDetail{
		BaseEntity:             baseOf(store.ServiceEdgeRouterPolicies, &sp.Meta),
		Name:                   ptr(sp.Name),
		Semantic:               ptr(models.Semantic(orDefault(sp.Semantic, store.SemanticAllOf))),
		ServiceRoles:           strs(sp.ServiceRoles),
		ServiceRolesDisplay:    namedRoles(tx, store.Services, sp.ServiceRoles),
		EdgeRouterRoles:        strs(sp.EdgeRouterRoles),
		EdgeRouterRolesDisplay: namedRoles(tx, store.EdgeRouters, sp.EdgeRouterRoles),
	}
}
