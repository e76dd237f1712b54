package policy

import (
	"slices"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

// Permission names a service-policy type ("Dial" or "Bind").
type Permission = string

// servicePolicyType reads a service policy's type; empty if it vanished.
func servicePolicyType(tx *store.Tx, id string) string {
	p, err := store.Peek[*store.ServicePolicy](tx, store.ServicePolicies, id)
	if err != nil {
		return ""
	}
	return p.Type
}

// IdentityServices maps each service the identity may use to its permissions
// (Dial, Bind). It follows identity → policies → services and never walks
// policies that do not select the identity.
func IdentityServices(tx *store.Tx, identityID string) map[string][]Permission {
	out := map[string][]Permission{}
	for _, pid := range tx.Sources(store.ServicePolicyIdentities, identityID) {
		typ := servicePolicyType(tx, pid)
		if typ == "" {
			continue
		}
		for _, sid := range tx.Targets(store.ServicePolicyServices, pid) {
			if !slices.Contains(out[sid], typ) {
				out[sid] = append(out[sid], typ)
				slices.Sort(out[sid])
			}
		}
	}
	return out
}

// ServiceIdentities maps each identity that may use the service to its permissions.
func ServiceIdentities(tx *store.Tx, serviceID string) map[string][]Permission {
	out := map[string][]Permission{}
	for _, pid := range tx.Sources(store.ServicePolicyServices, serviceID) {
		typ := servicePolicyType(tx, pid)
		if typ == "" {
			continue
		}
		for _, iid := range tx.Targets(store.ServicePolicyIdentities, pid) {
			if !slices.Contains(out[iid], typ) {
				out[iid] = append(out[iid], typ)
				slices.Sort(out[iid])
			}
		}
	}
	return out
}

// Permissions lists what the identity may do with the service.
func Permissions(tx *store.Tx, identityID, serviceID string) []Permission {
	var out []Permission
	for _, pid := range GrantingPolicies(tx, identityID, serviceID, "") {
		typ := servicePolicyType(tx, pid)
		if typ != "" && !slices.Contains(out, typ) {
			out = append(out, typ)
		}
	}
	slices.Sort(out)
	return out
}

// GrantingPolicies lists the service policies (of type typ, or any when
// empty) that select both the identity and the service.
func GrantingPolicies(tx *store.Tx, identityID, serviceID string, typ Permission) []string {
	var out []string
	for _, pid := range tx.Sources(store.ServicePolicyIdentities, identityID) {
		if !tx.Linked(store.ServicePolicyServices, pid, serviceID) {
			continue
		}
		if typ != "" && servicePolicyType(tx, pid) != typ {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// IdentityServicePolicies lists the service policies that select the identity.
func IdentityServicePolicies(tx *store.Tx, identityID string) []string {
	return tx.Sources(store.ServicePolicyIdentities, identityID)
}

// PolicyPostureChecks lists the posture checks a service policy requires.
func PolicyPostureChecks(tx *store.Tx, policyID string) []string {
	return tx.Targets(store.ServicePolicyPostureChecks, policyID)
}

func union(tx *store.Tx, first *store.Link, firstFrom bool, id string, second *store.Link) []string {
	set := map[string]bool{}
	var policies []string
	if firstFrom {
		policies = tx.Targets(first, id)
	} else {
		policies = tx.Sources(first, id)
	}
	for _, p := range policies {
		for _, x := range tx.Targets(second, p) {
			set[x] = true
		}
	}
	out := make([]string, 0, len(set))
	for x := range set {
		out = append(out, x)
	}
	slices.Sort(out)
	return out
}

// IdentityEdgeRouters lists the routers edge-router policies let the identity use.
func IdentityEdgeRouters(tx *store.Tx, identityID string) []string {
	return union(tx, store.EdgeRouterPolicyIdentities, false, identityID, store.EdgeRouterPolicyRouters)
}

// EdgeRouterIdentities lists the identities that may use the router.
func EdgeRouterIdentities(tx *store.Tx, routerID string) []string {
	return union(tx, store.EdgeRouterPolicyRouters, false, routerID, store.EdgeRouterPolicyIdentities)
}

// ServiceEdgeRouters lists the routers that may carry the service.
func ServiceEdgeRouters(tx *store.Tx, serviceID string) []string {
	return union(tx, store.ServiceEdgeRouterPolicyServices, false, serviceID, store.ServiceEdgeRouterPolicyRouters)
}

// EdgeRouterServices lists the services the router may carry.
func EdgeRouterServices(tx *store.Tx, routerID string) []string {
	return union(tx, store.ServiceEdgeRouterPolicyRouters, false, routerID, store.ServiceEdgeRouterPolicyServices)
}

// UsableEdgeRouters lists the routers through which the identity may reach
// the service: allowed for the identity and allowed to carry the service.
func UsableEdgeRouters(tx *store.Tx, identityID, serviceID string) []string {
	forService := ServiceEdgeRouters(tx, serviceID)
	if len(forService) == 0 {
		return nil
	}
	var out []string
	for _, r := range IdentityEdgeRouters(tx, identityID) {
		if _, found := slices.BinarySearch(forService, r); found {
			out = append(out, r)
		}
	}
	return out
}

// ServicesChangedAt is when the identity's service list last changed: the
// later of its own marker and the marker for changes that touch every identity.
func ServicesChangedAt(tx *store.Tx, identityID string) time.Time {
	a, _ := tx.Marker(ServicesMarker(identityID))
	b, _ := tx.Marker(MarkerAllServices)
	if b.After(a) {
		return b
	}
	return a
}
