package domain_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/access"
	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/domain"
	"github.com/ostium-net/ostium/controller/policy"
	"github.com/ostium-net/ostium/controller/store"
)

// fixture is a controller store in a temp dir with the controller's hooks.
// Commands go through their log encoding, as raft would carry them, and are
// applied without raft, PKI or HTTPS.
type fixture struct {
	t   testing.TB
	s   *store.Store
	idx uint64
	now time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "ctrl.db"), store.Options{NoSync: true,
		Hooks: []store.ChangeHook{policy.Hook}, Settle: []store.SettleHook{access.Settle}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &fixture{t: t, s: s, now: time.Unix(1700000000, 0).UTC()}
}

// apply encodes c, decodes it and applies it as the next entry.
func (f *fixture) apply(c command.Command) (any, error) {
	f.t.Helper()
	f.idx++
	f.now = f.now.Add(time.Second)
	raw, err := command.Encode(c, f.now)
	if err != nil {
		f.t.Fatal(err)
	}
	decoded, at, err := command.Decode(raw)
	if err != nil {
		f.t.Fatalf("decode %T: %v", c, err)
	}
	res := f.s.Apply(store.Entry{Index: f.idx, Time: at, Apply: decoded.Apply})
	return res.Value, res.Err
}

func (f *fixture) must(c command.Command) any {
	f.t.Helper()
	v, err := f.apply(c)
	if err != nil {
		f.t.Fatalf("%T: %v", c, err)
	}
	return v
}

func (f *fixture) create(k *store.Kind, r store.Record) {
	f.t.Helper()
	c, err := command.NewCreate(k, r)
	if err != nil {
		f.t.Fatal(err)
	}
	f.must(c)
}

func (f *fixture) update(k *store.Kind, id string, mutate func(store.Record)) {
	f.t.Helper()
	var rec store.Record
	_ = f.s.View(func(tx *store.Tx) error {
		var err error
		rec, err = tx.Get(k, id)
		return err
	})
	if rec == nil {
		f.t.Fatalf("%s %s not found", k.Name, id)
	}
	mutate(rec)
	c, err := command.NewUpdate(k, rec)
	if err != nil {
		f.t.Fatal(err)
	}
	f.must(c)
}

func (f *fixture) exists(k *store.Kind, id string) bool {
	found := false
	_ = f.s.View(func(tx *store.Tx) error { found = tx.Exists(k, id); return nil })
	return found
}

// network: alice may dial svc (policy dial, #dial); she holds API session as-alice.
func network(t testing.TB) *fixture {
	f := newFixture(t)
	f.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "alice"}, Name: "alice", Type: "User", RoleAttributes: []string{"dial"}})
	f.create(store.Services, &store.Service{Meta: store.Meta{ID: "svc"}, Name: "svc"})
	f.create(store.ServicePolicies, &store.ServicePolicy{Meta: store.Meta{ID: "dial"}, Name: "dial", Type: store.PolicyDial,
		Semantic: store.SemanticAnyOf, IdentityRoles: []string{"#dial"}, ServiceRoles: []string{"@svc"}})
	f.create(store.APISessions, &store.APISession{Meta: store.Meta{ID: "as-alice"}, IdentityID: "alice", TokenHash: "t", IsMFAComplete: true})
	return f
}

func dial(id string) *domain.CreateSession {
	return &domain.CreateSession{ID: id, TokenHash: "h-" + id, APISessionID: "as-alice", ServiceID: "svc", Permission: store.PolicyDial}
}

func TestCreateSessionIsIdempotentPerAPISessionServiceAndType(t *testing.T) {
	f := network(t)
	first := f.must(dial("s1")).(*store.Session)
	again := f.must(dial("s2")).(*store.Session)
	if first.ID != "s1" || again.ID != "s1" || f.exists(store.Sessions, "s2") {
		t.Fatalf("asking twice gave %s then %s", first.ID, again.ID)
	}
	if first.IdentityID != "alice" || first.Type != store.PolicyDial {
		t.Fatalf("session: %+v", first)
	}
}

