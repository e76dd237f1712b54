package api

// This file is the one place that lists every operation of the two APIs,
// with its method and path, and the Server method that answers it, grouped
// by the specs' tags. The Edge Client API's tag packages are imported with a
// "c" prefix; the Edge Management API's under their own names.

import (
	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations"
	cauthentication "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/authentication"
	ccontrollers "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/controllers"
	ccurrentapisession "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/currentapisession"
	ccurrentidentity "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/currentidentity"
	cenroll "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/enroll"
	cenrollment "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/enrollment"
	cexternaljwt "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/externaljwt"
	cinformational "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/informational"
	cmfa "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/mfa"
	cposture "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/posture"
	cservice "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/service"
	csession "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/session"
	cwellknown "github.com/ostium-net/ostium/controller/internal/restserver/clientapi/operations/wellknown"
	mgmtops "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations"
	apisession "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/api_session"
	apitoken "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/api_token"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/audit"
	authaudit "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/auth_audit"
	authpolicy "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/auth_policy"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/authentication"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/authenticator"
	certificateauthority "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/certificate_authority"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/circuit"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/cluster"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/config"
	currentapisession "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/current_api_session"
	currentidentity "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/current_identity"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/database"
	edgerouter "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/edge_router"
	edgerouterpolicy "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/edge_router_policy"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/enrollment"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/events"
	externaljwtsigner "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/external_j_w_t_signer"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/identity"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/informational"
	linkops "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/link"
	posturecheck "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/posture_check"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/service"
	serviceedgerouterpolicy "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/service_edge_router_policy"
	servicepolicy "github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/service_policy"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/session"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations/terminator"
)

