package api

import (
	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/api_session"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/session"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// listAPISessions answers GET /api-sessions.
func (s *Server) listAPISessions(p api_session.ListAPISessionsParams, _ any) middleware.Responder {
	return s.listOf(store.APISessions, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.apiSessionAdminModel)
}

// detailAPISession answers GET /api-sessions/{id}.
func (s *Server) detailAPISession(p api_session.DetailAPISessionParams, _ any) middleware.Responder {
	return s.detailOf(store.APISessions, p.ID, s.apiSessionAdminModel)
}

// deleteAPISession answers DELETE /api-sessions/{id}.
func (s *Server) deleteAPISession(p api_session.DeleteAPISessionParams, _ any) middleware.Responder {
	// The store cascades to the API session's sessions.
	r := s.deleteOf(p.HTTPRequest, store.APISessions, p.ID)
	s.Activity.Forget(p.ID)
	return r
}

// listSessions answers GET /sessions.
func (s *Server) listSessions(p session.ListSessionsParams, _ any) middleware.Responder {
	return s.listOf(store.Sessions, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, nil, s.sessionAdminModel)
}

// detailSession answers GET /sessions/{id}.
func (s *Server) detailSession(p session.DetailSessionParams, _ any) middleware.Responder {
	return s.detailOf(store.Sessions, p.ID, s.sessionAdminModel)
}

// deleteSession answers DELETE /sessions/{id}.
func (s *Server) deleteSession(p session.DeleteSessionParams, _ any) middleware.Responder {
	return s.deleteOf(p.HTTPRequest, store.Sessions, p.ID)
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