// TestCreateSessionRechecksInsideTheWrite: each refusal is decided by the
// state the entry applies to, whatever the proposer saw.
func TestCreateSessionRechecksInsideTheWrite(t *testing.T) {
	f := network(t)
	bind := dial("b1")
	bind.Permission = store.PolicyBind
	if _, err := f.apply(bind); !errors.Is(err, access.ErrNotGranted) {
		t.Fatalf("bind without a Bind policy: %v", err)
	}
	bad := dial("x1")
	bad.Permission = "Admin"
	if _, err := f.apply(bad); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("type Admin: %v", err)
	}
	// The grant goes away between the proposer's look and the write.
	f.update(store.Identities, "alice", func(r store.Record) { r.(*store.Identity).RoleAttributes = nil })
	if _, err := f.apply(dial("s1")); !errors.Is(err, access.ErrNotGranted) || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("dial after the grant went: %v", err)
	}
	f.update(store.Identities, "alice", func(r store.Record) { r.(*store.Identity).RoleAttributes = []string{"dial"} })

	// A posture check the API session fails.
	f.create(store.PostureChecks, &store.PostureCheck{Meta: store.Meta{ID: "mac"}, Name: "mac", TypeID: store.PostureMAC, MACAddresses: []string{"00:11:22:33:44:55"}})
	f.update(store.ServicePolicies, "dial", func(r store.Record) { r.(*store.ServicePolicy).PostureCheckRoles = []string{"@mac"} })
	var pe *access.PostureError
	if _, err := f.apply(dial("s1")); !errors.As(err, &pe) {
		t.Fatalf("dial with failing posture: %v", err)
	}
	f.create(store.PostureDatas, &store.PostureData{Meta: store.Meta{ID: "as-alice"}, APISessionID: "as-alice",
		MAC: &store.PostureMACData{Addresses: []string{"00:11:22:33:44:55"}}})
	f.must(dial("s1"))

	// MFA pending, a disabled identity, an ended API session.
	f.update(store.APISessions, "as-alice", func(r store.Record) {
		r.(*store.APISession).IsMFARequired, r.(*store.APISession).IsMFAComplete = true, false
	})
	if _, err := f.apply(dial("s2")); !errors.Is(err, domain.ErrMFAPending) {
		t.Fatalf("MFA pending: %v", err)
	}
	f.update(store.APISessions, "as-alice", func(r store.Record) { r.(*store.APISession).IsMFAComplete = true })
	until := f.now.Add(time.Hour)
	f.update(store.Identities, "alice", func(r store.Record) {
		r.(*store.Identity).Disabled, r.(*store.Identity).DisabledUntil = true, &until
	})
	if _, err := f.apply(dial("s2")); !errors.Is(err, domain.ErrIdentityDisabled) || !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("disabled identity: %v", err)
	}
	f.update(store.Identities, "alice", func(r store.Record) { r.(*store.Identity).Disabled, r.(*store.Identity).DisabledUntil = false, nil })
	f.must(&command.DeleteEntity{Kind: store.APISessions.Name, ID: "as-alice"})
	if _, err := f.apply(dial("s2")); !errors.Is(err, domain.ErrSessionEnded) {
		t.Fatalf("ended API session: %v", err)
	}
	if f.exists(store.Sessions, "s1") {
		t.Fatal("the API session's sessions outlived it")
	}
}

func TestRevokeSessionsIsOneEntry(t *testing.T) {
	f := network(t)
	f.must(dial("s1"))
	other := dial("s2")
	other.APISessionID = "as-alice-2"
	f.create(store.APISessions, &store.APISession{Meta: store.Meta{ID: "as-alice-2"}, IdentityID: "alice", TokenHash: "t2"})
	f.must(other)
	before := f.idx
	got := f.must(&domain.RevokeSessions{IDs: []string{"s1", "gone", "s2"}}).([]string)
	if len(got) != 2 || got[0] != "s1" || got[1] != "s2" || f.idx != before+1 {
		t.Fatalf("revoked %v in %d entries", got, f.idx-before)
	}
	// IfDenied keeps what still passes.
	f.must(dial("s3"))
	if got := f.must(&domain.RevokeSessions{IDs: []string{"s3"}, IfDenied: true}).([]string); len(got) != 0 || !f.exists(store.Sessions, "s3") {
		t.Fatalf("IfDenied revoked a session that passes: %v", got)
	}
}

