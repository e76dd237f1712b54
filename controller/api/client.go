package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/runtime/middleware"
	"github.com/go-openapi/strfmt"

	clientops "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/authentication"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/controllers"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/currentapisession"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/currentidentity"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/externaljwt"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/informational"
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/wellknown"
	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/store"
	"github.com/ostium-net/ostium/sdk/restapi/models"
	"github.com/ostium-net/ostium/specs"
)

// RouterDirectory tells which edge routers are connected to the controller
// right now. The router control channel provides it; without one, no router
// is online.
type RouterDirectory interface {
	Online(routerID string) bool
}

type noRouters struct{}

func (noRouters) Online(string) bool { return false }

func (s *Server) clientHandler() (http.Handler, error) {
	doc, err := clientSpec()
	if err != nil {
		return nil, fmt.Errorf("load client spec: %w", err)
	}
	a := clientops.NewEdgeClientAPI(doc)
	a.Logger = func(format string, args ...any) { s.Log.Debug(fmt.Sprintf(format, args...)) }
	a.ServeError = func(w http.ResponseWriter, r *http.Request, err error) { writeError(w, r, err) }
	a.ZtSessionAuth = s.authenticateToken
	a.Oauth2Auth = func(string, []string) (any, error) { return nil, errUnauthorized }
	a.BearerAuthenticator = s.bearerAuthenticator
	a.APIAuthorizer = anyIdentity{}
	a.ApplicationPkcs7MimeProducer = runtime.TextProducer()
	// POST /enroll reads its body itself; the runtime only checks the media type.
	a.ApplicationPkcs10Consumer = runtime.ByteStreamConsumer()
	a.ApplicationXPemFileConsumer = runtime.ByteStreamConsumer()
	s.routeClient(a)
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("client API: %w", err)
	}
	return a.Serve(routeBuilder), nil
}

// anyIdentity lets every authenticated identity use the client API; what each
// may see is decided by the handlers.
type anyIdentity struct{}

func (anyIdentity) Authorize(r *http.Request, principal any) error {
	p := principalOf(principal)
	if p == nil {
		return errUnauthorized
	}
	if p.mfaPending() && !allowedWhileMFAPending(r, p) {
		return errUnauthorized
	}
	return nil
}

// listRoot answers GET /.
func (s *Server) listRoot(informational.ListRootParams) middleware.Responder {
	return ok(s.versionModel())
}

// listVersion answers GET /version.
func (s *Server) listVersion(informational.ListVersionParams) middleware.Responder {
	return ok(s.versionModel())
}

// listEnumeratedCapabilities answers GET /enumerated-capabilities.
func (s *Server) listEnumeratedCapabilities(informational.ListEnumeratedCapabilitiesParams) middleware.Responder {
	return ok(s.capabilities())
}

// listProtocols answers GET /protocols.
func (s *Server) listProtocols(informational.ListProtocolsParams) middleware.Responder {
	return ok(models.ListProtocols{"https": {Address: ptr(s.Advertise)}})
}

// listSpecs answers GET /specs.
func (s *Server) listSpecs(informational.ListSpecsParams) middleware.Responder {
	out := []any{}
	for _, sp := range specs.List() {
		out = append(out, s.specModel(sp))
	}
	return ok(out)
}

// detailSpec answers GET /specs/{id}.
func (s *Server) detailSpec(p informational.DetailSpecParams) middleware.Responder {
	sp, found := specs.Lookup(p.ID)
	if !found {
		return fail(errNotFound)
	}
	return ok(s.specModel(sp))
}

// detailSpecBody answers GET /specs/{id}/spec.
func (s *Server) detailSpecBody(p informational.DetailSpecBodyParams) middleware.Responder {
	body, err := specs.Document(p.ID)
	if errors.Is(err, specs.ErrUnknownSpec) {
		return fail(errNotFound)
	}
	if err != nil {
		return fail(err)
	}
	return rawBody{status: 200, contentType: "text/plain; charset=utf-8", body: body}
}

// listWellKnownCas answers GET /.well-known/est/cacerts.
func (s *Server) listWellKnownCas(wellknown.ListWellKnownCasParams) middleware.Responder {
	return s.cacerts()
}

