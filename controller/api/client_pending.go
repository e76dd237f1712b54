package api

import (
	"github.com/go-openapi/runtime/middleware"

	clientops "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/currentapisession"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/enroll"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/posture"
)

// notYetServed answers operations of the client API whose features this
// controller does not offer yet (posture, API-session certificates and
// certificate extension) with a 501 error envelope, so
// clients get a clear, well-formed answer.
func notYetServed(feature string) middleware.Responder {
	return fail(&APIError{Status: 501, Code: "NOT_IMPLEMENTED", Message: feature + " is not available on this controller yet"})
}

// registerClientPending assigns the enrollment operations (client_enroll.go)
// and the operations answered by notYetServed.
func (s *Server) registerClientPending(a *clientops.EdgeClientAPI) {
	s.registerClientEnroll(a)
	a.CurrentapisessionCreateCurrentAPISessionCertificateHandler = currentapisession.CreateCurrentAPISessionCertificateHandlerFunc(func(currentapisession.CreateCurrentAPISessionCertificateParams, any) middleware.Responder {
		return notYetServed("API-session certificates")
	})
	a.PostureCreatePostureResponseHandler = posture.CreatePostureResponseHandlerFunc(func(posture.CreatePostureResponseParams, any) middleware.Responder { return notYetServed("posture") })
	a.PostureCreatePostureResponseBulkHandler = posture.CreatePostureResponseBulkHandlerFunc(func(posture.CreatePostureResponseBulkParams, any) middleware.Responder {
		return notYetServed("posture")
	})
	a.CurrentapisessionDeleteCurrentAPISessionCertificateHandler = currentapisession.DeleteCurrentAPISessionCertificateHandlerFunc(func(currentapisession.DeleteCurrentAPISessionCertificateParams, any) middleware.Responder {
		return notYetServed("API-session certificates")
	})
	a.CurrentapisessionDetailCurrentAPISessionCertificateHandler = currentapisession.DetailCurrentAPISessionCertificateHandlerFunc(func(currentapisession.DetailCurrentAPISessionCertificateParams, any) middleware.Responder {
		return notYetServed("API-session certificates")
	})
	a.CurrentapisessionExtendCurrentIdentityAuthenticatorHandler = currentapisession.ExtendCurrentIdentityAuthenticatorHandlerFunc(func(currentapisession.ExtendCurrentIdentityAuthenticatorParams, any) middleware.Responder {
		return notYetServed("certificate extension")
	})
	a.EnrollExtendRouterEnrollmentHandler = enroll.ExtendRouterEnrollmentHandlerFunc(func(enroll.ExtendRouterEnrollmentParams) middleware.Responder { return notYetServed("enrollment") })
	a.CurrentapisessionExtendVerifyCurrentIdentityAuthenticatorHandler = currentapisession.ExtendVerifyCurrentIdentityAuthenticatorHandlerFunc(func(currentapisession.ExtendVerifyCurrentIdentityAuthenticatorParams, any) middleware.Responder {
		return notYetServed("certificate extension")
	})
	a.CurrentapisessionListCurrentAPISessionCertificatesHandler = currentapisession.ListCurrentAPISessionCertificatesHandlerFunc(func(currentapisession.ListCurrentAPISessionCertificatesParams, any) middleware.Responder {
		return notYetServed("API-session certificates")
	})
}
