// Package advisor explains whether an identity can dial or bind a service,
// and when it cannot, what is missing: a service policy granting the
// permission, an edge-router policy giving the identity routers, a
// service-edge-router policy letting routers carry the service, a router in
// common that is online, posture checks that pass. It reads the store as it
// is; the management API serves its answer as policy advice, and session
// refusals borrow its words.
package advisor

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/posture"
	"github.com/ostium-net/ostium/controller/store"
)

// Permissions the advisor looks at, in the order it reports them.
var Permissions = []string{store.PolicyDial, store.PolicyBind}

// Router is a router the identity may use that may also carry the service.
type Router struct {
	ID       string
	Online   bool
	Disabled bool
}

// Check is one posture check a granting policy requires, evaluated against
// the identity's most recent API session.
type Check struct {
	ID, Name, TypeID string
	// Evaluated is false when the identity has no API session to evaluate
	// against; Passing and Reason are then unknown.
	Evaluated bool
	Passing   bool
	Reason    string
}

// Policy is a service policy granting a permission, with its posture checks.
type Policy struct {
	ID string
	// Passing is true when every check passes (or is not evaluated).
	Passing bool
	Checks  []Check
}

// Permission is the advice for Dial or for Bind.
type Permission struct {
	Type string
	// Policies are the service policies selecting both the identity and the
	// service with this permission, by id.
	Policies []Policy
	// Allowed is true when at least one policy grants the permission.
	Allowed bool
	// PostureOK is true when a granting policy's checks pass (or cannot be
	// evaluated yet).
	PostureOK bool
	// Ready is true when nothing stands in the way now: allowed, posture
	// passing, the identity enabled, and a router in common online.
	Ready bool
	// Problems say, in plain words, what stands in the way.
	Problems []string
}

// Advice is the whole answer for one identity and one service.
type Advice struct {
	IdentityID, ServiceID string
	IdentityDisabled      bool
	// EdgeRouterPolicies select the identity; ServiceEdgeRouterPolicies
	// select the service. NetworkHas* say whether the network has any such
	// policy at all (a network made by init has none).
	EdgeRouterPolicies, ServiceEdgeRouterPolicies                     []string
	NetworkHasEdgeRouterPolicies, NetworkHasServiceEdgeRouterPolicies bool
	IdentityRouterCount, ServiceRouterCount                           int
	CommonRouters                                                     []Router
	// PostureAPISessionID is the API session posture was evaluated against;
	// empty when the identity has none.
	PostureAPISessionID string
	Dial, Bind          Permission
}

// Permission returns the advice for typ (Dial or Bind).
func (a *Advice) Permission(typ string) *Permission {
	if typ == store.PolicyBind {
		return &a.Bind
	}
	return &a.Dial
}

// Online reports whether a router is connected now.
type Online func(routerID string) bool

// Advise explains what the identity may do with the service. The ids must
// name existing records (callers check; missing ones read as empty).
func Advise(tx *store.Tx, identityID, serviceID string, online Online, now time.Time) *Advice {
	a := &Advice{IdentityID: identityID, ServiceID: serviceID}
	if ident, err := store.Get[*store.Identity](tx, store.Identities, identityID); err == nil {
		a.IdentityDisabled = ident.IsDisabled(now)
	}
	a.EdgeRouterPolicies = sorted(tx.Sources(store.EdgeRouterPolicyIdentities, identityID))
	a.ServiceEdgeRouterPolicies = sorted(tx.Sources(store.ServiceEdgeRouterPolicyServices, serviceID))
	a.NetworkHasEdgeRouterPolicies = tx.Any(store.EdgeRouterPolicies)
	a.NetworkHasServiceEdgeRouterPolicies = tx.Any(store.ServiceEdgeRouterPolicies)
	identityRouters := policy.IdentityEdgeRouters(tx, identityID)
	serviceRouters := policy.ServiceEdgeRouters(tx, serviceID)
	a.IdentityRouterCount, a.ServiceRouterCount = len(identityRouters), len(serviceRouters)
	onlineCommon := 0
	for _, rid := range policy.UsableEdgeRouters(tx, identityID, serviceID) {
		r := Router{ID: rid, Online: online != nil && online(rid)}
		if er, err := store.Get[*store.EdgeRouter](tx, store.EdgeRouters, rid); err == nil {
			r.Disabled = er.Disabled
		}
		if r.Online && !r.Disabled {
			onlineCommon++
		}
		a.CommonRouters = append(a.CommonRouters, r)
	}

	as := latestAPISession(tx, identityID)
	if as != nil {
		a.PostureAPISessionID = as.ID
	}
	for _, typ := range Permissions {
		p := a.Permission(typ)
		p.Type = typ
		p.Policies = policiesOf(tx, identityID, serviceID, typ, as, now)
		p.Allowed = len(p.Policies) > 0
		p.PostureOK = slices.ContainsFunc(p.Policies, func(pol Policy) bool { return pol.Passing })
		p.Ready = p.Allowed && p.PostureOK && !a.IdentityDisabled && onlineCommon > 0
		p.Problems = a.problems(p, onlineCommon)
	}
	return a
}

