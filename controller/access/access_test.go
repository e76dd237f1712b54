package access_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/access"
	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/store"
)

// fixture is a store with the controller's hooks, written without raft.
type fixture struct {
	t   testing.TB
	s   *store.Store
	idx uint64
	// deleted collects the sessions each committed index deleted.
	deleted map[uint64][]string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "ctrl.db"), store.Options{NoSync: true,
		Hooks: []store.ChangeHook{policy.Hook}, Settle: []store.SettleHook{access.Settle}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	f := &fixture{t: t, s: s, deleted: map[uint64][]string{}}
	s.Listen(func(index uint64, changes []store.Change) {
		for _, c := range changes {
			if c.Kind == store.Sessions && c.New == nil {
				f.deleted[index] = append(f.deleted[index], c.Old.Base().ID)
			}
		}
	})
	return f
}

var epoch = time.Unix(1700000000, 0).UTC()

// do applies fn as one entry and returns its index.
func (f *fixture) do(fn func(tx *store.Tx) error) uint64 {
	f.t.Helper()
	f.idx++
	res := f.s.Apply(store.Entry{Index: f.idx, Time: epoch.Add(time.Duration(f.idx) * time.Second),
		Apply: func(tx *store.Tx) (any, error) { return nil, fn(tx) }})
	if res.Err != nil {
		f.t.Fatal(res.Err)
	}
	return f.idx
}

func (f *fixture) create(k *store.Kind, r store.Record) uint64 {
	f.t.Helper()
	return f.do(func(tx *store.Tx) error { return tx.Create(k, r) })
}

func (f *fixture) update(k *store.Kind, id string, mutate func(store.Record)) uint64 {
	f.t.Helper()
	return f.do(func(tx *store.Tx) error {
		r, err := tx.Get(k, id)
		if err != nil {
			return err
		}
		mutate(r)
		_, err = tx.Update(k, r)
		return err
	})
}

func (f *fixture) remove(k *store.Kind, id string) uint64 {
	f.t.Helper()
	return f.do(func(tx *store.Tx) error { return tx.Delete(k, id) })
}

func (f *fixture) sessions() []string {
	var ids []string
	_ = f.s.View(func(tx *store.Tx) error { ids = tx.IDs(store.Sessions); return nil })
	return ids
}

// assertRevoked checks that exactly want were deleted by the entry at index.
func (f *fixture) assertRevoked(index uint64, want ...string) {
	f.t.Helper()
	got := slices.Clone(f.deleted[index])
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		f.t.Fatalf("entry %d revoked %v, want %v (sessions left: %v)", index, got, want, f.sessions())
	}
}

// network: alice dials svc through dial-1 (#dial) and binds it through
// bind-1; bob dials it through dial-2 (@bob). Each holds an API session with
// sessions of both kinds they are granted.
func network(t testing.TB) *fixture {
	f := newFixture(t)
	f.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "alice"}, Name: "alice", Type: "User", RoleAttributes: []string{"dial", "bind"}})
	f.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "bob"}, Name: "bob", Type: "User"})
	f.create(store.Services, &store.Service{Meta: store.Meta{ID: "svc"}, Name: "svc", RoleAttributes: []string{"web"}})
	f.create(store.ServicePolicies, &store.ServicePolicy{Meta: store.Meta{ID: "dial-1"}, Name: "dial-1", Type: store.PolicyDial,
		Semantic: store.SemanticAnyOf, IdentityRoles: []string{"#dial"}, ServiceRoles: []string{"#web"}})
	f.create(store.ServicePolicies, &store.ServicePolicy{Meta: store.Meta{ID: "bind-1"}, Name: "bind-1", Type: store.PolicyBind,
		Semantic: store.SemanticAnyOf, IdentityRoles: []string{"#bind"}, ServiceRoles: []string{"@svc"}})
	f.create(store.ServicePolicies, &store.ServicePolicy{Meta: store.Meta{ID: "dial-2"}, Name: "dial-2", Type: store.PolicyDial,
		Semantic: store.SemanticAnyOf, IdentityRoles: []string{"@bob"}, ServiceRoles: []string{"@svc"}})
	for _, who := range []string{"alice", "bob"} {
		f.create(store.APISessions, &store.APISession{Meta: store.Meta{ID: "as-" + who}, IdentityID: who, TokenHash: "t-" + who})
		f.create(store.Sessions, &store.Session{Meta: store.Meta{ID: who + "-dial"}, APISessionID: "as-" + who, IdentityID: who,
			ServiceID: "svc", Type: store.PolicyDial, TokenHash: "d-" + who})
	}
	f.create(store.Sessions, &store.Session{Meta: store.Meta{ID: "alice-bind"}, APISessionID: "as-alice", IdentityID: "alice",
		ServiceID: "svc", Type: store.PolicyBind, TokenHash: "b-alice"})
	return f
}

