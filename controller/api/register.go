package api

import (
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi/operations"
)

// registerManagement assigns every management handler. Each group lives in
// its own file; this is the one place that lists them.
func (s *Server) registerManagement(a *operations.EdgeManagementAPI) {
	s.registerManagementSession(a)
	s.registerIdentities(a)
	s.registerPolicyAdvice(a)
	s.registerIdentityTypes(a)
	s.registerServicesAndPolicies(a)
	s.registerRoutersAndAuth(a)
	s.registerMesh(a)
	s.registerCluster(a)
	s.registerClusterJoin(a)
	s.registerEvents(a)
	s.registerAudit(a)
	s.registerAPITokens(a)
}
