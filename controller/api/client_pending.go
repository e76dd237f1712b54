package api

import (
	"github.com/go-openapi/runtime/middleware"

	clientops "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/posture"
)

// notYetServed answers operations of the client API whose features this
// controller does not offer yet (posture) with a 501 error envelope, so
// clients get a clear, well-formed answer.
func notYetServed(feature string) middleware.Responder {
	return fail(&APIError{Status: 501, Code: "NOT_IMPLEMENTED", Message: feature + " is not available on this controller yet"})
}

// registerClientPending assigns the enrollment operations (client_enroll.go),
// the renewal operations (client_extend.go) and the operations answered by
// notYetServed.
func (s *Server) registerClientPending(a *clientops.EdgeClientAPI) {
	s.registerClientEnroll(a)
	s.registerClientExtend(a)
	a.PostureCreatePostureResponseHandler = posture.CreatePostureResponseHandlerFunc(func(posture.CreatePostureResponseParams, any) middleware.Responder { return notYetServed("posture") })
	a.PostureCreatePostureResponseBulkHandler = posture.CreatePostureResponseBulkHandlerFunc(func(posture.CreatePostureResponseBulkParams, any) middleware.Responder {
		return notYetServed("posture")
	})
}
