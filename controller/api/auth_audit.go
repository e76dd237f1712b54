package api

import (
	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/filter"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/auth_audit"
	"github.com/ostium-net/ostium/controller/store"
)

// The auth audit: authentication events and the locks repeated failures
// place. Neither is recorded yet, so the lists are empty and no lock exists.
func (s *Server) registerAuthAudit(a *operations.EdgeManagementAPI) {
	a.AuthAuditListAuthEventsHandler = auth_audit.ListAuthEventsHandlerFunc(func(p auth_audit.ListAuthEventsParams, _ any) middleware.Responder {
		return emptyList(listParams{p.Filter, p.Sort, p.Limit, p.Offset})
	})
	a.AuthAuditListAuthLocksHandler = auth_audit.ListAuthLocksHandlerFunc(func(p auth_audit.ListAuthLocksParams, _ any) middleware.Responder {
		return emptyList(listParams{p.Filter, p.Sort, p.Limit, p.Offset})
	})
	a.AuthAuditDeleteAuthLockHandler = auth_audit.DeleteAuthLockHandlerFunc(func(p auth_audit.DeleteAuthLockParams, _ any) middleware.Responder {
		return fail(errNotFound)
	})
	a.AuthAuditDeleteIdentityAuthLocksHandler = auth_audit.DeleteIdentityAuthLocksHandlerFunc(func(p auth_audit.DeleteIdentityAuthLocksParams, _ any) middleware.Responder {
		if !s.State.Exists(store.Identities, p.ID) {
			return fail(errNotFound)
		}
		return okEmpty()
	})
}

// emptyList validates the list parameters and answers an empty page.
func emptyList(lp listParams) middleware.Responder {
	q, err := filter.FromListParams(str(lp.Filter), str(lp.Sort), lp.Limit, lp.Offset, filter.DefaultLimit, filter.MaxLimit)
	if err != nil {
		return fail(err)
	}
	start, _ := q.Window(0)
	page := pagination{Offset: int64(start)}
	if q.Limit != nil {
		page.Limit = *q.Limit
	}
	return list([]any{}, page)
}