// routeClient assigns every operation of the Edge Client API.
func (s *Server) routeClient(a *operations.EdgeClientAPI) {
	// Authentication: Creating API sessions.
	a.AuthenticationAuthenticateHandler = cauthentication.AuthenticateHandlerFunc(s.clientAuthenticate)          // POST /authenticate
	a.AuthenticationAuthenticateMfaHandler = cauthentication.AuthenticateMfaHandlerFunc(s.clientAuthenticateMfa) // POST /authenticate/mfa

	// Controllers: The controllers of the network.
	a.ControllersListControllersHandler = ccontrollers.ListControllersHandlerFunc(s.listControllers) // GET /controllers

	// Current API Session: The API session that issued the request.
	a.CurrentapisessionGetCurrentAPISessionHandler = ccurrentapisession.GetCurrentAPISessionHandlerFunc(s.clientGetCurrentAPISession)                                                       // GET /current-api-session
	a.CurrentapisessionDeleteCurrentAPISessionHandler = ccurrentapisession.DeleteCurrentAPISessionHandlerFunc(s.clientDeleteCurrentAPISession)                                              // DELETE /current-api-session
	a.CurrentapisessionListServiceUpdatesHandler = ccurrentapisession.ListServiceUpdatesHandlerFunc(s.listServiceUpdates)                                                                   // GET /current-api-session/service-updates
	a.CurrentapisessionListCurrentIdentityAuthenticatorsHandler = ccurrentapisession.ListCurrentIdentityAuthenticatorsHandlerFunc(s.listCurrentIdentityAuthenticators)                      // GET /current-identity/authenticators
	a.CurrentapisessionDetailCurrentIdentityAuthenticatorHandler = ccurrentapisession.DetailCurrentIdentityAuthenticatorHandlerFunc(s.detailCurrentIdentityAuthenticator)                   // GET /current-identity/authenticators/{id}
	a.CurrentapisessionUpdateCurrentIdentityAuthenticatorHandler = ccurrentapisession.UpdateCurrentIdentityAuthenticatorHandlerFunc(s.updateCurrentIdentityAuthenticator)                   // PUT /current-identity/authenticators/{id}
	a.CurrentapisessionPatchCurrentIdentityAuthenticatorHandler = ccurrentapisession.PatchCurrentIdentityAuthenticatorHandlerFunc(s.patchCurrentIdentityAuthenticator)                      // PATCH /current-identity/authenticators/{id}
	a.CurrentapisessionExtendCurrentIdentityAuthenticatorHandler = ccurrentapisession.ExtendCurrentIdentityAuthenticatorHandlerFunc(s.extendCurrentIdentityAuthenticator)                   // POST /current-identity/authenticators/{id}/extend
	a.CurrentapisessionExtendVerifyCurrentIdentityAuthenticatorHandler = ccurrentapisession.ExtendVerifyCurrentIdentityAuthenticatorHandlerFunc(s.extendVerifyCurrentIdentityAuthenticator) // POST /current-identity/authenticators/{id}/extend-verify
	a.CurrentapisessionCreateCurrentAPISessionCertificateHandler = ccurrentapisession.CreateCurrentAPISessionCertificateHandlerFunc(s.createCurrentAPISessionCertificate)                   // POST /current-api-session/certificates
	a.CurrentapisessionListCurrentAPISessionCertificatesHandler = ccurrentapisession.ListCurrentAPISessionCertificatesHandlerFunc(s.listCurrentAPISessionCertificates)                      // GET /current-api-session/certificates
	a.CurrentapisessionDetailCurrentAPISessionCertificateHandler = ccurrentapisession.DetailCurrentAPISessionCertificateHandlerFunc(s.detailCurrentAPISessionCertificate)                   // GET /current-api-session/certificates/{id}
	a.CurrentapisessionDeleteCurrentAPISessionCertificateHandler = ccurrentapisession.DeleteCurrentAPISessionCertificateHandlerFunc(s.deleteCurrentAPISessionCertificate)                   // DELETE /current-api-session/certificates/{id}

	// Current Identity: The identity of the API session that issued the request.
	a.CurrentidentityGetCurrentIdentityHandler = ccurrentidentity.GetCurrentIdentityHandlerFunc(s.clientGetCurrentIdentity)                            // GET /current-identity
	a.CurrentidentityGetCurrentIdentityEdgeRoutersHandler = ccurrentidentity.GetCurrentIdentityEdgeRoutersHandlerFunc(s.getCurrentIdentityEdgeRouters) // GET /current-identity/edge-routers

	// Enroll: Turning a one-time token into a credential.
	a.EnrollEnrollHandler = cenroll.EnrollHandlerFunc(s.enroll)                                                 // POST /enroll
	a.EnrollEnrollOttHandler = cenroll.EnrollOttHandlerFunc(s.enrollOtt)                                        // POST /enroll/ott
	a.EnrollEnrollOttCaHandler = cenroll.EnrollOttCaHandlerFunc(s.enrollOttCa)                                  // POST /enroll/ottca
	a.EnrollEnrollCaHandler = cenroll.EnrollCaHandlerFunc(s.enrollCa)                                           // POST /enroll/ca
	a.EnrollEnrollUpdbHandler = cenroll.EnrollUpdbHandlerFunc(s.clientEnrollUpdb)                               // POST /enroll/updb
	a.EnrollEnrollErOttHandler = cenroll.EnrollErOttHandlerFunc(s.enrollErOtt)                                  // POST /enroll/erott
	a.EnrollListEnrollmentJwksHandler = cenroll.ListEnrollmentJwksHandlerFunc(s.listEnrollmentJwks)             // GET /enroll/jwks
	a.EnrollEnrollmentChallengeHandler = cenroll.EnrollmentChallengeHandlerFunc(s.clientEnrollmentChallenge)    // POST /enroll/challenge
	a.EnrollExtendRouterEnrollmentHandler = cenroll.ExtendRouterEnrollmentHandlerFunc(s.extendRouterEnrollment) // POST /enroll/extend/router

	// Enrollment: Documents that bootstrap trust in the network.
	a.EnrollmentListNetworkJwtsHandler = cenrollment.ListNetworkJwtsHandlerFunc(s.listNetworkJwts) // GET /network-jwts

	// External JWT: Issuers whose JWTs the network accepts for authentication.
	a.ExternaljwtListExternalJwtSignersHandler = cexternaljwt.ListExternalJwtSignersHandlerFunc(s.clientListExternalJwtSigners) // GET /external-jwt-signers

	// Informational: What the controller is and what it serves.
	a.InformationalListRootHandler = cinformational.ListRootHandlerFunc(s.listRoot)                                                       // GET /
	a.InformationalListVersionHandler = cinformational.ListVersionHandlerFunc(s.listVersion)                                              // GET /version
	a.InformationalListEnumeratedCapabilitiesHandler = cinformational.ListEnumeratedCapabilitiesHandlerFunc(s.listEnumeratedCapabilities) // GET /enumerated-capabilities
	a.InformationalListProtocolsHandler = cinformational.ListProtocolsHandlerFunc(s.listProtocols)                                        // GET /protocols
	a.InformationalListSpecsHandler = cinformational.ListSpecsHandlerFunc(s.listSpecs)                                                    // GET /specs
	a.InformationalDetailSpecHandler = cinformational.DetailSpecHandlerFunc(s.detailSpec)                                                 // GET /specs/{id}
	a.InformationalDetailSpecBodyHandler = cinformational.DetailSpecBodyHandlerFunc(s.detailSpecBody)                                     // GET /specs/{id}/spec

	// MFA: Time-based one-time passwords for the current identity.
	a.MfaEnrollMfaHandler = cmfa.EnrollMfaHandlerFunc(s.enrollMfa)                                        // POST /current-identity/mfa
	a.MfaDetailMfaHandler = cmfa.DetailMfaHandlerFunc(s.detailMfa)                                        // GET /current-identity/mfa
	a.MfaDetailMfaQrCodeHandler = cmfa.DetailMfaQrCodeHandlerFunc(s.detailMfaQrCode)                      // GET /current-identity/mfa/qr-code
	a.MfaVerifyMfaHandler = cmfa.VerifyMfaHandlerFunc(s.verifyMfa)                                        // POST /current-identity/mfa/verify
	a.MfaDeleteMfaHandler = cmfa.DeleteMfaHandlerFunc(s.deleteMfa)                                        // DELETE /current-identity/mfa
	a.MfaDetailMfaRecoveryCodesHandler = cmfa.DetailMfaRecoveryCodesHandlerFunc(s.detailMfaRecoveryCodes) // GET /current-identity/mfa/recovery-codes
	a.MfaCreateMfaRecoveryCodesHandler = cmfa.CreateMfaRecoveryCodesHandlerFunc(s.createMfaRecoveryCodes) // POST /current-identity/mfa/recovery-codes

	// Posture: Reports about the client device that posture checks evaluate.
	a.PostureCreatePostureResponseHandler = cposture.CreatePostureResponseHandlerFunc(s.createPostureResponse)             // POST /posture-response
	a.PostureCreatePostureResponseBulkHandler = cposture.CreatePostureResponseBulkHandlerFunc(s.createPostureResponseBulk) // POST /posture-response-bulk

	// Service: The services the current identity may dial or bind.
	a.ServiceListServicesHandler = cservice.ListServicesHandlerFunc(s.clientListServices)                               // GET /services
	a.ServiceDetailServiceHandler = cservice.DetailServiceHandlerFunc(s.clientDetailService)                            // GET /services/{id}
	a.ServiceListServiceEdgeRoutersHandler = cservice.ListServiceEdgeRoutersHandlerFunc(s.clientListServiceEdgeRouters) // GET /services/{id}/edge-routers
	a.ServiceListServiceTerminatorsHandler = cservice.ListServiceTerminatorsHandlerFunc(s.clientListServiceTerminators) // GET /services/{id}/terminators
	a.ServiceDeleteServiceHandler = cservice.DeleteServiceHandlerFunc(s.clientDeleteService)                            // DELETE /services/{id}
	a.ServiceUpdateServiceHandler = cservice.UpdateServiceHandlerFunc(s.clientUpdateService)                            // PUT /services/{id}
	a.ServicePatchServiceHandler = cservice.PatchServiceHandlerFunc(s.clientPatchService)                               // PATCH /services/{id}

	// Session: Permissions to dial or bind one service through edge routers.
	a.SessionCreateSessionHandler = csession.CreateSessionHandlerFunc(s.clientCreateSession) // POST /sessions
	a.SessionListSessionsHandler = csession.ListSessionsHandlerFunc(s.clientListSessions)    // GET /sessions
	a.SessionDetailSessionHandler = csession.DetailSessionHandlerFunc(s.clientDetailSession) // GET /sessions/{id}
	a.SessionDeleteSessionHandler = csession.DeleteSessionHandlerFunc(s.clientDeleteSession) // DELETE /sessions/{id}

	// Well Known: Bootstrap documents at fixed locations.
	a.WellknownListWellKnownCasHandler = cwellknown.ListWellKnownCasHandlerFunc(s.listWellKnownCas) // GET /.well-known/est/cacerts
}

