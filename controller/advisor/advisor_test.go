package advisor_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/advisor"
	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/store"
)

// network is a real store in a temp dir, changed one raft-like entry at a time.
type network struct {
	t   *testing.T
	s   *store.Store
	idx uint64
}

func newNetwork(t *testing.T) *network {
	s, err := store.Open(filepath.Join(t.TempDir(), "ctrl.db"), store.Options{NoSync: true, Hooks: []store.ChangeHook{policy.Hook}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &network{t: t, s: s}
}

func (n *network) apply(fn func(tx *store.Tx) error) {
	n.t.Helper()
	n.idx++
	res := n.s.Apply(store.Entry{Index: n.idx, Time: time.Unix(1700000000+int64(n.idx), 0),
		Apply: func(tx *store.Tx) (any, error) { return nil, fn(tx) }})
	if res.Err != nil {
		n.t.Fatal(res.Err)
	}
}

func (n *network) create(k *store.Kind, r store.Record) {
	n.t.Helper()
	n.apply(func(tx *store.Tx) error { return tx.Create(k, r) })
}

func (n *network) advise(online map[string]bool) *advisor.Advice {
	var a *advisor.Advice
	_ = n.s.View(func(tx *store.Tx) error {
		a = advisor.Advise(tx, "alice", "db", func(id string) bool { return online[id] }, time.Now())
		return nil
	})
	return a
}

func hasProblem(p *advisor.Permission, words string) bool {
	return slices.ContainsFunc(p.Problems, func(s string) bool { return strings.Contains(s, words) })
}

// TestAdviceNamesWhatIsMissingUntilNothingIs builds a network step by step
// and checks that the advice names each missing piece, then none.
func TestAdviceNamesWhatIsMissingUntilNothingIs(t *testing.T) {
	n := newNetwork(t)
	n.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "alice"}, Name: "alice", Type: "User", RoleAttributes: []string{"dba"}})
	n.create(store.Services, &store.Service{Meta: store.Meta{ID: "db"}, Name: "db", RoleAttributes: []string{"databases"}})
	n.create(store.EdgeRouters, &store.EdgeRouter{Meta: store.Meta{ID: "r1"}, Name: "r1", RoleAttributes: []string{"east"}})

	a := n.advise(nil)
	if a.Dial.Allowed || a.Dial.Ready || a.Bind.Allowed {
		t.Fatalf("allowed with no service policy: %+v", a.Dial)
	}
	for _, words := range []string{"no Dial service policy", "no edge-router policy", "no service-edge-router policy", "ostium create edge-router-policy"} {
		if !hasProblem(&a.Dial, words) {
			t.Errorf("Dial problems %q lack %q", a.Dial.Problems, words)
		}
	}
	if !hasProblem(&a.Bind, "no Bind service policy") {
		t.Errorf("Bind problems %q", a.Bind.Problems)
	}

	n.create(store.ServicePolicies, &store.ServicePolicy{Meta: store.Meta{ID: "dial-db"}, Name: "dial-db", Type: store.PolicyDial,
		Semantic: "AnyOf", IdentityRoles: []string{"#dba"}, ServiceRoles: []string{"#databases"}})
	n.create(store.EdgeRouterPolicies, &store.EdgeRouterPolicy{Meta: store.Meta{ID: "erp"}, Name: "erp", Semantic: "AnyOf",
		IdentityRoles: []string{"#dba"}, EdgeRouterRoles: []string{"#west"}})
	a = n.advise(nil)
	if !a.Dial.Allowed || !slices.Equal(a.EdgeRouterPolicies, []string{"erp"}) || a.IdentityRouterCount != 0 {
		t.Fatalf("after the Dial and edge-router policies: %+v", a)
	}
	if !hasProblem(&a.Dial, "select no router") || !hasProblem(&a.Dial, "no service-edge-router policy") {
		t.Errorf("problems %q", a.Dial.Problems)
	}

	n.apply(func(tx *store.Tx) error {
		_, err := tx.Update(store.EdgeRouterPolicies, &store.EdgeRouterPolicy{Meta: store.Meta{ID: "erp"}, Name: "erp", Semantic: "AnyOf",
			IdentityRoles: []string{"#dba"}, EdgeRouterRoles: []string{"#east"}})
		return err
	})
	n.create(store.ServiceEdgeRouterPolicies, &store.ServiceEdgeRouterPolicy{Meta: store.Meta{ID: "serp"}, Name: "serp", Semantic: "AnyOf",
		ServiceRoles: []string{"#all"}, EdgeRouterRoles: []string{"#all"}})
	a = n.advise(nil)
	if len(a.CommonRouters) != 1 || a.CommonRouters[0].ID != "r1" || a.CommonRouters[0].Online {
		t.Fatalf("common routers %+v", a.CommonRouters)
	}
	if a.Dial.Ready || !hasProblem(&a.Dial, "1 router the identity may reach the service through is online") {
		t.Errorf("offline router: ready=%v problems %q", a.Dial.Ready, a.Dial.Problems)
	}

	a = n.advise(map[string]bool{"r1": true})
	if !a.Dial.Ready || len(a.Dial.Problems) != 0 {
		t.Fatalf("everything in place: ready=%v problems %q", a.Dial.Ready, a.Dial.Problems)
	}
	if a.Bind.Ready || !hasProblem(&a.Bind, "no Bind service policy") {
		t.Errorf("Bind: ready=%v problems %q", a.Bind.Ready, a.Bind.Problems)
	}
	if p := advisor.RouterProblems(a); p != nil {
		t.Errorf("router problems with a router in common: %q", p)
	}

	n.apply(func(tx *store.Tx) error {
		_, err := tx.Update(store.Identities, &store.Identity{Meta: store.Meta{ID: "alice"}, Name: "alice", Type: "User",
			RoleAttributes: []string{"dba"}, Disabled: true})
		return err
	})
	a = n.advise(map[string]bool{"r1": true})
	if !a.IdentityDisabled || a.Dial.Ready || !hasProblem(&a.Dial, "the identity is disabled") {
		t.Errorf("disabled identity: %+v", a.Dial)
	}
}

// TestPostureChecksAreListedWithoutASession checks that, before the identity
// has signed in, the granting policy's checks are named but not evaluated.
func TestPostureChecksAreListedWithoutASession(t *testing.T) {
	n := newNetwork(t)
	n.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "alice"}, Name: "alice", Type: "User"})
	n.create(store.Services, &store.Service{Meta: store.Meta{ID: "db"}, Name: "db"})
	n.create(store.PostureChecks, &store.PostureCheck{Meta: store.Meta{ID: "mfa"}, Name: "needs-mfa", TypeID: "MFA", RoleAttributes: []string{"strict"}})
	n.create(store.ServicePolicies, &store.ServicePolicy{Meta: store.Meta{ID: "dial-db"}, Name: "dial-db", Type: store.PolicyDial,
		Semantic: "AnyOf", IdentityRoles: []string{"@alice"}, ServiceRoles: []string{"@db"}, PostureCheckRoles: []string{"#strict"}})
	a := n.advise(nil)
	if a.PostureAPISessionID != "" || len(a.Dial.Policies) != 1 {
		t.Fatalf("advice %+v", a)
	}
	pol := a.Dial.Policies[0]
	if pol.ID != "dial-db" || !pol.Passing || len(pol.Checks) != 1 || pol.Checks[0].Name != "needs-mfa" || pol.Checks[0].Evaluated {
		t.Fatalf("policy %+v", pol)
	}
	if !a.Dial.PostureOK {
		t.Error("unevaluated checks count against the posture")
	}
}
