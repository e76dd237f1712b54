package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/access"
	"github.com/ostium-net/ostium/controller/advisor"
	"github.com/ostium-net/ostium/controller/auth"
	"github.com/ostium-net/ostium/controller/domain"

	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/service"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/session"
	mgmtservice "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/service"
	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/posture"
	"github.com/ostium-net/ostium/controller/state"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// tokenKindSession separates session tokens from other derived tokens.
const tokenKindSession = "session"

// clientListServices answers GET /services.
func (s *Server) clientListServices(p service.ListServicesParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	var perms map[string][]string
	configTypes := p.ConfigTypes
	if len(configTypes) == 0 {
		configTypes = caller.Session.ConfigTypes
	}
	return s.listOf(store.Services, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		perms = policy.IdentityServices(tx, caller.Identity.ID)
		ids := keys(perms)
		if len(p.RoleFilter) > 0 {
			ids = filterByRoles(tx, ids, p.RoleFilter, str(p.RoleSemantic))
		}
		return ids
	}, func(tx *store.Tx, rec store.Record) any {
		return s.clientServiceModel(tx, rec.(*store.Service), currentAPISession(tx, caller), perms[rec.Base().ID], configTypes)
	})
}

// clientDetailService answers GET /services/{id}.
func (s *Server) clientDetailService(p service.DetailServiceParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	var out any
	err := s.State.View(func(tx *store.Tx) error {
		perms := policy.Permissions(tx, caller.Identity.ID, p.ID)
		if len(perms) == 0 {
			return errNotFound
		}
		svc, err := store.Get[*store.Service](tx, store.Services, p.ID)
		if err != nil {
			return err
		}
		out = s.clientServiceModel(tx, svc, currentAPISession(tx, caller), perms, caller.Session.ConfigTypes)
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return ok(out)
}

// clientListServiceEdgeRouters answers GET /services/{id}/edge-routers.
func (s *Server) clientListServiceEdgeRouters(p service.ListServiceEdgeRoutersParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	if !s.canSee(caller, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.EdgeRouters, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return policy.UsableEdgeRouters(tx, caller.Identity.ID, p.ID)
	}, func(tx *store.Tx, rec store.Record) any {
		return s.sessionRouterModel(rec.(*store.EdgeRouter))
	})
}

// clientListServiceTerminators answers GET /services/{id}/terminators.
func (s *Server) clientListServiceTerminators(p service.ListServiceTerminatorsParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	if !s.canSee(caller, p.ID) {
		return fail(errNotFound)
	}
	return s.listOf(store.Terminators, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return tx.Referencing(store.Terminators, "serviceId", p.ID)
	}, func(tx *store.Tx, rec store.Record) any {
		t := rec.(*store.Terminator)
		return &models.TerminatorClientDetail{BaseEntity: baseOf(store.Terminators, &t.Meta), Identity: ptr(t.Identity),
			RouterID: ptr(t.RouterID), ServiceID: ptr(t.ServiceID),
			Service: refOf(store.Services, t.ServiceID, nameOf(tx, store.Services, t.ServiceID))}
	})
}

// clientDeleteService answers DELETE /services/{id}.
func (s *Server) clientDeleteService(p service.DeleteServiceParams, pr any) middleware.Responder {
	if caller := principalOf(pr); !caller.Identity.IsAdmin {
		return fail(s.hiddenOrUnauthorized(caller, p.ID))
	}
	return s.deleteOf(p.HTTPRequest, store.Services, p.ID)
}

// clientUpdateService answers PUT /services/{id}.
func (s *Server) clientUpdateService(p service.UpdateServiceParams, pr any) middleware.Responder {
	if caller := principalOf(pr); !caller.Identity.IsAdmin {
		return fail(s.hiddenOrUnauthorized(caller, p.ID))
	}
	return s.mgmt.ServiceUpdateServiceHandler.Handle(mgmtservice.UpdateServiceParams{HTTPRequest: p.HTTPRequest, ID: p.ID, Service: p.Service}, pr)
}

