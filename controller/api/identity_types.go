package api

import (
	"github.com/go-openapi/runtime/middleware"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/identity"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
)

// identityTypes are the fixed types of an identity, in the order listed.
var identityTypes = []string{store.IdentityTypeDefault, store.IdentityTypeUser, store.IdentityTypeDevice, store.IdentityTypeService}

const identityTypesCollection = "identity-types"

// identityTypeRef is how an identity names its type.
func identityTypeRef(t string) *models.EntityRef {
	return &models.EntityRef{ID: t, Name: t, Entity: identityTypesCollection, Links: linksOf(map[string]string{"self": "./" + identityTypesCollection + "/" + t})}
}

// registerIdentityTypes serves the identity types, so that the references
// identities carry to them resolve.
func (s *Server) registerIdentityTypes(a *operations.EdgeManagementAPI) {
	model := func(t string) *models.IdentityTypeDetail {
		ref := identityTypeRef(t)
		return &models.IdentityTypeDetail{ID: &ref.ID, Name: &ref.Name, Links: ref.Links}
	}
	a.IdentityListIdentityTypesHandler = identity.ListIdentityTypesHandlerFunc(func(identity.ListIdentityTypesParams, any) middleware.Responder {
		out := make([]*models.IdentityTypeDetail, 0, len(identityTypes))
		for _, t := range identityTypes {
			out = append(out, model(t))
		}
		n := int64(len(out))
		return list(out, pagination{Limit: n, TotalCount: n})
	})
	a.IdentityDetailIdentityTypeHandler = identity.DetailIdentityTypeHandlerFunc(func(p identity.DetailIdentityTypeParams, _ any) middleware.Responder {
		if !validIdentityType(p.ID) {
			return fail(errNotFound)
		}
		return ok(model(p.ID))
	})
}