// listControllers answers GET /controllers.
func (s *Server) listControllers(p controllers.ListControllersParams, _ any) middleware.Responder {
	out, err := s.controllerModels()
	if err != nil {
		return fail(err)
	}
	return list(out, pagination{Limit: int64(len(out)), TotalCount: int64(len(out))})
}

// clientListExternalJwtSigners answers GET /external-jwt-signers.
func (s *Server) clientListExternalJwtSigners(externaljwt.ListExternalJwtSignersParams) middleware.Responder {
	out := []any{}
	err := s.State.View(func(tx *store.Tx) error {
		return tx.ForEach(store.ExternalJWTSigners, func(r store.Record) error {
			sg := r.(*store.ExternalJWTSigner)
			if !sg.Enabled {
				return nil
			}
			out = append(out, &models.ClientExternalJwtSignerDetail{
				BaseEntity: baseOf(store.ExternalJWTSigners, &sg.Meta), Name: ptr(sg.Name),
				ExternalAuthURL: ptr(sg.ExternalAuthURL), ClientID: ptr(sg.ClientID), Audience: ptr(sg.Audience),
				Scopes: strs(sg.Scopes),
			})
			return nil
		})
	})
	if err != nil {
		return fail(err)
	}
	return list(out, pagination{Limit: int64(len(out)), TotalCount: int64(len(out))})
}

// specModel describes an embedded specification; it came into being, as far
// as clients can tell, when this API started serving it.
func (s *Server) specModel(sp specs.Spec) *models.SpecDetail {
	id := sp.ID
	href := "./specs/" + id
	return &models.SpecDetail{BaseEntity: models.BaseEntity{ID: &id, Tags: models.Tags{}, CreatedAt: dt(s.started), UpdatedAt: dt(s.started),
		Links: linksOf(map[string]string{"self": href, "spec": href + "/spec"})}, Name: ptr(sp.Name)}
}

// cacerts answers with the base64 PKCS#7 bundle of every CA clients trust.
func (s *Server) cacerts() middleware.Responder {
	body, err := s.CA.CACertsPKCS7()
	if err != nil {
		return fail(err)
	}
	return rawBody{status: 200, contentType: "application/pkcs7-mime", body: body,
		header: map[string]string{"Content-Transfer-Encoding": "base64"}}
}

// rawBody answers with bytes that are not an envelope.
type rawBody struct {
	status      int
	contentType string
	body        []byte
	header      map[string]string
}

func (r rawBody) WriteResponse(w http.ResponseWriter, _ runtime.Producer) {
	for k, v := range r.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", r.contentType)
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}

// clientAuthenticate answers POST /authenticate.
func (s *Server) clientAuthenticate(p authentication.AuthenticateParams) middleware.Responder {
	var creds models.Authenticate
	if p.Auth != nil {
		creds = *p.Auth
	}
	return s.authenticate(p.HTTPRequest, p.Method, &creds, false)
}

// clientGetCurrentAPISession answers GET /current-api-session.
func (s *Server) clientGetCurrentAPISession(p currentapisession.GetCurrentAPISessionParams, pr any) middleware.Responder {
	return s.currentAPISession(pr)
}

// clientDeleteCurrentAPISession answers DELETE /current-api-session.
func (s *Server) clientDeleteCurrentAPISession(p currentapisession.DeleteCurrentAPISessionParams, pr any) middleware.Responder {
	return s.logout(p.HTTPRequest, pr)
}

// listServiceUpdates answers GET /current-api-session/service-updates.
func (s *Server) listServiceUpdates(p currentapisession.ListServiceUpdatesParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	var at time.Time
	_ = s.State.View(func(tx *store.Tx) error {
		at = policy.ServicesChangedAt(tx, caller.Identity.ID)
		return nil
	})
	if at.IsZero() {
		at = caller.Session.CreatedAt
	}
	return ok(&models.CurrentAPISessionServiceUpdateList{LastChangeAt: dt(at)})
}

// clientGetCurrentIdentity answers GET /current-identity.
func (s *Server) clientGetCurrentIdentity(p currentidentity.GetCurrentIdentityParams, pr any) middleware.Responder {
	return s.detailOf(store.Identities, principalOf(pr).Identity.ID, s.currentIdentityModel)
}

