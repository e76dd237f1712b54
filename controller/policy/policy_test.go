package policy_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/store"
)

type fixture struct {
	s   *store.Store
	idx uint64
}

func newFixture(t testing.TB, noSync bool) *fixture {
	s, err := store.Open(filepath.Join(t.TempDir(), "ctrl.db"), store.Options{NoSync: noSync, Hooks: []store.ChangeHook{policy.Hook}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &fixture{s: s}
}

func (f *fixture) do(fn func(tx *store.Tx) error) error {
	f.idx++
	return f.s.Apply(store.Entry{Index: f.idx, Time: time.Unix(1700000000+int64(f.idx), 0), Apply: func(tx *store.Tx) (any, error) { return nil, fn(tx) }}).Err
}

func (f *fixture) must(t testing.TB, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := f.do(fn); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) create(t testing.TB, k *store.Kind, r store.Record) {
	t.Helper()
	f.must(t, func(tx *store.Tx) error { return tx.Create(k, r) })
}

func (f *fixture) view(fn func(tx *store.Tx)) {
	_ = f.s.View(func(tx *store.Tx) error { fn(tx); return nil })
}

func ident(id string, attrs ...string) *store.Identity {
	return &store.Identity{Meta: store.Meta{ID: id}, Name: id, Type: "User", RoleAttributes: attrs}
}

func svc(id string, attrs ...string) *store.Service {
	return &store.Service{Meta: store.Meta{ID: id}, Name: id, RoleAttributes: attrs}
}

func TestServicePolicySemantics(t *testing.T) {
	cases := []struct {
		name     string
		semantic string
		idRoles  []string
		svcRoles []string
		wantIDs  []string // identities granted svc-a
	}{
		{"all identities", "AllOf", []string{"#all"}, []string{"@svc-a"}, []string{"alice", "bob", "carol"}},
		{"allOf needs every attribute", "AllOf", []string{"#eng", "#ops"}, []string{"#web"}, []string{"alice"}},
		{"anyOf needs one attribute", "AnyOf", []string{"#eng", "#ops"}, []string{"#web"}, []string{"alice", "bob", "carol"}},
		{"ids always count", "AllOf", []string{"#eng", "#ops", "@carol"}, []string{"#web"}, []string{"alice", "carol"}},
		{"no identity roles", "AllOf", nil, []string{"#all"}, nil},
		{"service by id", "AnyOf", []string{"#eng"}, []string{"@svc-a"}, []string{"alice", "bob"}},
		{"service attributes miss", "AllOf", []string{"#all"}, []string{"#web", "#db"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, true)
			f.create(t, store.Identities, ident("alice", "eng", "ops"))
			f.create(t, store.Identities, ident("bob", "eng"))
			f.create(t, store.Identities, ident("carol", "ops"))
			f.create(t, store.Services, svc("svc-a", "web"))
			f.create(t, store.Services, svc("svc-b", "db"))
			f.create(t, store.ServicePolicies, &store.ServicePolicy{Meta: store.Meta{ID: "p"}, Name: "p", Type: "Dial",
				Semantic: tc.semantic, IdentityRoles: tc.idRoles, ServiceRoles: tc.svcRoles})
			f.view(func(tx *store.Tx) {
				var got []string
				for id := range policy.ServiceIdentities(tx, "svc-a") {
					got = append(got, id)
				}
				slices.Sort(got)
				if !slices.Equal(got, tc.wantIDs) {
					t.Errorf("identities granted svc-a: got %v want %v", got, tc.wantIDs)
				}
				for _, id := range tc.wantIDs {
					if p := policy.Permissions(tx, id, "svc-a"); !slices.Equal(p, []string{"Dial"}) {
						t.Errorf("%s permissions %v", id, p)
					}
				}
			})
		})
	}
}

func TestLinksFollowEntityAndPolicyChanges(t *testing.T) {
	f := newFixture(t, true)
	f.create(t, store.Identities, ident("alice"))
	f.create(t, store.Services, svc("db", "db"))
	f.create(t, store.ServicePolicies, &store.ServicePolicy{Meta: store.Meta{ID: "dial"}, Name: "dial", Type: "Dial",
		Semantic: "AllOf", IdentityRoles: []string{"#dba"}, ServiceRoles: []string{"#db"}})
	f.create(t, store.ServicePolicies, &store.ServicePolicy{Meta: store.Meta{ID: "bind"}, Name: "bind", Type: "Bind",
		Semantic: "AllOf", IdentityRoles: []string{"@alice"}, ServiceRoles: []string{"@db"}})
	check := func(want map[string][]string) {
		t.Helper()
		f.view(func(tx *store.Tx) {
			got := policy.IdentityServices(tx, "alice")
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("alice's services: got %v want %v", got, want)
			}
		})
	}
	check(map[string][]string{"db": {"Bind"}})

	var before time.Time
	f.view(func(tx *store.Tx) { before = policy.ServicesChangedAt(tx, "alice") })
	// Gaining the attribute adds Dial.
	f.must(t, func(tx *store.Tx) error { _, err := tx.Update(store.Identities, ident("alice", "dba")); return err })
	check(map[string][]string{"db": {"Bind", "Dial"}})
	f.view(func(tx *store.Tx) {
		if !policy.ServicesChangedAt(tx, "alice").After(before) {
			t.Error("service-list marker did not move when alice gained a service")
		}
	})
	// The service losing its attribute removes Dial.
	f.must(t, func(tx *store.Tx) error { _, err := tx.Update(store.Services, svc("db")); return err })
	check(map[string][]string{"db": {"Bind"}})
	// Deleting the bind policy removes the rest.
	f.must(t, func(tx *store.Tx) error { return tx.Delete(store.ServicePolicies, "bind") })
	check(map[string][]string{})
	// Deleting the identity removes its links.
	f.must(t, func(tx *store.Tx) error { return tx.Delete(store.Identities, "alice") })
	f.view(func(tx *store.Tx) {
		if got := tx.Targets(store.ServicePolicyIdentities, "dial"); len(got) != 0 {
			t.Errorf("deleted identity still linked: %v", got)
		}
	})
}

