package policy_test

import (
	"fmt"
	"testing"

	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/store"
)

// The benchmark network: 100,000 identities, 10,000 services and 500 Dial
// policies. Each policy selects the identities of one team and the services
// of one group; every identity is in two teams.
const (
	benchIdentities = 100_000
	benchServices   = 10_000
	benchPolicies   = 500
)

func buildBenchNetwork(b *testing.B) *fixture {
	b.Helper()
	f := newFixture(b, true)
	const chunk = 5000
	for start := 0; start < benchIdentities; start += chunk {
		f.must(b, func(tx *store.Tx) error {
			for i := start; i < start+chunk; i++ {
				id := ident(fmt.Sprintf("i%06d", i), fmt.Sprintf("team-%d", i%benchPolicies), fmt.Sprintf("team-%d", (i/benchPolicies)%benchPolicies))
				if err := tx.Create(store.Identities, id); err != nil {
					return err
				}
			}
			return nil
		})
	}
	f.must(b, func(tx *store.Tx) error {
		for i := 0; i < benchServices; i++ {
			if err := tx.Create(store.Services, svc(fmt.Sprintf("s%05d", i), fmt.Sprintf("group-%d", i%benchPolicies))); err != nil {
				return err
			}
		}
		return nil
	})
	f.must(b, func(tx *store.Tx) error {
		for p := 0; p < benchPolicies; p++ {
			sp := &store.ServicePolicy{Meta: store.Meta{ID: fmt.Sprintf("p%03d", p)}, Name: fmt.Sprintf("p%03d", p), Type: "Dial",
				Semantic: "AllOf", IdentityRoles: []string{fmt.Sprintf("#team-%d", p)}, ServiceRoles: []string{fmt.Sprintf("#group-%d", p)}}
			if err := tx.Create(store.ServicePolicies, sp); err != nil {
				return err
			}
		}
		return nil
	})
	return f
}

// BenchmarkIdentityServices lists one identity's services through the policy
// links, next to the same answer computed by evaluating every policy's roles
// against every service (what a store without links has to do).
func BenchmarkIdentityServices(b *testing.B) {
	f := buildBenchNetwork(b)
	b.Run("links", func(b *testing.B) {
		n := 0
		for i := 0; b.Loop(); i++ {
			f.view(func(tx *store.Tx) {
				n += len(policy.IdentityServices(tx, fmt.Sprintf("i%06d", (i*7919)%benchIdentities)))
			})
		}
		if n == 0 {
			b.Fatal("no services found")
		}
	})
	b.Run("scan-every-policy", func(b *testing.B) {
		n := 0
		for i := 0; b.Loop(); i++ {
			f.view(func(tx *store.Tx) {
				idn, _ := store.Get[*store.Identity](tx, store.Identities, fmt.Sprintf("i%06d", (i*7919)%benchIdentities))
				got := map[string]bool{}
				_ = tx.ForEach(store.ServicePolicies, func(r store.Record) error {
					sp := r.(*store.ServicePolicy)
					roles, _ := policy.ParseRoles("identityRoles", sp.IdentityRoles)
					if !roles.Matches(idn.ID, idn.RoleAttributes, sp.Semantic) {
						return nil
					}
					sroles, _ := policy.ParseRoles("serviceRoles", sp.ServiceRoles)
					for _, s := range policy.Select(tx, store.Services, sroles, sp.Semantic) {
						got[s] = true
					}
					return nil
				})
				n += len(got)
			})
		}
		if n == 0 {
			b.Fatal("no services found")
		}
	})
}