// routeManagement assigns every operation of the Edge Management API.
func (s *Server) routeManagement(a *mgmtops.EdgeManagementAPI) {
	// API Session: Authenticated API sessions of every identity.
	a.APISessionListAPISessionsHandler = apisession.ListAPISessionsHandlerFunc(s.listAPISessions)    // GET /api-sessions
	a.APISessionDetailAPISessionHandler = apisession.DetailAPISessionHandlerFunc(s.detailAPISession) // GET /api-sessions/{id}
	a.APISessionDeleteAPISessionHandler = apisession.DeleteAPISessionHandlerFunc(s.deleteAPISession) // DELETE /api-sessions/{id}

	// API Token: Long-lived tokens that let automation use the management API.
	a.APITokenListAPITokensHandler = apitoken.ListAPITokensHandlerFunc(s.handleListAPITokens)          // GET /api-tokens
	a.APITokenDetailAPITokenHandler = apitoken.DetailAPITokenHandlerFunc(s.detailAPIToken)             // GET /api-tokens/{id}
	a.APITokenGetCurrentAPITokenHandler = apitoken.GetCurrentAPITokenHandlerFunc(s.getCurrentAPIToken) // GET /current-api-token
	a.APITokenCreateAPITokenHandler = apitoken.CreateAPITokenHandlerFunc(s.handleCreateAPIToken)       // POST /api-tokens
	a.APITokenDeleteAPITokenHandler = apitoken.DeleteAPITokenHandlerFunc(s.deleteAPIToken)             // DELETE /api-tokens/{id}

	// Audit: Who changed what through the management API, from where and when.
	a.AuditListAuditEventsHandler = audit.ListAuditEventsHandlerFunc(s.listAuditEvents) // GET /audit-events

	// Auth Audit: Authentication events and the locks that repeated failures place.
	a.AuthAuditListAuthEventsHandler = authaudit.ListAuthEventsHandlerFunc(s.listAuthEvents)                            // GET /auth-events
	a.AuthAuditListAuthLocksHandler = authaudit.ListAuthLocksHandlerFunc(s.listAuthLocks)                               // GET /auth-locks
	a.AuthAuditDeleteAuthLockHandler = authaudit.DeleteAuthLockHandlerFunc(s.deleteAuthLock)                            // DELETE /auth-locks/{id}
	a.AuthAuditDeleteIdentityAuthLocksHandler = authaudit.DeleteIdentityAuthLocksHandlerFunc(s.deleteIdentityAuthLocks) // DELETE /identities/{id}/auth-locks

	// Authentication: Signing in as an administrator.
	a.AuthenticationAuthenticateHandler = authentication.AuthenticateHandlerFunc(s.handleAuthenticate)    // POST /authenticate
	a.AuthenticationAuthenticateMfaHandler = authentication.AuthenticateMfaHandlerFunc(s.authenticateMfa) // POST /authenticate/mfa

	// Authenticator: The certificates and passwords identities authenticate with.
	a.AuthenticatorListAuthenticatorsHandler = authenticator.ListAuthenticatorsHandlerFunc(s.listAuthenticators)          // GET /authenticators
	a.AuthenticatorDetailAuthenticatorHandler = authenticator.DetailAuthenticatorHandlerFunc(s.detailAuthenticator)       // GET /authenticators/{id}
	a.AuthenticatorCreateAuthenticatorHandler = authenticator.CreateAuthenticatorHandlerFunc(s.handleCreateAuthenticator) // POST /authenticators
	a.AuthenticatorUpdateAuthenticatorHandler = authenticator.UpdateAuthenticatorHandlerFunc(s.updateAuthenticator)       // PUT /authenticators/{id}
	a.AuthenticatorPatchAuthenticatorHandler = authenticator.PatchAuthenticatorHandlerFunc(s.patchAuthenticator)          // PATCH /authenticators/{id}
	a.AuthenticatorDeleteAuthenticatorHandler = authenticator.DeleteAuthenticatorHandlerFunc(s.deleteAuthenticator)       // DELETE /authenticators/{id}

	// Auth Policy: Which authentication methods identities may use, and their limits.
	a.AuthPolicyListAuthPoliciesHandler = authpolicy.ListAuthPoliciesHandlerFunc(s.listAuthPolicies)    // GET /auth-policies
	a.AuthPolicyDetailAuthPolicyHandler = authpolicy.DetailAuthPolicyHandlerFunc(s.detailAuthPolicy)    // GET /auth-policies/{id}
	a.AuthPolicyCreateAuthPolicyHandler = authpolicy.CreateAuthPolicyHandlerFunc(s.createAuthPolicy)    // POST /auth-policies
	a.AuthPolicyUpdateAuthPolicyHandler = authpolicy.UpdateAuthPolicyHandlerFunc(s.updateAuthPolicy)    // PUT /auth-policies/{id}
	a.AuthPolicyPatchAuthPolicyHandler = authpolicy.PatchAuthPolicyHandlerFunc(s.handlePatchAuthPolicy) // PATCH /auth-policies/{id}
	a.AuthPolicyDeleteAuthPolicyHandler = authpolicy.DeleteAuthPolicyHandlerFunc(s.deleteAuthPolicy)    // DELETE /auth-policies/{id}

	// Certificate Authority: Third-party certificate authorities for auto-enrollment, OTT-CA enrollment and authentication.
	a.CertificateAuthorityListCasHandler = certificateauthority.ListCasHandlerFunc(s.listCas)    // GET /cas
	a.CertificateAuthorityDetailCaHandler = certificateauthority.DetailCaHandlerFunc(s.detailCa) // GET /cas/{id}
	a.CertificateAuthorityCreateCaHandler = certificateauthority.CreateCaHandlerFunc(s.createCa) // POST /cas
	a.CertificateAuthorityUpdateCaHandler = certificateauthority.UpdateCaHandlerFunc(s.updateCa) // PUT /cas/{id}
	a.CertificateAuthorityPatchCaHandler = certificateauthority.PatchCaHandlerFunc(s.patchCa)    // PATCH /cas/{id}
	a.CertificateAuthorityDeleteCaHandler = certificateauthority.DeleteCaHandlerFunc(s.deleteCa) // DELETE /cas/{id}
	a.CertificateAuthorityVerifyCaHandler = certificateauthority.VerifyCaHandlerFunc(s.verifyCa) // POST /cas/{id}/verify
	a.CertificateAuthorityGetCaJwtHandler = certificateauthority.GetCaJwtHandlerFunc(s.getCaJwt) // GET /cas/{id}/jwt

	// Circuit: Circuits the routers carry across their links.
	a.CircuitListCircuitsHandler = circuit.ListCircuitsHandlerFunc(s.listCircuits)          // GET /circuits
	a.CircuitDeleteCircuitHandler = circuit.DeleteCircuitHandlerFunc(s.handleDeleteCircuit) // DELETE /circuits/{id}

	// Cluster: The controllers of a high-availability cluster and their raft membership.
	a.ClusterListClusterMembersHandler = cluster.ListClusterMembersHandlerFunc(s.listClusterMembers)                      // GET /cluster/members
	a.ClusterAddClusterMemberHandler = cluster.AddClusterMemberHandlerFunc(s.addClusterMember)                            // POST /cluster/members
	a.ClusterRemoveClusterMemberHandler = cluster.RemoveClusterMemberHandlerFunc(s.removeClusterMember)                   // DELETE /cluster/members/{id}
	a.ClusterTransferClusterLeadershipHandler = cluster.TransferClusterLeadershipHandlerFunc(s.transferClusterLeadership) // POST /cluster/transfer-leadership
	a.ClusterCreateClusterJoinTokenHandler = cluster.CreateClusterJoinTokenHandlerFunc(s.createClusterJoinToken)          // POST /cluster/join-tokens
	a.ClusterJoinClusterHandler = cluster.JoinClusterHandlerFunc(s.handleJoinCluster)                                     // POST /cluster/join

	// Config: Configs attached to services and the config types that shape them.
	a.ConfigListConfigsHandler = config.ListConfigsHandlerFunc(s.listConfigs)                               // GET /configs
	a.ConfigDetailConfigHandler = config.DetailConfigHandlerFunc(s.detailConfig)                            // GET /configs/{id}
	a.ConfigCreateConfigHandler = config.CreateConfigHandlerFunc(s.handleCreateConfig)                      // POST /configs
	a.ConfigUpdateConfigHandler = config.UpdateConfigHandlerFunc(s.updateConfig)                            // PUT /configs/{id}
	a.ConfigPatchConfigHandler = config.PatchConfigHandlerFunc(s.patchConfig)                               // PATCH /configs/{id}
	a.ConfigDeleteConfigHandler = config.DeleteConfigHandlerFunc(s.deleteConfig)                            // DELETE /configs/{id}
	a.ConfigListConfigTypesHandler = config.ListConfigTypesHandlerFunc(s.listConfigTypes)                   // GET /config-types
	a.ConfigDetailConfigTypeHandler = config.DetailConfigTypeHandlerFunc(s.detailConfigType)                // GET /config-types/{id}
	a.ConfigCreateConfigTypeHandler = config.CreateConfigTypeHandlerFunc(s.createConfigType)                // POST /config-types
	a.ConfigUpdateConfigTypeHandler = config.UpdateConfigTypeHandlerFunc(s.updateConfigType)                // PUT /config-types/{id}
	a.ConfigPatchConfigTypeHandler = config.PatchConfigTypeHandlerFunc(s.patchConfigType)                   // PATCH /config-types/{id}
	a.ConfigDeleteConfigTypeHandler = config.DeleteConfigTypeHandlerFunc(s.deleteConfigType)                // DELETE /config-types/{id}
	a.ConfigListConfigTypeConfigsHandler = config.ListConfigTypeConfigsHandlerFunc(s.listConfigTypeConfigs) // GET /config-types/{id}/configs

	// Current API Session: The API session that made the request.
	a.CurrentAPISessionGetCurrentAPISessionHandler = currentapisession.GetCurrentAPISessionHandlerFunc(s.getCurrentAPISession)          // GET /current-api-session
	a.CurrentAPISessionDeleteCurrentAPISessionHandler = currentapisession.DeleteCurrentAPISessionHandlerFunc(s.deleteCurrentAPISession) // DELETE /current-api-session

	// Current Identity: The identity that made the request.
	a.CurrentIdentityGetCurrentIdentityHandler = currentidentity.GetCurrentIdentityHandlerFunc(s.getCurrentIdentity) // GET /current-identity

	// Database: Backups of the controller's state.
	a.DatabaseCreateDatabaseSnapshotHandler = database.CreateDatabaseSnapshotHandlerFunc(s.createDatabaseSnapshot) // POST /database/snapshot

	// Edge Router: Edge routers, where identities attach to the network.
	a.EdgeRouterListEdgeRoutersHandler = edgerouter.ListEdgeRoutersHandlerFunc(s.listEdgeRouters)                                                    // GET /edge-routers
	a.EdgeRouterDetailEdgeRouterHandler = edgerouter.DetailEdgeRouterHandlerFunc(s.detailEdgeRouter)                                                 // GET /edge-routers/{id}
	a.EdgeRouterCreateEdgeRouterHandler = edgerouter.CreateEdgeRouterHandlerFunc(s.handleCreateEdgeRouter)                                           // POST /edge-routers
	a.EdgeRouterUpdateEdgeRouterHandler = edgerouter.UpdateEdgeRouterHandlerFunc(s.updateEdgeRouter)                                                 // PUT /edge-routers/{id}
	a.EdgeRouterPatchEdgeRouterHandler = edgerouter.PatchEdgeRouterHandlerFunc(s.patchEdgeRouter)                                                    // PATCH /edge-routers/{id}
	a.EdgeRouterDeleteEdgeRouterHandler = edgerouter.DeleteEdgeRouterHandlerFunc(s.deleteEdgeRouter)                                                 // DELETE /edge-routers/{id}
	a.EdgeRouterReEnrollEdgeRouterHandler = edgerouter.ReEnrollEdgeRouterHandlerFunc(s.handleReEnrollEdgeRouter)                                     // POST /edge-routers/{id}/re-enroll
	a.EdgeRouterListEdgeRouterIdentitiesHandler = edgerouter.ListEdgeRouterIdentitiesHandlerFunc(s.listEdgeRouterIdentities)                         // GET /edge-routers/{id}/identities
	a.EdgeRouterListEdgeRouterServicesHandler = edgerouter.ListEdgeRouterServicesHandlerFunc(s.listEdgeRouterServices)                               // GET /edge-routers/{id}/services
	a.EdgeRouterListEdgeRouterEdgeRouterPoliciesHandler = edgerouter.ListEdgeRouterEdgeRouterPoliciesHandlerFunc(s.listEdgeRouterEdgeRouterPolicies) // GET /edge-routers/{id}/edge-router-policies

	// Edge Router Policy: Which identities may connect to which edge routers.
	a.EdgeRouterPolicyListEdgeRouterPoliciesHandler = edgerouterpolicy.ListEdgeRouterPoliciesHandlerFunc(s.listEdgeRouterPolicies)                            // GET /edge-router-policies
	a.EdgeRouterPolicyDetailEdgeRouterPolicyHandler = edgerouterpolicy.DetailEdgeRouterPolicyHandlerFunc(s.detailEdgeRouterPolicy)                            // GET /edge-router-policies/{id}
	a.EdgeRouterPolicyCreateEdgeRouterPolicyHandler = edgerouterpolicy.CreateEdgeRouterPolicyHandlerFunc(s.createEdgeRouterPolicy)                            // POST /edge-router-policies
	a.EdgeRouterPolicyUpdateEdgeRouterPolicyHandler = edgerouterpolicy.UpdateEdgeRouterPolicyHandlerFunc(s.updateEdgeRouterPolicy)                            // PUT /edge-router-policies/{id}
	a.EdgeRouterPolicyPatchEdgeRouterPolicyHandler = edgerouterpolicy.PatchEdgeRouterPolicyHandlerFunc(s.patchEdgeRouterPolicy)                               // PATCH /edge-router-policies/{id}
	a.EdgeRouterPolicyDeleteEdgeRouterPolicyHandler = edgerouterpolicy.DeleteEdgeRouterPolicyHandlerFunc(s.deleteEdgeRouterPolicy)                            // DELETE /edge-router-policies/{id}
	a.EdgeRouterPolicyListEdgeRouterPolicyIdentitiesHandler = edgerouterpolicy.ListEdgeRouterPolicyIdentitiesHandlerFunc(s.listEdgeRouterPolicyIdentities)    // GET /edge-router-policies/{id}/identities
	a.EdgeRouterPolicyListEdgeRouterPolicyEdgeRoutersHandler = edgerouterpolicy.ListEdgeRouterPolicyEdgeRoutersHandlerFunc(s.listEdgeRouterPolicyEdgeRouters) // GET /edge-router-policies/{id}/edge-routers

	// Enrollment: Pending one-time enrollments of identities and edge routers.
	a.EnrollmentListEnrollmentsHandler = enrollment.ListEnrollmentsHandlerFunc(s.listEnrollments)          // GET /enrollments
	a.EnrollmentDetailEnrollmentHandler = enrollment.DetailEnrollmentHandlerFunc(s.detailEnrollment)       // GET /enrollments/{id}
	a.EnrollmentCreateEnrollmentHandler = enrollment.CreateEnrollmentHandlerFunc(s.handleCreateEnrollment) // POST /enrollments
	a.EnrollmentRefreshEnrollmentHandler = enrollment.RefreshEnrollmentHandlerFunc(s.refreshEnrollment)    // POST /enrollments/{id}/refresh
	a.EnrollmentDeleteEnrollmentHandler = enrollment.DeleteEnrollmentHandlerFunc(s.deleteEnrollment)       // DELETE /enrollments/{id}

	// Events: The live stream of what happens on the network.
	a.EventsStreamEventsHandler = events.StreamEventsHandlerFunc(s.streamEvents) // GET /events

	// External JWT Signer: Issuers whose JWTs identities may authenticate with.
	a.ExternaljwtSignerListExternalJwtSignersHandler = externaljwtsigner.ListExternalJwtSignersHandlerFunc(s.listExternalJwtSigners)    // GET /external-jwt-signers
	a.ExternaljwtSignerDetailExternalJwtSignerHandler = externaljwtsigner.DetailExternalJwtSignerHandlerFunc(s.detailExternalJwtSigner) // GET /external-jwt-signers/{id}
	a.ExternaljwtSignerCreateExternalJwtSignerHandler = externaljwtsigner.CreateExternalJwtSignerHandlerFunc(s.createExternalJwtSigner) // POST /external-jwt-signers
	a.ExternaljwtSignerUpdateExternalJwtSignerHandler = externaljwtsigner.UpdateExternalJwtSignerHandlerFunc(s.updateExternalJwtSigner) // PUT /external-jwt-signers/{id}
	a.ExternaljwtSignerPatchExternalJwtSignerHandler = externaljwtsigner.PatchExternalJwtSignerHandlerFunc(s.patchExternalJwtSigner)    // PATCH /external-jwt-signers/{id}
	a.ExternaljwtSignerDeleteExternalJwtSignerHandler = externaljwtsigner.DeleteExternalJwtSignerHandlerFunc(s.deleteExternalJwtSigner) // DELETE /external-jwt-signers/{id}

	// Identity: Identities, the principals that authenticate to the network.
	a.IdentityListIdentitiesHandler = identity.ListIdentitiesHandlerFunc(s.listIdentities)                                                 // GET /identities
	a.IdentityDetailIdentityHandler = identity.DetailIdentityHandlerFunc(s.detailIdentity)                                                 // GET /identities/{id}
	a.IdentityCreateIdentityHandler = identity.CreateIdentityHandlerFunc(s.handleCreateIdentity)                                           // POST /identities
	a.IdentityUpdateIdentityHandler = identity.UpdateIdentityHandlerFunc(s.updateIdentity)                                                 // PUT /identities/{id}
	a.IdentityPatchIdentityHandler = identity.PatchIdentityHandlerFunc(s.patchIdentity)                                                    // PATCH /identities/{id}
	a.IdentityDeleteIdentityHandler = identity.DeleteIdentityHandlerFunc(s.deleteIdentity)                                                 // DELETE /identities/{id}
	a.IdentityDisableIdentityHandler = identity.DisableIdentityHandlerFunc(s.disableIdentity)                                              // POST /identities/{id}/disable
	a.IdentityEnableIdentityHandler = identity.EnableIdentityHandlerFunc(s.enableIdentity)                                                 // POST /identities/{id}/enable
	a.IdentityRemoveIdentityMfaHandler = identity.RemoveIdentityMfaHandlerFunc(s.removeIdentityMfa)                                        // DELETE /identities/{id}/mfa
	a.IdentityListIdentityServicesHandler = identity.ListIdentityServicesHandlerFunc(s.listIdentityServices)                               // GET /identities/{id}/services
	a.IdentityListIdentityEdgeRoutersHandler = identity.ListIdentityEdgeRoutersHandlerFunc(s.listIdentityEdgeRouters)                      // GET /identities/{id}/edge-routers
	a.IdentityListIdentityServicePoliciesHandler = identity.ListIdentityServicePoliciesHandlerFunc(s.listIdentityServicePolicies)          // GET /identities/{id}/service-policies
	a.IdentityListIdentityEdgeRouterPoliciesHandler = identity.ListIdentityEdgeRouterPoliciesHandlerFunc(s.listIdentityEdgeRouterPolicies) // GET /identities/{id}/edge-router-policies
	a.IdentityListIdentityAuthenticatorsHandler = identity.ListIdentityAuthenticatorsHandlerFunc(s.listIdentityAuthenticators)             // GET /identities/{id}/authenticators
	a.IdentityListIdentityEnrollmentsHandler = identity.ListIdentityEnrollmentsHandlerFunc(s.listIdentityEnrollments)                      // GET /identities/{id}/enrollments
	a.IdentityGetIdentityPolicyAdviceHandler = identity.GetIdentityPolicyAdviceHandlerFunc(s.getIdentityPolicyAdvice)                      // GET /identities/{id}/policy-advice/{serviceId}
	a.IdentityListIdentityTypesHandler = identity.ListIdentityTypesHandlerFunc(s.listIdentityTypes)                                        // GET /identity-types
	a.IdentityDetailIdentityTypeHandler = identity.DetailIdentityTypeHandlerFunc(s.detailIdentityType)                                     // GET /identity-types/{id}

	// Informational: The controller's version and the APIs it serves.
	a.InformationalGetVersionHandler = informational.GetVersionHandlerFunc(s.getVersion) // GET /version

	// Link: Links between routers and their state.
	a.LinkListLinksHandler = linkops.ListLinksHandlerFunc(s.listLinks) // GET /links

	// Posture Check: Conditions a client's device must meet for a service policy to apply.
	a.PostureCheckListPostureChecksHandler = posturecheck.ListPostureChecksHandlerFunc(s.listPostureChecks)          // GET /posture-checks
	a.PostureCheckDetailPostureCheckHandler = posturecheck.DetailPostureCheckHandlerFunc(s.detailPostureCheck)       // GET /posture-checks/{id}
	a.PostureCheckCreatePostureCheckHandler = posturecheck.CreatePostureCheckHandlerFunc(s.handleCreatePostureCheck) // POST /posture-checks
	a.PostureCheckUpdatePostureCheckHandler = posturecheck.UpdatePostureCheckHandlerFunc(s.updatePostureCheck)       // PUT /posture-checks/{id}
	a.PostureCheckPatchPostureCheckHandler = posturecheck.PatchPostureCheckHandlerFunc(s.handlePatchPostureCheck)    // PATCH /posture-checks/{id}
	a.PostureCheckDeletePostureCheckHandler = posturecheck.DeletePostureCheckHandlerFunc(s.deletePostureCheck)       // DELETE /posture-checks/{id}

	// Service: Services identities dial and bind.
	a.ServiceListServicesHandler = service.ListServicesHandlerFunc(s.listServices)                                           // GET /services
	a.ServiceDetailServiceHandler = service.DetailServiceHandlerFunc(s.detailService)                                        // GET /services/{id}
	a.ServiceCreateServiceHandler = service.CreateServiceHandlerFunc(s.handleCreateService)                                  // POST /services
	a.ServiceUpdateServiceHandler = service.UpdateServiceHandlerFunc(s.updateService)                                        // PUT /services/{id}
	a.ServicePatchServiceHandler = service.PatchServiceHandlerFunc(s.patchService)                                           // PATCH /services/{id}
	a.ServiceDeleteServiceHandler = service.DeleteServiceHandlerFunc(s.deleteService)                                        // DELETE /services/{id}
	a.ServiceListServiceIdentitiesHandler = service.ListServiceIdentitiesHandlerFunc(s.listServiceIdentities)                // GET /services/{id}/identities
	a.ServiceListServiceEdgeRoutersHandler = service.ListServiceEdgeRoutersHandlerFunc(s.listServiceEdgeRouters)             // GET /services/{id}/edge-routers
	a.ServiceListServiceConfigsHandler = service.ListServiceConfigsHandlerFunc(s.listServiceConfigs)                         // GET /services/{id}/configs
	a.ServiceListServiceServicePoliciesHandler = service.ListServiceServicePoliciesHandlerFunc(s.listServiceServicePolicies) // GET /services/{id}/service-policies
	a.ServiceListServiceTerminatorsHandler = service.ListServiceTerminatorsHandlerFunc(s.listServiceTerminators)             // GET /services/{id}/terminators

	// Service Edge Router Policy: Which edge routers may carry which services.
	a.ServiceEdgeRouterPolicyListServiceEdgeRouterPoliciesHandler = serviceedgerouterpolicy.ListServiceEdgeRouterPoliciesHandlerFunc(s.listServiceEdgeRouterPolicies)                            // GET /service-edge-router-policies
	a.ServiceEdgeRouterPolicyDetailServiceEdgeRouterPolicyHandler = serviceedgerouterpolicy.DetailServiceEdgeRouterPolicyHandlerFunc(s.detailServiceEdgeRouterPolicy)                            // GET /service-edge-router-policies/{id}
	a.ServiceEdgeRouterPolicyCreateServiceEdgeRouterPolicyHandler = serviceedgerouterpolicy.CreateServiceEdgeRouterPolicyHandlerFunc(s.createServiceEdgeRouterPolicy)                            // POST /service-edge-router-policies
	a.ServiceEdgeRouterPolicyUpdateServiceEdgeRouterPolicyHandler = serviceedgerouterpolicy.UpdateServiceEdgeRouterPolicyHandlerFunc(s.updateServiceEdgeRouterPolicy)                            // PUT /service-edge-router-policies/{id}
	a.ServiceEdgeRouterPolicyPatchServiceEdgeRouterPolicyHandler = serviceedgerouterpolicy.PatchServiceEdgeRouterPolicyHandlerFunc(s.patchServiceEdgeRouterPolicy)                               // PATCH /service-edge-router-policies/{id}
	a.ServiceEdgeRouterPolicyDeleteServiceEdgeRouterPolicyHandler = serviceedgerouterpolicy.DeleteServiceEdgeRouterPolicyHandlerFunc(s.deleteServiceEdgeRouterPolicy)                            // DELETE /service-edge-router-policies/{id}
	a.ServiceEdgeRouterPolicyListServiceEdgeRouterPolicyServicesHandler = serviceedgerouterpolicy.ListServiceEdgeRouterPolicyServicesHandlerFunc(s.listServiceEdgeRouterPolicyServices)          // GET /service-edge-router-policies/{id}/services
	a.ServiceEdgeRouterPolicyListServiceEdgeRouterPolicyEdgeRoutersHandler = serviceedgerouterpolicy.ListServiceEdgeRouterPolicyEdgeRoutersHandlerFunc(s.listServiceEdgeRouterPolicyEdgeRouters) // GET /service-edge-router-policies/{id}/edge-routers

	// Service Policy: Which identities may dial or bind which services, under which posture checks.
	a.ServicePolicyListServicePoliciesHandler = servicepolicy.ListServicePoliciesHandlerFunc(s.listServicePolicies)                                  // GET /service-policies
	a.ServicePolicyDetailServicePolicyHandler = servicepolicy.DetailServicePolicyHandlerFunc(s.detailServicePolicy)                                  // GET /service-policies/{id}
	a.ServicePolicyCreateServicePolicyHandler = servicepolicy.CreateServicePolicyHandlerFunc(s.createServicePolicy)                                  // POST /service-policies
	a.ServicePolicyUpdateServicePolicyHandler = servicepolicy.UpdateServicePolicyHandlerFunc(s.updateServicePolicy)                                  // PUT /service-policies/{id}
	a.ServicePolicyPatchServicePolicyHandler = servicepolicy.PatchServicePolicyHandlerFunc(s.patchServicePolicy)                                     // PATCH /service-policies/{id}
	a.ServicePolicyDeleteServicePolicyHandler = servicepolicy.DeleteServicePolicyHandlerFunc(s.deleteServicePolicy)                                  // DELETE /service-policies/{id}
	a.ServicePolicyListServicePolicyIdentitiesHandler = servicepolicy.ListServicePolicyIdentitiesHandlerFunc(s.listServicePolicyIdentities)          // GET /service-policies/{id}/identities
	a.ServicePolicyListServicePolicyServicesHandler = servicepolicy.ListServicePolicyServicesHandlerFunc(s.listServicePolicyServices)                // GET /service-policies/{id}/services
	a.ServicePolicyListServicePolicyPostureChecksHandler = servicepolicy.ListServicePolicyPostureChecksHandlerFunc(s.listServicePolicyPostureChecks) // GET /service-policies/{id}/posture-checks

	// Session: Dial and bind sessions of every identity.
	a.SessionListSessionsHandler = session.ListSessionsHandlerFunc(s.listSessions)    // GET /sessions
	a.SessionDetailSessionHandler = session.DetailSessionHandlerFunc(s.detailSession) // GET /sessions/{id}
	a.SessionDeleteSessionHandler = session.DeleteSessionHandlerFunc(s.deleteSession) // DELETE /sessions/{id}

	// Terminator: Where a service's traffic leaves the network.
	a.TerminatorListTerminatorsHandler = terminator.ListTerminatorsHandlerFunc(s.listTerminators)    // GET /terminators
	a.TerminatorDetailTerminatorHandler = terminator.DetailTerminatorHandlerFunc(s.detailTerminator) // GET /terminators/{id}
	a.TerminatorCreateTerminatorHandler = terminator.CreateTerminatorHandlerFunc(s.createTerminator) // POST /terminators
	a.TerminatorUpdateTerminatorHandler = terminator.UpdateTerminatorHandlerFunc(s.updateTerminator) // PUT /terminators/{id}
	a.TerminatorPatchTerminatorHandler = terminator.PatchTerminatorHandlerFunc(s.patchTerminator)    // PATCH /terminators/{id}
	a.TerminatorDeleteTerminatorHandler = terminator.DeleteTerminatorHandlerFunc(s.deleteTerminator) // DELETE /terminators/{id}
}
