package api

import (
	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/api_session"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/session"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// The administrators' view of API sessions and sessions: list, show, end.
// Tokens are stored only as hashes and never shown.
func (s *Server) registerSessionsAdmin(a *operations.EdgeManagementAPI) {
	a.APISessionListAPISessionsHandler = api_session.ListAPISessionsHandlerFunc(func(p api_session.ListAPISessionsParams, _ any) middleware.Responder {
		return s.listOf(store.APISessions, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.apiSessionAdminModel)
	})
	a.APISessionDetailAPISessionHandler = api_session.DetailAPISessionHandlerFunc(func(p api_session.DetailAPISessionParams, _ any) middleware.Responder {
		return s.detailOf(store.APISessions, p.ID, s.apiSessionAdminModel)
	})
	a.APISessionDeleteAPISessionHandler = api_session.DeleteAPISessionHandlerFunc(func(p api_session.DeleteAPISessionParams, _ any) middleware.Responder {
		// The store cascades to the API session's sessions.
		r := s.deleteOf(p.HTTPRequest, store.APISessions, p.ID)
		s.Activity.Forget(p.ID)
		return r
	})
	a.SessionListSessionsHandler = session.ListSessionsHandlerFunc(func(p session.ListSessionsParams, _ any) middleware.Responder {
		return s.listOf(store.Sessions, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.sessionAdminModel)
	})
	a.SessionDetailSessionHandler = session.DetailSessionHandlerFunc(func(p session.DetailSessionParams, _ any) middleware.Responder {
		return s.detailOf(store.Sessions, p.ID, s.sessionAdminModel)
	})
	a.SessionDeleteSessionHandler = session.DeleteSessionHandlerFunc(func(p session.DeleteSessionParams, _ any) middleware.Responder {
		return s.deleteOf(p.HTTPRequest, store.Sessions, p.ID)
	})
}

func (s *Server) apiSessionAdminModel(tx *store.Tx, rec store.Record) any {
	as := rec.(*store.APISession)
	last := s.lastActivity(tx, as)
	return &models.APISessionAdminDetail{
		BaseEntity:      baseOf(store.APISessions, &as.Meta),
		AuthQueries:     []*models.AuthQueryDetail{},
		AuthenticatorID: as.AuthenticatorID,
		ExpiresAt:       *dt(s.sessionExpiresAt(as, last)),
		Identity:        refOf(store.Identities, as.IdentityID, nameOf(tx, store.Identities, as.IdentityID)),
		IdentityID:      ptr(as.IdentityID),
		IPAddress:       ptr(as.IPAddress),
		IsMfaComplete:   ptr(as.IsMFAComplete),
		IsMfaRequired:   ptr(as.IsMFARequired),
		LastActivityAt:  dt(last),
	}
}

func (s *Server) sessionAdminModel(tx *store.Tx, rec store.Record) any {
	se := rec.(*store.Session)
	typ := models.DialBind(se.Type)
	return &models.SessionAdminDetail{
		BaseEntity:   baseOf(store.Sessions, &se.Meta),
		APISession:   refOf(store.APISessions, se.APISessionID, ""),
		APISessionID: ptr(se.APISessionID),
		Identity:     refOf(store.Identities, se.IdentityID, nameOf(tx, store.Identities, se.IdentityID)),
		IdentityID:   ptr(se.IdentityID),
		Service:      refOf(store.Services, se.ServiceID, nameOf(tx, store.Services, se.ServiceID)),
		ServiceID:    ptr(se.ServiceID),
		Type:         &typ,
	}
}