// getCurrentIdentityEdgeRouters answers GET /current-identity/edge-routers.
func (s *Server) getCurrentIdentityEdgeRouters(p currentidentity.GetCurrentIdentityEdgeRoutersParams, pr any) middleware.Responder {
	caller := principalOf(pr)
	return s.listOf(store.EdgeRouters, listParams{p.Filter, p.Sort, p.Limit, p.Offset}, func(tx *store.Tx) []string {
		return policy.IdentityEdgeRouters(tx, caller.Identity.ID)
	}, s.currentIdentityEdgeRouterModel)
}

// currentIdentityModel is the identity as it sees itself.
func (s *Server) currentIdentityModel(tx *store.Tx, rec store.Record) any {
	d := s.identityModel(tx, rec).(*models.IdentityDetail)
	return &models.CurrentIdentityDetail{
		BaseEntity: d.BaseEntity, AppData: d.AppData, AuthPolicy: d.AuthPolicy, AuthPolicyID: d.AuthPolicyID,
		Authenticators: d.Authenticators, DefaultHostingCost: d.DefaultHostingCost, DefaultHostingPrecedence: *d.DefaultHostingPrecedence,
		Disabled: d.Disabled, DisabledAt: d.DisabledAt, DisabledUntil: d.DisabledUntil, EnvInfo: d.EnvInfo, ExternalID: d.ExternalID,
		HasAPISession: d.HasAPISession, HasEdgeRouterConnection: d.HasEdgeRouterConnection, IsAdmin: d.IsAdmin,
		IsDefaultAdmin: d.IsDefaultAdmin, IsMfaEnabled: d.IsMfaEnabled, Name: d.Name, RoleAttributes: d.RoleAttributes,
		SdkInfo: d.SdkInfo, ServiceHostingCosts: d.ServiceHostingCosts, ServiceHostingPrecedences: d.ServiceHostingPrecedences,
		Type: d.Type, TypeID: d.TypeID,
	}
}

func (s *Server) routers() RouterDirectory {
	if s.Routers == nil {
		return noRouters{}
	}
	return s.Routers
}

// routerProperties are the router fields clients see.
func (s *Server) routerProperties(r *store.EdgeRouter) models.CommonEdgeRouterProperties {
	protos := map[string]string{}
	for k, v := range r.SupportedProtocols {
		protos[k] = v
	}
	return models.CommonEdgeRouterProperties{
		AppData: models.Tags(r.AppData), Cost: ptr(int64(r.Cost)), Disabled: ptr(r.Disabled), Hostname: ptr(r.Hostname),
		IsOnline: ptr(s.routers().Online(r.ID)), Name: ptr(r.Name), NoTraversal: ptr(r.NoTraversal),
		SupportedProtocols: protos, SyncStatus: ptr(syncStatus(s.routers().Online(r.ID))),
	}
}

func syncStatus(online bool) string {
	if online {
		return "SYNC_DONE"
	}
	return "SYNC_UNKNOWN"
}

func (s *Server) currentIdentityEdgeRouterModel(tx *store.Tx, rec store.Record) any {
	r := rec.(*store.EdgeRouter)
	return &models.CurrentIdentityEdgeRouterDetail{BaseEntity: baseOf(store.EdgeRouters, &r.Meta), CommonEdgeRouterProperties: s.routerProperties(r)}
}

// clientInfoMaps turns the environment and SDK info a client reports when
// it authenticates into the maps kept on its identity; nil when absent.
func clientInfoMaps(env *models.EnvInfo, sdk *models.SdkInfo) (envMap, sdkMap map[string]any) {
	toMap := func(v any) map[string]any {
		b, err := json.Marshal(v)
		if err != nil {
			return nil
		}
		m := map[string]any{}
		if json.Unmarshal(b, &m) != nil || len(m) == 0 {
			return nil
		}
		return m
	}
	if env != nil {
		envMap = toMap(env)
	}
	if sdk != nil {
		sdkMap = toMap(sdk)
	}
	return envMap, sdkMap
}

func uriPtr(s string) *strfmt.URI {
	u := strfmt.URI(s)
	return &u
}

func linksOf(m map[string]string) models.Links {
	out := models.Links{}
	for k, v := range m {
		href := v
		out[k] = models.Link{Href: uriPtr(href)}
	}
	return out
}