func TestEdgeRouterPoliciesAndUsableRouters(t *testing.T) {
	f := newFixture(t, true)
	f.create(t, store.Identities, ident("alice", "emp"))
	f.create(t, store.Services, svc("web", "public"))
	for _, r := range []*store.EdgeRouter{
		{Meta: store.Meta{ID: "r1"}, Name: "r1", RoleAttributes: []string{"east"}},
		{Meta: store.Meta{ID: "r2"}, Name: "r2", RoleAttributes: []string{"west"}},
		{Meta: store.Meta{ID: "r3"}, Name: "r3", RoleAttributes: []string{"east", "west"}},
	} {
		f.create(t, store.EdgeRouters, r)
	}
	f.create(t, store.EdgeRouterPolicies, &store.EdgeRouterPolicy{Meta: store.Meta{ID: "erp"}, Name: "erp",
		Semantic: "AnyOf", IdentityRoles: []string{"#emp"}, EdgeRouterRoles: []string{"#east"}})
	f.create(t, store.ServiceEdgeRouterPolicies, &store.ServiceEdgeRouterPolicy{Meta: store.Meta{ID: "serp"}, Name: "serp",
		Semantic: "AllOf", ServiceRoles: []string{"#public"}, EdgeRouterRoles: []string{"#west"}})
	f.view(func(tx *store.Tx) {
		if got := policy.IdentityEdgeRouters(tx, "alice"); !slices.Equal(got, []string{"r1", "r3"}) {
			t.Errorf("identity routers %v", got)
		}
		if got := policy.ServiceEdgeRouters(tx, "web"); !slices.Equal(got, []string{"r2", "r3"}) {
			t.Errorf("service routers %v", got)
		}
		if got := policy.UsableEdgeRouters(tx, "alice", "web"); !slices.Equal(got, []string{"r3"}) {
			t.Errorf("usable routers %v", got)
		}
		if got := policy.EdgeRouterIdentities(tx, "r3"); !slices.Equal(got, []string{"alice"}) {
			t.Errorf("router identities %v", got)
		}
	})
}

func TestInvalidRolesRejected(t *testing.T) {
	f := newFixture(t, true)
	f.create(t, store.Identities, ident("alice"))
	bad := [][]string{{"alice"}, {"#"}, {"@"}, {"#all", "#x"}, {"@missing"}, {"%x"}}
	for _, roles := range bad {
		err := f.do(func(tx *store.Tx) error {
			return tx.Create(store.ServicePolicies, &store.ServicePolicy{Meta: store.Meta{ID: "p"}, Name: "p", Type: "Dial", IdentityRoles: roles})
		})
		if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrInvalidReference) {
			t.Errorf("roles %q: got %v, want a validation error", roles, err)
		}
	}
	err := f.do(func(tx *store.Tx) error {
		return tx.Create(store.ServicePolicies, &store.ServicePolicy{Meta: store.Meta{ID: "p"}, Name: "p", Type: "Connect"})
	})
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad type: %v", err)
	}
	err = f.do(func(tx *store.Tx) error {
		return tx.Create(store.EdgeRouterPolicies, &store.EdgeRouterPolicy{Meta: store.Meta{ID: "p"}, Name: "p", Semantic: "OneOf"})
	})
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad semantic: %v", err)
	}
}

func TestParseRoles(t *testing.T) {
	r, err := policy.ParseRoles("identityRoles", []string{"#a", "@b", "#c"})
	if err != nil || !slices.Equal(r.Attrs, []string{"a", "c"}) || !slices.Equal(r.IDs, []string{"b"}) || r.All {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := policy.ParseRoles("x", []string{"#" + string(make([]byte, 300))}); err == nil {
		t.Fatal("over-long role accepted")
	}
}

func FuzzParseRoles(f *testing.F) {
	for _, s := range []string{"#all", "#a", "@id", "", "#", "x"} {
		f.Add(s, "#b")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		r, err := policy.ParseRoles("roles", []string{a, b})
		if err != nil {
			return
		}
		if r.All && (len(r.Attrs) > 0 || len(r.IDs) > 0) {
			t.Fatalf("#all mixed with other roles accepted: %+v", r)
		}
		_ = r.Matches("id", []string{"a"}, "AnyOf")
	})
}
