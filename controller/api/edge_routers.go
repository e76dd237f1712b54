package api

import (
	"net/http"
	"time"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/domain"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/edge_router"
	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// listEdgeRouters answers GET /edge-routers.
func (s *Server) listEdgeRouters(p edge_router.ListEdgeRoutersParams, _ any) middleware.Responder {
	return s.listOf(store.EdgeRouters, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.edgeRouterModel)
}

// detailEdgeRouter answers GET /edge-routers/{id}.
func (s *Server) detailEdgeRouter(p edge_router.DetailEdgeRouterParams, _ any) middleware.Responder {
	return s.detailOf(store.EdgeRouters, p.ID, s.edgeRouterModel)
}

// handleCreateEdgeRouter answers POST /edge-routers.
func (s *Server) handleCreateEdgeRouter(p edge_router.CreateEdgeRouterParams, _ any) middleware.Responder {
	return s.createEdgeRouter(p.HTTPRequest, p.EdgeRouter)
}

// updateEdgeRouter answers PUT /edge-routers/{id}.
func (s *Server) updateEdgeRouter(p edge_router.UpdateEdgeRouterParams, _ any) middleware.Responder {
	b := p.EdgeRouter
	cost, err := routerCost(b.Cost)
	if err != nil {
		return fail(err)
	}
	return s.updateOf(p.HTTPRequest, store.EdgeRouters, p.ID, func(r store.Record) error {
		er := r.(*store.EdgeRouter)
		er.Name = str(b.Name)
		er.Cost = cost
		er.Disabled = b.Disabled != nil && *b.Disabled
		er.IsTunnelerEnabled = b.IsTunnelerEnabled
		er.NoTraversal = b.NoTraversal != nil && *b.NoTraversal
		er.RoleAttributes = strs(b.RoleAttributes)
		er.AppData = tagsIn(b.AppData)
		er.Tags = tagsIn(b.Tags)
		return nil
	})
}

// patchEdgeRouter answers PATCH /edge-routers/{id}.
func (s *Server) patchEdgeRouter(p edge_router.PatchEdgeRouterParams, _ any) middleware.Responder {
	b := p.EdgeRouter
	var cost uint16
	if b.Cost != nil {
		var err error
		if cost, err = routerCost(b.Cost); err != nil {
			return fail(err)
		}
	}
	return s.updateOf(p.HTTPRequest, store.EdgeRouters, p.ID, func(r store.Record) error {
		er := r.(*store.EdgeRouter)
		if b.Name != nil {
			er.Name = *b.Name
		}
		if b.Cost != nil {
			er.Cost = cost
		}
		if b.Disabled != nil {
			er.Disabled = *b.Disabled
		}
		if b.IsTunnelerEnabled != nil {
			er.IsTunnelerEnabled = *b.IsTunnelerEnabled
		}
		if b.NoTraversal != nil {
			er.NoTraversal = *b.NoTraversal
		}
		if b.RoleAttributes != nil {
			er.RoleAttributes = strs(b.RoleAttributes)
		}
		if b.AppData != nil {
			er.AppData = tagsIn(b.AppData)
		}
		if b.Tags != nil {
			er.Tags = tagsIn(b.Tags)
		}
		return nil
	})
}

// deleteEdgeRouter answers DELETE /edge-routers/{id}.
func (s *Server) deleteEdgeRouter(p edge_router.DeleteEdgeRouterParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.EdgeRouters, p.ID)
}

// handleReEnrollEdgeRouter answers POST /edge-routers/{id}/re-enroll.
func (s *Server) handleReEnrollEdgeRouter(p edge_router.ReEnrollEdgeRouterParams, _ any) middleware.Responder {
	if err := s.reEnrollEdgeRouter(p.HTTPRequest, p.ID); err != nil {
		return fail(err)
	}
	return okEmpty()
}

// Related lists: who may use the router, what it may carry, which policies name it.

// listEdgeRouterIdentities answers GET /edge-routers/{id}/identities.
func (s *Server) listEdgeRouterIdentities(p edge_router.ListEdgeRouterIdentitiesParams, _ any) middleware.Responder {
	if !s.State.Exists(store.EdgeRouters, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.Identities, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return policy.EdgeRouterIdentities(tx, p.ID)
	}, s.identityModel)
}

// listEdgeRouterServices answers GET /edge-routers/{id}/services.
func (s *Server) listEdgeRouterServices(p edge_router.ListEdgeRouterServicesParams, _ any) middleware.Responder {
	if !s.State.Exists(store.EdgeRouters, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.Services, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return policy.EdgeRouterServices(tx, p.ID)
	}, s.serviceAdminModel)
}