func TestDisableIdentityEndsItsAPISessionsInTheSameEntry(t *testing.T) {
	f := network(t)
	f.must(dial("s1"))
	before := f.idx
	ended := f.must(&domain.DisableIdentity{IdentityID: "alice", For: time.Hour}).([]string)
	if len(ended) != 1 || ended[0] != "as-alice" || f.idx != before+1 {
		t.Fatalf("ended %v in %d entries", ended, f.idx-before)
	}
	if f.exists(store.APISessions, "as-alice") || f.exists(store.Sessions, "s1") {
		t.Fatal("the disabled identity's sessions remain")
	}
	_ = f.s.View(func(tx *store.Tx) error {
		i, _ := store.Get[*store.Identity](tx, store.Identities, "alice")
		if !i.IsDisabled(f.now) || i.DisabledUntil == nil || !i.DisabledUntil.Equal(f.now.Add(time.Hour)) {
			t.Errorf("identity after disable: %+v", i)
		}
		return nil
	})
	if _, err := f.apply(&domain.DisableIdentity{IdentityID: "nobody"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("disable a missing identity: %v", err)
	}
	if _, err := f.apply(&domain.DisableIdentity{IdentityID: "alice", For: -time.Second}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("negative duration: %v", err)
	}
}

func TestEndAPISessionsSkipsTheGone(t *testing.T) {
	f := network(t)
	f.must(dial("s1"))
	ended := f.must(&domain.EndAPISessions{IDs: []string{"gone", "as-alice"}}).([]string)
	if len(ended) != 1 || f.exists(store.Sessions, "s1") {
		t.Fatalf("ended %v; session left: %v", ended, f.exists(store.Sessions, "s1"))
	}
}

func login(id string) *domain.Authenticate {
	return &domain.Authenticate{APISession: &store.APISession{Meta: store.Meta{ID: id}, IdentityID: "alice", TokenHash: "t-" + id, IsMFAComplete: true},
		EventID: "ev-" + id, EventType: store.AuthEventPasswordSuccess, Source: "10.0.0.1", Complete: true, ResetPasswordFailures: true}
}

// TestAuthenticateRecordsALoginInOneEntry: the API session, the success
// event, the end of the failure counts and the client info are one write.
func TestAuthenticateRecordsALoginInOneEntry(t *testing.T) {
	f := network(t)
	past := f.now.Add(-time.Hour)
	f.create(store.AuthLocks, &store.AuthLock{Meta: store.Meta{ID: "lock"}, IdentityID: "alice", Source: "10.0.0.1", Failures: 3, LockedUntil: past})
	f.create(store.PasswordFailures, &store.PasswordFailureCount{Meta: store.Meta{ID: "pwf"}, IdentityID: "alice", Failures: 2})
	c := login("as-2")
	c.EnvInfo = map[string]any{"os": "linux"}
	before := f.idx
	as := f.must(c).(*store.APISession)
	if as.ID != "as-2" || f.idx != before+1 {
		t.Fatalf("login gave %+v in %d entries", as, f.idx-before)
	}
	if !f.exists(store.AuthEvents, "ev-as-2") || f.exists(store.AuthLocks, "lock") || f.exists(store.PasswordFailures, "pwf") {
		t.Fatal("the login did not record its event or reset the failure counts")
	}
	_ = f.s.View(func(tx *store.Tx) error {
		i, _ := store.Get[*store.Identity](tx, store.Identities, "alice")
		if i.EnvInfo["os"] != "linux" {
			t.Errorf("client info not recorded: %v", i.EnvInfo)
		}
		return nil
	})
	// A login pending MFA keeps the failure count.
	f.create(store.AuthLocks, &store.AuthLock{Meta: store.Meta{ID: "lock2"}, IdentityID: "alice", Source: "10.0.0.1", Failures: 1})
	pending := login("as-3")
	pending.Complete = false
	f.must(pending)
	if !f.exists(store.AuthLocks, "lock2") {
		t.Fatal("a login pending MFA reset the failure count")
	}
}

func TestAuthenticateRechecksLockDisableAndAdmin(t *testing.T) {
	f := network(t)
	f.create(store.AuthLocks, &store.AuthLock{Meta: store.Meta{ID: "lock"}, IdentityID: "alice", Source: "10.0.0.1", Failures: 5,
		LockedUntil: f.now.Add(time.Hour)})
	if _, err := f.apply(login("as-2")); !errors.Is(err, domain.ErrLocked) || !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("login while locked: %v", err)
	}
	other := login("as-3")
	other.Source = "10.0.0.2"
	f.must(other) // the lock holds for one address only
	admin := login("as-4")
	admin.Source, admin.AdminOnly = "10.0.0.2", true
	if _, err := f.apply(admin); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("management login of a non-admin: %v", err)
	}
	f.must(&domain.DisableIdentity{IdentityID: "alice"})
	disabled := login("as-5")
	disabled.Source = "10.0.0.2"
	if _, err := f.apply(disabled); !errors.Is(err, domain.ErrIdentityDisabled) {
		t.Fatalf("login of a disabled identity: %v", err)
	}
	if f.exists(store.APISessions, "as-2") || f.exists(store.APISessions, "as-4") || f.exists(store.APISessions, "as-5") {
		t.Fatal("a refused login left an API session")
	}
}