// clientPatchService answers PATCH /services/{id}.
func (s *Server) clientPatchService(p service.PatchServiceParams, pr any) middleware.Responder {
	if caller := principalOf(pr); !caller.Identity.IsAdmin {
		return fail(s.hiddenOrUnauthorized(caller, p.ID))
	}
	return s.mgmt.ServicePatchServiceHandler.Handle(mgmtservice.PatchServiceParams{HTTPRequest: p.HTTPRequest, ID: p.ID, Service: p.Service}, pr)
}

// clientCreateSession answers POST /sessions.
func (s *Server) clientCreateSession(p session.CreateSessionParams, pr any) middleware.Responder {
	return s.createSession(p.HTTPRequest, principalOf(pr), p.Session)
}

// clientListSessions answers GET /sessions.
func (s *Server) clientListSessions(p session.ListSessionsParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	return s.listOf(store.Sessions, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		var own []string
		for _, as := range tx.Referencing(store.APISessions, "identityId", caller.Identity.ID) {
			own = append(own, tx.Referencing(store.Sessions, "apiSessionId", as)...)
		}
		return own
	}, s.clientSessionModel)
}

// clientDetailSession answers GET /sessions/{id}.
func (s *Server) clientDetailSession(p session.DetailSessionParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	if !s.ownsSession(caller, p.ID) {
		return fail(errNotFound)
	}
	return s.detailOf(store.Sessions, p.ID, s.clientSessionModel)
}

// clientDeleteSession answers DELETE /sessions/{id}.
func (s *Server) clientDeleteSession(p session.DeleteSessionParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	if !s.ownsSession(caller, p.ID) {
		return fail(errNotFound)
	}
	return s.deleteOf(p.HTTPRequest, store.Sessions, p.ID)
}

// canSee reports whether the caller may use the service at all.
func (s *Server) canSee(caller *Principal, serviceID string) bool {
	seen := false
	_ = s.State.View(func(tx *store.Tx) error {
		seen = len(policy.Permissions(tx, caller.Identity.ID, serviceID)) > 0
		return nil
	})
	return seen
}

// hiddenOrUnauthorized answers a non-admin's write to a service: 404 when it
// cannot see the service (so existence does not leak), else 401.
func (s *Server) hiddenOrUnauthorized(caller *Principal, serviceID string) error {
	if !s.canSee(caller, serviceID) {
		return errNotFound
	}
	return errUnauthorized
}

func (s *Server) ownsSession(caller *Principal, sessionID string) bool {
	owns := false
	_ = s.State.View(func(tx *store.Tx) error {
		sess, err := store.Get[*store.Session](tx, store.Sessions, sessionID)
		owns = err == nil && sess.IdentityID == caller.Identity.ID
		return nil
	})
	return owns
}

// filterByRoles keeps the services selected by role filters (#attr, @id).
func filterByRoles(tx *store.Tx, ids, roles []string, semantic string) []string {
	r, err := policy.ParseRoles("roleFilter", roles)
	if err != nil {
		return nil
	}
	if semantic == "" {
		semantic = store.SemanticAllOf
	}
	var out []string
	for _, id := range ids {
		svc, err := store.Get[*store.Service](tx, store.Services, id)
		if err == nil && r.Matches(id, svc.RoleAttributes, semantic) {
			out = append(out, id)
		}
	}
	return out
}