// listEdgeRouterEdgeRouterPolicies answers GET /edge-routers/{id}/edge-router-policies.
func (s *Server) listEdgeRouterEdgeRouterPolicies(p edge_router.ListEdgeRouterEdgeRouterPoliciesParams, _ any) middleware.Responder {
	if !s.State.Exists(store.EdgeRouters, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.EdgeRouterPolicies, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return tx.Sources(store.EdgeRouterPolicyRouters, p.ID)
	}, s.edgeRouterPolicyModel)
}

// routerCost checks a router cost; absent means 0.
func routerCost(c *int64) (uint16, error) {
	if c == nil {
		return 0, nil
	}
	if *c < 0 || *c > 65535 {
		return 0, validationError("cost", "must be 0 to 65535", *c)
	}
	return uint16(*c), nil
}

// newRouterEnrollment builds a pending erott enrollment of a router.
func (s *Server) newRouterEnrollment(routerID string, now time.Time) *store.Enrollment {
	e := s.newEnrollment(store.EnrollmentERott, "", now)
	e.EdgeRouterID = routerID
	return e
}

// createEdgeRouter stores a router together with its erott enrollment, in one
// command so that both or neither land.
func (s *Server) createEdgeRouter(r *http.Request, b *models.EdgeRouterCreate) middleware.Responder {
	cost, err := routerCost(b.Cost)
	if err != nil {
		return fail(err)
	}
	now := time.Now().UTC()
	er := &store.EdgeRouter{Meta: store.Meta{ID: state.NewID(), Tags: tagsIn(b.Tags)}, Name: str(b.Name),
		RoleAttributes: strs(b.RoleAttributes), IsTunnelerEnabled: b.IsTunnelerEnabled, Cost: cost,
		NoTraversal: b.NoTraversal != nil && *b.NoTraversal, Disabled: b.Disabled != nil && *b.Disabled,
		AppData: tagsIn(b.AppData)}
	createRouter, err := command.NewCreate(store.EdgeRouters, er)
	if err != nil {
		return fail(err)
	}
	createEnrollment, err := command.NewCreate(store.Enrollments, s.newRouterEnrollment(er.ID, now))
	if err != nil {
		return fail(err)
	}
	batch, err := command.NewBatch(now, createRouter, createEnrollment)
	if err != nil {
		return fail(err)
	}
	if err := s.State.Apply(requestContext(r), batch); err != nil {
		return fail(err)
	}
	return created(er.ID, selfLink(store.EdgeRouters, er.ID))
}

// reEnrollEdgeRouter drops the router's pending enrollments and its
// certificate, and gives it a new erott enrollment, in one entry that takes
// the router and its enrollments as they are when it applies.
func (s *Server) reEnrollEdgeRouter(r *http.Request, id string) error {
	c := &domain.ReEnrollRouter{RouterID: id, Enrollment: s.newRouterEnrollment(id, time.Now().UTC())}
	return s.State.Apply(requestContext(r), c)
}

func (s *Server) edgeRouterModel(tx *store.Tx, rec store.Record) any {
	er := rec.(*store.EdgeRouter)
	d := &models.EdgeRouterDetail{
		BaseEntity:                 baseOf(store.EdgeRouters, &er.Meta),
		CommonEdgeRouterProperties: s.routerProperties(er),
		CertPem:                    er.CertPEM,
		Fingerprint:                er.Fingerprint,
		IsTunnelerEnabled:          ptr(er.IsTunnelerEnabled),
		IsVerified:                 ptr(er.IsVerified),
		RoleAttributes:             strs(er.RoleAttributes),
		VersionInfo:                &models.RouterVersionInfo{},
		Links:                      s.routerLinks(tx, er.ID),
	}
	for _, eid := range tx.Referencing(store.Enrollments, "edgeRouterId", er.ID) {
		e, err := store.Get[*store.Enrollment](tx, store.Enrollments, eid)
		if err != nil || e.Method != store.EnrollmentERott {
			continue
		}
		d.EnrollmentCreatedAt = dt(e.CreatedAt)
		d.EnrollmentExpiresAt = dt(e.ExpiresAt)
		jwt, token := s.enrollmentJWT(e)
		if jwt != "" {
			d.EnrollmentJwt, d.EnrollmentToken = ptr(jwt), ptr(token)
		}
	}
	return d
}