func TestRouterLeases(t *testing.T) {
	f := newFixture(t)
	f.create(store.EdgeRouters, &store.EdgeRouter{Meta: store.Meta{ID: "r1"}, Name: "r1"})
	presence := func() *store.RouterPresence {
		var p *store.RouterPresence
		_ = f.s.View(func(tx *store.Tx) error {
			p, _ = store.Get[*store.RouterPresence](tx, store.RouterPresences, "r1")
			return nil
		})
		return p
	}
	f.must(&domain.RenewRouterLeases{NodeID: "n1", RouterIDs: []string{"r1", "deleted-router"}, Lease: 30 * time.Second})
	first := presence()
	if first == nil || first.NodeID != "n1" || !first.LeaseUntil.Equal(f.now.Add(30*time.Second)) || !first.Since.Equal(f.now) {
		t.Fatalf("presence after the first renewal: %+v", first)
	}
	if f.exists(store.RouterPresences, "deleted-router") {
		t.Fatal("a lease for a router that does not exist")
	}
	f.must(&domain.RenewRouterLeases{NodeID: "n1", RouterIDs: []string{"r1"}, Lease: 30 * time.Second})
	if p := presence(); !p.Since.Equal(first.Since) || !p.LeaseUntil.Equal(f.now.Add(30*time.Second)) {
		t.Fatalf("a renewal moved the start or did not extend the lease: %+v", p)
	}
	// The router moves to n2; n1's later report without it releases nothing of n2's.
	f.must(&domain.RenewRouterLeases{NodeID: "n2", RouterIDs: []string{"r1"}, Lease: 30 * time.Second})
	f.must(&domain.RenewRouterLeases{NodeID: "n1", RouterIDs: []string{}, Lease: 30 * time.Second})
	if p := presence(); p == nil || p.NodeID != "n2" {
		t.Fatalf("presence after the move: %+v", p)
	}
	f.must(&domain.RenewRouterLeases{NodeID: "n2", RouterIDs: nil, Lease: 30 * time.Second})
	if presence() != nil {
		t.Fatal("n2 released the router but its lease remains")
	}
	f.must(&domain.RenewRouterLeases{NodeID: "n1", RouterIDs: []string{"r1"}, Lease: 30 * time.Second})
	f.must(&command.DeleteEntity{Kind: store.EdgeRouters.Name, ID: "r1"})
	if presence() != nil {
		t.Fatal("a deleted router's lease remains")
	}
	if _, err := f.apply(&domain.RenewRouterLeases{NodeID: "", Lease: time.Second}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("renewal without a node: %v", err)
	}
}

func TestCompleteMFAIsOneEntry(t *testing.T) {
	f := network(t)
	f.update(store.APISessions, "as-alice", func(r store.Record) {
		r.(*store.APISession).IsMFARequired, r.(*store.APISession).IsMFAComplete = true, false
	})
	f.create(store.MFAs, &store.MFA{Meta: store.Meta{ID: "mfa"}, IdentityID: "alice"})
	f.create(store.AuthLocks, &store.AuthLock{Meta: store.Meta{ID: "lock"}, IdentityID: "alice", Source: "10.0.0.1", Failures: 2})
	before := f.idx
	as := f.must(&domain.CompleteMFA{APISessionID: "as-alice", EventID: "ev", Source: "10.0.0.1", VerifyEnrollment: true}).(*store.APISession)
	if !as.IsMFAComplete || as.MFACompletedAt == nil || !as.MFACompletedAt.Equal(f.now) || f.idx != before+1 {
		t.Fatalf("API session after MFA: %+v in %d entries", as, f.idx-before)
	}
	_ = f.s.View(func(tx *store.Tx) error {
		m, _ := store.Get[*store.MFA](tx, store.MFAs, "mfa")
		if !m.IsVerified || !tx.Exists(store.AuthEvents, "ev") || tx.Exists(store.AuthLocks, "lock") {
			t.Errorf("verified %v, event %v, lock left %v", m.IsVerified, tx.Exists(store.AuthEvents, "ev"), tx.Exists(store.AuthLocks, "lock"))
		}
		return nil
	})
	f.must(&command.DeleteEntity{Kind: store.APISessions.Name, ID: "as-alice"})
	if _, err := f.apply(&domain.CompleteMFA{APISessionID: "as-alice", EventID: "ev2"}); !errors.Is(err, domain.ErrSessionEnded) {
		t.Fatalf("MFA for an ended API session: %v", err)
	}
}