// clientServiceModel is a service as one API session sees it: its
// permissions, the configs of the requested types keyed by config-type name,
// and the posture checks of each policy granting it, with whether they pass.
func (s *Server) clientServiceModel(tx *store.Tx, svc *store.Service, as *store.APISession, perms []string, configTypes []string) *models.ServiceDetail {
	d := &models.ServiceDetail{
		BaseEntity:         baseOf(store.Services, &svc.Meta),
		Name:               ptr(svc.Name),
		EncryptionRequired: ptr(svc.EncryptionRequired),
		MaxIdleTimeMillis:  svc.MaxIdleTimeMillis,
		TerminatorStrategy: ptr(orDefault(svc.TerminatorStrategy, "smartrouting")),
		RoleAttributes:     strs(svc.RoleAttributes),
		Configs:            strs(svc.Configs),
		Config:             models.ServiceConfigsMap{},
		Permissions:        models.DialBindArray{},
		PostureQueries:     postureQueriesOf(tx, as, svc.ID, time.Now()),
	}
	for _, p := range perms {
		d.Permissions = append(d.Permissions, models.DialBind(p))
	}
	all := slices.Contains(configTypes, "all")
	for _, cid := range svc.Configs {
		cfg, err := store.Get[*store.Config](tx, store.Configs, cid)
		if err != nil {
			continue
		}
		ct, err := store.Get[*store.ConfigType](tx, store.ConfigTypes, cfg.ConfigTypeID)
		if err != nil {
			continue
		}
		if all || slices.Contains(configTypes, ct.Name) || slices.Contains(configTypes, ct.ID) {
			d.Config[ct.Name] = cfg.Data
		}
	}
	return d
}

func (s *Server) sessionRouterModel(r *store.EdgeRouter) *models.SessionEdgeRouter {
	props := s.routerProperties(r)
	return &models.SessionEdgeRouter{CommonEdgeRouterProperties: props, Urls: props.SupportedProtocols}
}

func (s *Server) clientSessionModel(tx *store.Tx, rec store.Record) any {
	sess := rec.(*store.Session)
	typ := models.DialBind(sess.Type)
	d := &models.SessionDetail{
		BaseEntity:   baseOf(store.Sessions, &sess.Meta),
		APISessionID: ptr(sess.APISessionID),
		APISession:   refOf(store.APISessions, sess.APISessionID, ""),
		IdentityID:   ptr(sess.IdentityID),
		ServiceID:    ptr(sess.ServiceID),
		Service:      refOf(store.Services, sess.ServiceID, nameOf(tx, store.Services, sess.ServiceID)),
		Type:         &typ,
		Token:        ptr(s.tokens.Token(tokenKindSession, sess.ID)),
		EdgeRouters:  []*models.SessionEdgeRouter{},
	}
	for _, rid := range s.onlineRouters(tx, sess.IdentityID, sess.ServiceID) {
		if r, err := store.Peek[*store.EdgeRouter](tx, store.EdgeRouters, rid); err == nil {
			d.EdgeRouters = append(d.EdgeRouters, s.sessionRouterModel(r))
		}
	}
	return d
}

// onlineRouters are the routers an identity may reach a service through now.
func (s *Server) onlineRouters(tx *store.Tx, identityID, serviceID string) []string {
	var out []string
	for _, rid := range policy.UsableEdgeRouters(tx, identityID, serviceID) {
		r, err := store.Peek[*store.EdgeRouter](tx, store.EdgeRouters, rid)
		if err != nil || r.Disabled || !s.routers().Online(rid) {
			continue
		}
		out = append(out, rid)
	}
	return out
}

// noEdgeRouters refuses a session no router can carry, saying what is
// missing: an edge-router policy for the identity, a service-edge-router
// policy for the service, a router in common, or one online. The words name
// no policy or router, as the caller is a client, not an administrator.
func (s *Server) noEdgeRouters(tx *store.Tx, identityID, serviceID string) error {
	adv := advisor.Advise(tx, identityID, serviceID, s.routers().Online, time.Now())
	why := advisor.RouterProblems(adv)
	if len(why) == 0 {
		n := 0
		for _, r := range adv.CommonRouters {
			if !r.Disabled {
				n++
			}
		}
		routers := fmt.Sprintf("%d routers", n)
		if n == 1 {
			routers = "1 router"
		}
		why = []string{fmt.Sprintf("none of the %s this identity may reach the service through is online", routers)}
	}
	return newErr(http.StatusBadRequest, CodeNoEdgeRoutersAvailable,
		"no edge routers are available to reach this service: "+strings.Join(why, "; ")+
			" (an administrator sees the whole picture with `ostium policy-advisor IDENTITY SERVICE`)")
}

