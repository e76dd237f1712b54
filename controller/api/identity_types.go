package api

import (
	"github.com/go-openapi/runtime/middleware"

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

// listIdentityTypes answers GET /identity-types.
func (s *Server) listIdentityTypes(identity.ListIdentityTypesParams, any) middleware.Responder {
	out := make([]*models.IdentityTypeDetail, 0, len(identityTypes))
	for _, t := range identityTypes {
		out = append(out, identityTypeModel(t))
	}
	n := int64(len(out))
	return list(out, pagination{Limit: n, TotalCount: n})
}

// detailIdentityType answers GET /identity-types/{id}.
func (s *Server) detailIdentityType(p identity.DetailIdentityTypeParams, _ any) middleware.Responder {
	if !validIdentityType(p.ID) {
		return fail(errNotFound)
	}
	return ok(identityTypeModel(p.ID))
}

// identityTypeModel is the detail of identity type t.
func identityTypeModel(t string) *models.IdentityTypeDetail {
	ref := identityTypeRef(t)
	return &models.IdentityTypeDetail{ID: &ref.ID, Name: &ref.Name, Links: ref.Links}
}