func TestDeletingAPolicyRevokesItsSessionsInTheSameEntry(t *testing.T) {
	f := network(t)
	f.assertRevoked(f.remove(store.ServicePolicies, "dial-1"), "alice-dial")
	if got := f.sessions(); !slices.Equal(got, []string{"alice-bind", "bob-dial"}) {
		t.Fatalf("sessions left: %v", got)
	}
}

func TestAPolicyStillGrantingKeepsTheSession(t *testing.T) {
	f := network(t)
	// bob is granted by dial-1 too: removing dial-2 leaves him a grant.
	f.update(store.Identities, "bob", func(r store.Record) { r.(*store.Identity).RoleAttributes = []string{"dial"} })
	f.assertRevoked(f.remove(store.ServicePolicies, "dial-2"))
	// A Bind policy does not keep a Dial session.
	f.update(store.Identities, "alice", func(r store.Record) { r.(*store.Identity).RoleAttributes = []string{"bind"} })
	f.assertRevoked(f.idx, "alice-dial")
}

func TestNarrowingAPolicyRevokes(t *testing.T) {
	f := network(t)
	f.assertRevoked(f.update(store.ServicePolicies, "dial-2", func(r store.Record) {
		r.(*store.ServicePolicy).IdentityRoles = []string{"#nobody"}
	}), "bob-dial")
	// Turning a Bind policy into a Dial one takes Bind away.
	f.assertRevoked(f.update(store.ServicePolicies, "bind-1", func(r store.Record) {
		r.(*store.ServicePolicy).Type = store.PolicyDial
	}), "alice-bind")
}

func TestAttributeChangesRevoke(t *testing.T) {
	f := network(t)
	f.assertRevoked(f.update(store.Identities, "alice", func(r store.Record) {
		r.(*store.Identity).RoleAttributes = []string{"bind", "other"}
	}), "alice-dial")
	// The service leaves #web: dial-1 selected it by attribute; bob's
	// dial-2 names it by id.
	f.update(store.Identities, "alice", func(r store.Record) { r.(*store.Identity).RoleAttributes = []string{"dial", "bind"} })
	f.create(store.Sessions, &store.Session{Meta: store.Meta{ID: "alice-dial-2"}, APISessionID: "as-alice", IdentityID: "alice",
		ServiceID: "svc", Type: store.PolicyDial, TokenHash: "d2-alice"})
	f.assertRevoked(f.update(store.Services, "svc", func(r store.Record) { r.(*store.Service).RoleAttributes = nil }), "alice-dial-2")
}