// latestAPISession is the identity's most recently created API session.
func latestAPISession(tx *store.Tx, identityID string) *store.APISession {
	var latest *store.APISession
	for _, id := range tx.Referencing(store.APISessions, "identityId", identityID) {
		as, err := store.Get[*store.APISession](tx, store.APISessions, id)
		if err != nil {
			continue
		}
		if latest == nil || as.CreatedAt.After(latest.CreatedAt) {
			latest = as
		}
	}
	return latest
}

func policiesOf(tx *store.Tx, identityID, serviceID, typ string, as *store.APISession, now time.Time) []Policy {
	ids := sorted(policy.GrantingPolicies(tx, identityID, serviceID, typ))
	if as != nil {
		results := posture.EvaluatePolicies(tx, as, serviceID, typ, now)
		out := make([]Policy, 0, len(results))
		for _, r := range results {
			pol := Policy{ID: r.PolicyID, Passing: r.Passing}
			for _, q := range r.Queries {
				pol.Checks = append(pol.Checks, Check{ID: q.Check.ID, Name: q.Check.Name, TypeID: q.Check.TypeID,
					Evaluated: true, Passing: q.Passing, Reason: q.Reason})
			}
			out = append(out, pol)
		}
		return out
	}
	out := make([]Policy, 0, len(ids))
	for _, pid := range ids {
		pol := Policy{ID: pid, Passing: true}
		for _, cid := range sorted(policy.PolicyPostureChecks(tx, pid)) {
			if pc, err := store.Get[*store.PostureCheck](tx, store.PostureChecks, cid); err == nil {
				pol.Checks = append(pol.Checks, Check{ID: pc.ID, Name: pc.Name, TypeID: pc.TypeID})
			}
		}
		out = append(out, pol)
	}
	return out
}

// Hints of what to create, for the problems.
const (
	hintEdgeRouterPolicy        = "ostium create edge-router-policy all-routers --identity-roles '#all' --edge-router-roles '#all'"
	hintServiceEdgeRouterPolicy = "ostium create service-edge-router-policy all-services --service-roles '#all' --edge-router-roles '#all'"
)

// problems says what stands in the way of p, most fundamental first.
func (a *Advice) problems(p *Permission, onlineCommon int) []string {
	var out []string
	if a.IdentityDisabled {
		out = append(out, "the identity is disabled")
	}
	if !p.Allowed {
		out = append(out, fmt.Sprintf("no %s service policy selects both the identity and the service", p.Type))
	}
	out = append(out, RouterProblems(a)...)
	if len(a.CommonRouters) > 0 && onlineCommon == 0 {
		out = append(out, fmt.Sprintf("none of the %s the identity may reach the service through is online", routers(len(a.CommonRouters))))
	}
	if p.Allowed && !p.PostureOK {
		var failing []string
		for _, pol := range p.Policies {
			for _, c := range pol.Checks {
				if c.Evaluated && !c.Passing && !slices.Contains(failing, c.Name) {
					failing = append(failing, fmt.Sprintf("%s (%s): %s", c.Name, c.TypeID, c.Reason))
				}
			}
		}
		out = append(out, "posture checks fail: "+strings.Join(failing, "; "))
	}
	return out
}

// RouterProblems says why no router may carry the identity's traffic for the
// service, ignoring whether routers are online: nil when a router in common
// exists. Its words name no policy, so they may be shown to clients.
func RouterProblems(a *Advice) []string {
	if len(a.CommonRouters) > 0 {
		return nil
	}
	var out []string
	switch {
	case !a.NetworkHasEdgeRouterPolicies:
		out = append(out, "this network has no edge-router policy, so no identity may use any router "+
			"(a network made by `ostium-controller init` starts with none; create one: "+hintEdgeRouterPolicy+")")
	case len(a.EdgeRouterPolicies) == 0:
		out = append(out, "no edge-router policy selects the identity, so it may use no router")
	case a.IdentityRouterCount == 0:
		out = append(out, "the edge-router policies that select the identity select no router")
	}
	switch {
	case !a.NetworkHasServiceEdgeRouterPolicies:
		out = append(out, "this network has no service-edge-router policy, so no router may carry any service "+
			"(a network made by `ostium-controller init` starts with none; create one: "+hintServiceEdgeRouterPolicy+")")
	case len(a.ServiceEdgeRouterPolicies) == 0:
		out = append(out, "no service-edge-router policy selects the service, so no router may carry it")
	case a.ServiceRouterCount == 0:
		out = append(out, "the service-edge-router policies that select the service select no router")
	}
	if len(out) == 0 {
		out = append(out, fmt.Sprintf("the %s the identity may use and the %s that may carry the service have none in common",
			routers(a.IdentityRouterCount), routers(a.ServiceRouterCount)))
	}
	return out
}

func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// routers is "1 router" or "N routers".
func routers(n int) string {
	if n == 1 {
		return "1 router"
	}
	return fmt.Sprintf("%d routers", n)
}