// createSession gives the caller's API session a Dial or Bind session for a
// service: one domain.CreateSession entry, which decides grant, posture and
// uniqueness inside the write. Before proposing, it answers what the write
// cannot: whether any router could carry the session now. It is idempotent
// per (API session, service, type): asking again returns the same session,
// stored or pending, without another write. A new session is answered
// before its entry is applied when it may be (pendingsession.go).
func (s *Server) createSession(r *http.Request, caller *Principal, body *models.SessionCreate) middleware.Responder {
	typ := string(body.Type)
	if typ == "" {
		typ = store.PolicyDial
	}
	serviceID := str(body.ServiceID)
	key := domain.SessionKey(caller.Session.ID, serviceID, typ)
	// The pending session is looked for before the store: it stops pending
	// only once the store has committed it, so a read opened after missing
	// it finds it stored (or it never will be). The other order misses it
	// when the commit falls between the two.
	pending := s.sessions.find(key)
	var out any
	err := s.State.View(func(tx *store.Tx) error {
		if err := access.Check(tx, currentAPISession(tx, caller), serviceID, typ, time.Now()); err != nil {
			return err
		}
		rec, found, err := storedSession(tx, key)
		if err != nil {
			return err
		}
		if found {
			out = s.clientSessionModel(tx, rec)
			return nil
		}
		if pending != nil {
			out = s.clientSessionModel(tx, pending)
			return nil
		}
		if len(s.onlineRouters(tx, caller.Identity.ID, serviceID)) == 0 {
			return s.noEdgeRouters(tx, caller.Identity.ID, serviceID)
		}
		return nil
	})
	if err != nil {
		return fail(s.sessionRefusal(caller, serviceID, typ, err))
	}
	if out != nil {
		return respond{status: http.StatusCreated, body: envelope{Data: out, Meta: newMeta()}}
	}
	id := state.NewID()
	create := &domain.CreateSession{ID: id, TokenHash: auth.TokenHash(s.tokens.Token(tokenKindSession, id)),
		APISessionID: caller.Session.ID, ServiceID: serviceID, Permission: typ, Tags: tagsIn(body.Tags)}
	if s.sessionBeforeApply(r) {
		answered := s.sessions.add(create, caller.Identity.ID, caller.Session.TokenHash, time.Now().UTC())
		err = s.State.View(func(tx *store.Tx) error {
			out = s.clientSessionModel(tx, answered)
			return nil
		})
		if err != nil {
			return fail(err)
		}
		return respond{status: http.StatusCreated, body: envelope{Data: out, Meta: newMeta()}}
	}
	// The session follows its API session in the log (see awaitPending).
	s.pending.waitFor(r.Context(), caller.Token)
	if err := s.State.Apply(requestContext(r), create); err != nil {
		return fail(s.sessionRefusal(caller, serviceID, typ, err))
	}
	err = s.State.View(func(tx *store.Tx) error {
		rec, found, err := storedSession(tx, key)
		if err != nil {
			return err
		}
		if !found {
			return errNotFound // revoked as soon as it was made
		}
		out = s.clientSessionModel(tx, rec)
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return respond{status: http.StatusCreated, body: envelope{Data: out, Meta: newMeta()}}
}

// storedSession reads the session stored for a domain.SessionKey, and
// reports whether there is one.
func storedSession(tx *store.Tx, key string) (store.Record, bool, error) {
	id, found := tx.Lookup(store.Sessions, "apiSessionServiceType", key)
	if !found {
		return nil, false, nil
	}
	rec, err := tx.Get(store.Sessions, id)
	if err != nil {
		return nil, false, err
	}
	return rec, true, nil
}

// sessionRefusal is the answer to a refused session: a posture refusal
// (which loses its detail when the leader decided it) is described from the
// checks as they stand here.
func (s *Server) sessionRefusal(caller *Principal, serviceID, typ string, err error) error {
	var pe *access.PostureError
	if errors.As(err, &pe) {
		return invalidPosture(pe.Results)
	}
	if errors.Is(err, store.ErrRefused) {
		var results []posture.PolicyResult
		_ = s.State.View(func(tx *store.Tx) error {
			results = posture.EvaluatePolicies(tx, currentAPISession(tx, caller), serviceID, typ, time.Now())
			return nil
		})
		return invalidPosture(results)
	}
	return err
}