func TestPostureChangesRevoke(t *testing.T) {
	f := network(t)
	f.create(store.PostureChecks, &store.PostureCheck{Meta: store.Meta{ID: "mac"}, Name: "mac", TypeID: store.PostureMAC,
		MACAddresses: []string{"00:11:22:33:44:55"}})
	// Requiring a check that bob's API session never answered revokes his session.
	f.assertRevoked(f.update(store.ServicePolicies, "dial-2", func(r store.Record) {
		r.(*store.ServicePolicy).PostureCheckRoles = []string{"@mac"}
	}), "bob-dial")

	// alice reports a passing MAC, then dial-1 requires it: she keeps her session.
	f.create(store.PostureDatas, &store.PostureData{Meta: store.Meta{ID: "as-alice"}, APISessionID: "as-alice",
		MAC: &store.PostureMACData{Addresses: []string{"00:11:22:33:44:55"}, ReportedAt: epoch}})
	f.assertRevoked(f.update(store.ServicePolicies, "dial-1", func(r store.Record) {
		r.(*store.ServicePolicy).PostureCheckRoles = []string{"@mac"}
	}))
	// The check changes to a MAC she does not have.
	f.assertRevoked(f.update(store.PostureChecks, "mac", func(r store.Record) {
		r.(*store.PostureCheck).MACAddresses = []string{"66:77:88:99:aa:bb"}
	}), "alice-dial")

	// Her device then reports the MAC the check wants; a new session is
	// granted and a later failing report revokes it.
	f.update(store.PostureDatas, "as-alice", func(r store.Record) {
		r.(*store.PostureData).MAC = &store.PostureMACData{Addresses: []string{"66:77:88:99:aa:bb"}}
	})
	f.create(store.Sessions, &store.Session{Meta: store.Meta{ID: "alice-dial-2"}, APISessionID: "as-alice", IdentityID: "alice",
		ServiceID: "svc", Type: store.PolicyDial, TokenHash: "d2-alice"})
	f.assertRevoked(f.update(store.PostureDatas, "as-alice", func(r store.Record) {
		r.(*store.PostureData).MAC = &store.PostureMACData{Addresses: []string{"00:00:00:00:00:01"}}
	}), "alice-dial-2")
	if got := f.sessions(); !slices.Equal(got, []string{"alice-bind"}) {
		t.Fatalf("sessions left: %v", got)
	}
}

func TestCheck(t *testing.T) {
	f := network(t)
	f.create(store.PostureChecks, &store.PostureCheck{Meta: store.Meta{ID: "mac"}, Name: "mac", TypeID: store.PostureMAC,
		MACAddresses: []string{"00:11:22:33:44:55"}})
	f.update(store.ServicePolicies, "dial-2", func(r store.Record) { r.(*store.ServicePolicy).PostureCheckRoles = []string{"@mac"} })
	_ = f.s.View(func(tx *store.Tx) error {
		alice := &store.APISession{Meta: store.Meta{ID: "as-alice"}, IdentityID: "alice"}
		bob := &store.APISession{Meta: store.Meta{ID: "as-bob"}, IdentityID: "bob"}
		if err := access.Check(tx, alice, "svc", store.PolicyDial, epoch); err != nil {
			t.Errorf("alice dial: %v", err)
		}
		if err := access.Check(tx, bob, "svc", store.PolicyBind, epoch); !errors.Is(err, access.ErrNotGranted) || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("bob bind: %v", err)
		}
		if err := access.Check(tx, alice, "nope", store.PolicyDial, epoch); !errors.Is(err, access.ErrNotGranted) {
			t.Errorf("missing service: %v", err)
		}
		var pe *access.PostureError
		if err := access.Check(tx, bob, "svc", store.PolicyDial, epoch); !errors.As(err, &pe) || len(pe.Results) != 1 {
			t.Errorf("bob dial without posture data: %v", err)
		}
		if got := access.DeniedSessions(tx, epoch); len(got) != 0 {
			t.Errorf("denied sessions after settling: %v", got)
		}
		return nil
	})
}

// TestDeniedSessionsFindsLapsedMFA: a check that lapses with time alone
// is found by the sweep, not by a settle.
func TestDeniedSessionsFindsLapsedMFA(t *testing.T) {
	f := network(t)
	done := epoch
	f.update(store.APISessions, "as-bob", func(r store.Record) { r.(*store.APISession).MFACompletedAt = &done })
	f.create(store.PostureChecks, &store.PostureCheck{Meta: store.Meta{ID: "mfa"}, Name: "mfa", TypeID: store.PostureMFA, TimeoutSeconds: 60})
	f.assertRevoked(f.update(store.ServicePolicies, "dial-2", func(r store.Record) {
		r.(*store.ServicePolicy).PostureCheckRoles = []string{"@mfa"}
	}))
	_ = f.s.View(func(tx *store.Tx) error {
		if got := access.DeniedSessions(tx, epoch.Add(30*time.Second)); len(got) != 0 {
			t.Errorf("denied within the MFA timeout: %v", got)
		}
		if got := access.DeniedSessions(tx, epoch.Add(2*time.Minute)); !slices.Equal(got, []string{"bob-dial"}) {
			t.Errorf("denied after the MFA timeout: %v", got)
		}
		return nil
	})
}
