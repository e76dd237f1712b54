package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/domain"
	"github.com/ostium-net/ostium/controller/store"
)

func issue(f *fixture, id, method string) *domain.IssueEnrollment {
	e := &store.Enrollment{Meta: store.Meta{ID: id}, Method: method, IdentityID: "alice", TokenHash: "th-" + id, ExpiresAt: f.now.Add(time.Hour)}
	if method == store.EnrollmentOTTCA {
		e.CAID = "ca"
	}
	if method == store.EnrollmentUpdb {
		e.Username = "alice"
	}
	return &domain.IssueEnrollment{Enrollment: e}
}

// TestIssueEnrollmentOnePendingPerKind: two administrators issue an ott
// enrollment at once; both looked and saw none pending, the second entry
// finds the first.
func TestIssueEnrollmentOnePendingPerKind(t *testing.T) {
	f := network(t)
	f.create(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "cert"}, IdentityID: "alice", Method: store.AuthenticatorCert, Fingerprint: "fp"})
	first, second := issue(f, "e1", store.EnrollmentOTT), issue(f, "e2", store.EnrollmentOTT)
	f.must(first)
	if f.exists(store.Authenticators, "cert") {
		t.Fatal("a certificate enrollment left the old certificate")
	}
	_, err := f.apply(second)
	var fe *store.FieldError
	if !errors.Is(err, store.ErrConflict) || !errors.As(err, &fe) || fe.Field != "method" || f.exists(store.Enrollments, "e2") {
		t.Fatalf("a second pending ott enrollment: %v", err)
	}
	// ottca is of the same kind (certificate); updb is another.
	f.create(store.CAs, &store.CA{Meta: store.Meta{ID: "ca"}, Name: "ca", Fingerprint: "ca-fp"})
	if _, err := f.apply(issue(f, "e3", store.EnrollmentOTTCA)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("an ottca enrollment next to a pending ott: %v", err)
	}
	f.must(issue(f, "e4", store.EnrollmentUpdb))

	// A password enrollment for an identity that has one is refused.
	f.must(&command.DeleteEntity{Kind: store.Enrollments.Name, ID: "e4"})
	f.create(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "pw"}, IdentityID: "alice", Method: store.AuthenticatorUpdb, Username: "alice"})
	if _, err := f.apply(issue(f, "e5", store.EnrollmentUpdb)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("updb enrollment of an identity with a password: %v", err)
	}
}

func TestIssueEnrollmentRechecksIdentityAndCA(t *testing.T) {
	f := network(t)
	if _, err := f.apply(issue(f, "e1", store.EnrollmentOTTCA)); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("ottca with a CA that does not exist: %v", err)
	}
	bad := issue(f, "e1", "erott")
	if _, err := f.apply(bad); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a router method for an identity: %v", err)
	}
	f.must(&command.DeleteEntity{Kind: store.Identities.Name, ID: "alice"})
	var fe *store.FieldError
	if _, err := f.apply(issue(f, "e1", store.EnrollmentOTT)); !errors.Is(err, store.ErrInvalid) || !errors.As(err, &fe) || fe.Field != "identityId" {
		t.Fatalf("enrollment of an identity deleted meanwhile: %v", err)
	}
}

// TestReEnrollRouterDropsWhatIsThereAtTheWrite: an enrollment created after
// the proposer's look is dropped too, and no retry is needed.
func TestReEnrollRouterDropsWhatIsThereAtTheWrite(t *testing.T) {
	f := newFixture(t)
	f.create(store.EdgeRouters, &store.EdgeRouter{Meta: store.Meta{ID: "r1"}, Name: "r1", IsVerified: true, Fingerprint: "fp", CertPEM: "pem"})
	f.create(store.Enrollments, &store.Enrollment{Meta: store.Meta{ID: "late"}, Method: store.EnrollmentERott, EdgeRouterID: "r1", TokenHash: "th-late", ExpiresAt: f.now.Add(time.Hour)})
	c := &domain.ReEnrollRouter{RouterID: "r1", Enrollment: &store.Enrollment{Meta: store.Meta{ID: "new"}, Method: store.EnrollmentERott,
		TokenHash: "th-new", ExpiresAt: f.now.Add(time.Hour)}}
	e := f.must(c).(*store.Enrollment)
	if e.EdgeRouterID != "r1" || f.exists(store.Enrollments, "late") || !f.exists(store.Enrollments, "new") {
		t.Fatalf("enrollment %+v; the older one left: %v", e, f.exists(store.Enrollments, "late"))
	}
	_ = f.s.View(func(tx *store.Tx) error {
		r, _ := store.Get[*store.EdgeRouter](tx, store.EdgeRouters, "r1")
		if r.IsVerified || r.Fingerprint != "" || r.CertPEM != "" {
			t.Errorf("router keeps its certificate: %+v", r)
		}
		return nil
	})
	if _, err := f.apply(&domain.ReEnrollRouter{RouterID: "gone", Enrollment: c.Enrollment}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("re-enroll a missing router: %v", err)
	}
}

func sessionCert(id, apiSession, fp string) *domain.AddSessionCert {
	return &domain.AddSessionCert{Cert: &store.APISessionCert{Meta: store.Meta{ID: id}, APISessionID: apiSession, Fingerprint: fp, CertPEM: "pem"}}
}

func TestSessionCertsRecheckTheSessionInsideTheWrite(t *testing.T) {
	f := network(t)
	f.update(store.APISessions, "as-alice", func(r store.Record) { r.(*store.APISession).AuthMethod = "password" })
	f.must(sessionCert("c1", "as-alice", "fp-1"))
	f.must(sessionCert("c2", "as-alice", "fp-2"))
	fingerprints := func() []string {
		var fps []string
		_ = f.s.View(func(tx *store.Tx) error {
			as, err := store.Get[*store.APISession](tx, store.APISessions, "as-alice")
			if err == nil {
				fps = as.CertFingerprints
			}
			return nil
		})
		return fps
	}
	if fps := fingerprints(); len(fps) != 2 || fps[0] != "fp-1" || fps[1] != "fp-2" {
		t.Fatalf("fingerprints on the session: %v", fps)
	}
	if _, err := f.apply(sessionCert("c3", "as-alice", "fp-1")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a fingerprint twice: %v", err)
	}
	f.create(store.APISessions, &store.APISession{Meta: store.Meta{ID: "as-cert"}, IdentityID: "alice", TokenHash: "t2", AuthMethod: "cert"})
	if _, err := f.apply(sessionCert("c3", "as-cert", "fp-3")); !errors.Is(err, domain.ErrCertNotAllowed) {
		t.Fatalf("a certificate for a certificate session: %v", err)
	}
	if _, err := f.apply(&domain.RemoveSessionCert{APISessionID: "as-cert", CertID: "c1"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removing another session's certificate: %v", err)
	}
	f.must(&domain.RemoveSessionCert{APISessionID: "as-alice", CertID: "c1"})
	if fps := fingerprints(); len(fps) != 1 || fps[0] != "fp-2" || f.exists(store.APISessionCerts, "c1") {
		t.Fatalf("after removing c1: %v", fps)
	}
	// The identity is disabled, then the session ends, between look and write.
	f.update(store.Identities, "alice", func(r store.Record) { r.(*store.Identity).Disabled = true })
	if _, err := f.apply(sessionCert("c4", "as-alice", "fp-4")); !errors.Is(err, domain.ErrIdentityDisabled) {
		t.Fatalf("a certificate for a disabled identity: %v", err)
	}
	f.must(&domain.EndAPISessions{IDs: []string{"as-alice"}})
	if _, err := f.apply(sessionCert("c4", "as-alice", "fp-4")); !errors.Is(err, domain.ErrSessionEnded) {
		t.Fatalf("a certificate for an ended session: %v", err)
	}
	if f.exists(store.APISessionCerts, "c2") {
		t.Fatal("an ended session's certificate remains")
	}
}

func TestExtendAndVerifyOnce(t *testing.T) {
	f := network(t)
	f.create(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "a"}, IdentityID: "alice", Method: store.AuthenticatorCert, Fingerprint: "fp-old"})
	if _, err := f.apply(&domain.ExtendAuthenticator{AuthenticatorID: "a", IdentityID: "mallory", Fingerprint: "fp-new"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("extending another identity's authenticator: %v", err)
	}
	f.must(&domain.ExtendAuthenticator{AuthenticatorID: "a", IdentityID: "alice", Fingerprint: "fp-new", CertPEM: "pem-new"})
	if a := authenticator(f, "a"); a.Fingerprint != "fp-old" || a.UnverifiedFingerprint != "fp-new" {
		t.Fatalf("after extend: %+v", a)
	}
	verify := &domain.VerifyExtension{AuthenticatorID: "a", IdentityID: "alice", Fingerprint: "fp-new"}
	f.must(verify)
	if a := authenticator(f, "a"); a.Fingerprint != "fp-new" || a.CertPEM != "pem-new" || a.UnverifiedFingerprint != "" {
		t.Fatalf("after verify: %+v", a)
	}
	if _, err := f.apply(verify); !errors.Is(err, domain.ErrNotPending) {
		t.Fatalf("verifying twice: %v", err)
	}
}

func TestExtendRouterOncePerCertificate(t *testing.T) {
	f := newFixture(t)
	f.create(store.EdgeRouters, &store.EdgeRouter{Meta: store.Meta{ID: "r1"}, Name: "r1", IsVerified: true, Fingerprint: "fp-0"})
	c := &domain.ExtendRouter{RouterID: "r1", CurrentFingerprint: "fp-0", Certs: domain.RouterCerts{Fingerprint: "fp-1", ServerFingerprint: "sfp-1"}}
	if r := f.must(c).(*store.EdgeRouter); r.Fingerprint != "fp-1" || r.ServerFingerprint != "sfp-1" {
		t.Fatalf("after extend: %+v", r)
	}
	again := &domain.ExtendRouter{RouterID: "r1", CurrentFingerprint: "fp-0", Certs: domain.RouterCerts{Fingerprint: "fp-2"}}
	if _, err := f.apply(again); !errors.Is(err, domain.ErrRouterCertChanged) {
		t.Fatalf("a second extension with the old certificate: %v", err)
	}
}

func TestJoinTokensAreUsedOnce(t *testing.T) {
	f := newFixture(t)
	f.must(&domain.IssueJoinToken{Token: &store.JoinToken{Meta: store.Meta{ID: "old"}, SecretHash: "h-old", ExpiresAt: f.now.Add(time.Second)}})
	f.must(&domain.IssueJoinToken{Token: &store.JoinToken{Meta: store.Meta{ID: "j"}, SecretHash: "h", ExpiresAt: f.now.Add(time.Hour)}})
	if f.exists(store.JoinTokens, "old") {
		t.Fatal("a token that expired unused outlived the issue of a new one")
	}
	if _, err := f.apply(&domain.UseJoinToken{ID: "j", SecretHash: "wrong"}); !errors.Is(err, domain.ErrJoinTokenRefused) || !f.exists(store.JoinTokens, "j") {
		t.Fatalf("wrong secret: %v", err)
	}
	f.must(&domain.UseJoinToken{ID: "j", SecretHash: "h"})
	if _, err := f.apply(&domain.UseJoinToken{ID: "j", SecretHash: "h"}); !errors.Is(err, domain.ErrJoinTokenRefused) {
		t.Fatalf("a second join with one token: %v", err)
	}
	f.must(&domain.IssueJoinToken{Token: &store.JoinToken{Meta: store.Meta{ID: "k"}, SecretHash: "hk", ExpiresAt: f.now.Add(time.Second)}})
	f.now = f.now.Add(time.Minute)
	if _, err := f.apply(&domain.UseJoinToken{ID: "k", SecretHash: "hk"}); !errors.Is(err, domain.ErrJoinTokenRefused) {
		t.Fatalf("an expired token: %v", err)
	}
}

func TestDisableIdentityRefusesItself(t *testing.T) {
	f := network(t)
	if _, err := f.apply(&domain.DisableIdentity{IdentityID: "alice", By: "alice"}); !errors.Is(err, domain.ErrSelfDisable) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("an identity disabling itself: %v", err)
	}
	if !f.exists(store.APISessions, "as-alice") {
		t.Fatal("a refused disable ended the API sessions")
	}
	f.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "admin"}, Name: "admin", Type: "User", IsAdmin: true})
	f.must(&domain.DisableIdentity{IdentityID: "alice", By: "admin"})
}

// TestCreateIdentityNameTakenMeanwhile: the proposer saw the name free; an
// identity of that name was created before the entry applied.
func TestCreateIdentityNameTakenMeanwhile(t *testing.T) {
	f := network(t)
	c := &domain.CreateIdentity{Identity: &store.Identity{Meta: store.Meta{ID: "bob"}, Name: "bob", Type: "User"},
		Enrollments: []*store.Enrollment{{Meta: store.Meta{ID: "e-bob"}, Method: store.EnrollmentOTT, IdentityID: "someone", TokenHash: "th-bob", ExpiresAt: f.now.Add(time.Hour)}}}
	f.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "bob-2"}, Name: "bob", Type: "User"})
	_, err := f.apply(c)
	var fe *store.FieldError
	if !errors.Is(err, store.ErrConflict) || !errors.As(err, &fe) || fe.Field != "name" {
		t.Fatalf("identity with a name taken meanwhile: %v", err)
	}
	if f.exists(store.Identities, "bob") || f.exists(store.Enrollments, "e-bob") {
		t.Fatal("a refused create left records")
	}
	c.Identity.Name = "bobby"
	if i := f.must(c).(*store.Identity); i.ID != "bob" {
		t.Fatalf("created %+v", i)
	}
	_ = f.s.View(func(tx *store.Tx) error {
		e, err := store.Get[*store.Enrollment](tx, store.Enrollments, "e-bob")
		if err != nil || e.IdentityID != "bob" {
			t.Errorf("enrollment %+v, %v: it must belong to the new identity", e, err)
		}
		return nil
	})
	two := &domain.CreateIdentity{Identity: &store.Identity{Meta: store.Meta{ID: "carol"}, Name: "carol", Type: "User"},
		Enrollments: []*store.Enrollment{{Meta: store.Meta{ID: "e1"}, Method: store.EnrollmentOTT, TokenHash: "a"}, {Meta: store.Meta{ID: "e2"}, Method: store.EnrollmentUpdb, TokenHash: "b"}}}
	if _, err := f.apply(two); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("two enrollments: %v", err)
	}
}

// TestReportPostureIsOneEntryAndRevokesInIt: reports merge into the API
// session's posture data without retries, and a report that fails a
// session's check removes the session in the same entry.
func TestReportPostureIsOneEntryAndRevokesInIt(t *testing.T) {
	f := network(t)
	mac := func(addr string) domain.PostureReport {
		return domain.PostureReport{MAC: &store.PostureMACData{Addresses: []string{addr}}}
	}
	proc := func(path string, running bool) domain.PostureReport {
		return domain.PostureReport{Process: &store.PostureProcessData{Path: path, IsRunning: running}}
	}
	before := f.idx
	f.must(&domain.ReportPosture{APISessionID: "as-alice", Reports: []domain.PostureReport{mac("00:11:22:33:44:55"), proc("/a", true)}})
	f.must(&domain.ReportPosture{APISessionID: "as-alice", Reports: []domain.PostureReport{proc("/b", true), proc("/a", false), {Woken: true}}})
	if f.idx != before+2 {
		t.Fatalf("two reports took %d entries", f.idx-before)
	}
	_ = f.s.View(func(tx *store.Tx) error {
		d, err := store.Get[*store.PostureData](tx, store.PostureDatas, "as-alice")
		if err != nil || d.MAC == nil || len(d.Processes) != 2 || d.Processes[0].IsRunning || d.WokenAt == nil || !d.WokenAt.Equal(f.now) {
			t.Errorf("posture data: %+v, %v", d, err)
		}
		return nil
	})
	// A MAC check on the dial policy; alice's session passes, until she
	// reports another address.
	f.create(store.PostureChecks, &store.PostureCheck{Meta: store.Meta{ID: "mac"}, Name: "mac", TypeID: store.PostureMAC, MACAddresses: []string{"00:11:22:33:44:55"}})
	f.update(store.ServicePolicies, "dial", func(r store.Record) { r.(*store.ServicePolicy).PostureCheckRoles = []string{"@mac"} })
	f.must(dial("s1"))
	f.must(&domain.ReportPosture{APISessionID: "as-alice", Reports: []domain.PostureReport{mac("66:77:88:99:aa:bb")}})
	if f.exists(store.Sessions, "s1") {
		t.Fatal("a session that fails its posture check outlived the report")
	}
	f.must(&domain.EndAPISessions{IDs: []string{"as-alice"}})
	if _, err := f.apply(&domain.ReportPosture{APISessionID: "as-alice", Reports: []domain.PostureReport{mac("00:11:22:33:44:55")}}); !errors.Is(err, domain.ErrSessionEnded) {
		t.Fatalf("a report for an ended API session: %v", err)
	}
}

// TestRemoveMFAWithoutACodeOnlyWhileUnverified: the enrollment was
// unverified when the proposer looked and verified before the entry.
func TestRemoveMFAWithoutACodeOnlyWhileUnverified(t *testing.T) {
	f := network(t)
	f.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "bob"}, Name: "bob", Type: "User"})
	f.create(store.MFAs, &store.MFA{Meta: store.Meta{ID: "mfa"}, IdentityID: "alice"})
	f.update(store.MFAs, "mfa", func(r store.Record) { r.(*store.MFA).IsVerified = true })
	if _, err := f.apply(&domain.RemoveMFA{IdentityID: "alice", MFAID: "mfa", Unverified: true}); !errors.Is(err, domain.ErrMFAVerified) {
		t.Fatalf("removing a verified enrollment without a code: %v", err)
	}
	if _, err := f.apply(&domain.RemoveMFA{IdentityID: "bob", MFAID: "mfa"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removing another identity's enrollment: %v", err)
	}
	if !f.exists(store.MFAs, "mfa") {
		t.Fatal("a refused removal removed the enrollment")
	}
	f.must(&domain.RemoveMFA{IdentityID: "alice", MFAID: "mfa"})
	if f.exists(store.MFAs, "mfa") {
		t.Fatal("the enrollment remains")
	}
}

// TestChangePasswordOncePerCheckedPassword: two changes both checked the
// old password; the second entry finds it replaced.
func TestChangePasswordOncePerCheckedPassword(t *testing.T) {
	f := network(t)
	f.create(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "pw"}, IdentityID: "alice", Method: store.AuthenticatorUpdb, Username: "alice", PasswordHash: "h0"})
	f.create(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "pw-bob"}, IdentityID: "alice", Method: store.AuthenticatorUpdb, Username: "bob", PasswordHash: "hb"})
	first := &domain.ChangePassword{AuthenticatorID: "pw", IdentityID: "alice", CheckedHash: "h0", PasswordHash: "h1"}
	second := &domain.ChangePassword{AuthenticatorID: "pw", IdentityID: "alice", CheckedHash: "h0", PasswordHash: "h2"}
	f.must(first)
	if _, err := f.apply(second); !errors.Is(err, domain.ErrPasswordChanged) || !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("a change checked against a replaced password: %v", err)
	}
	if a := authenticator(f, "pw"); a.PasswordHash != "h1" {
		t.Fatalf("password hash %q", a.PasswordHash)
	}
	if _, err := f.apply(&domain.ChangePassword{AuthenticatorID: "pw", IdentityID: "mallory", CheckedHash: "h1"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("changing another identity's password: %v", err)
	}
	if _, err := f.apply(&domain.ChangePassword{AuthenticatorID: "pw", IdentityID: "alice", CheckedHash: "h1", Username: "bob"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a username in use: %v", err)
	}
	f.must(&domain.ChangePassword{AuthenticatorID: "pw", IdentityID: "alice", CheckedHash: "h1", Username: "alice2"})
	if a := authenticator(f, "pw"); a.Username != "alice2" || a.PasswordHash != "h1" {
		t.Fatalf("after a username change: %+v", a)
	}
}

// TestPassMFATakesTheCodeAndCompletesInOneEntry: a code is used up only
// with the challenge it passed, and a replayed code completes nothing.
func TestPassMFATakesTheCodeAndCompletesInOneEntry(t *testing.T) {
	f := network(t)
	f.update(store.APISessions, "as-alice", func(r store.Record) {
		r.(*store.APISession).IsMFARequired, r.(*store.APISession).IsMFAComplete = true, false
	})
	f.create(store.MFAs, &store.MFA{Meta: store.Meta{ID: "mfa"}, IdentityID: "alice", IsVerified: true, LastTOTPStep: 10})
	f.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "bob"}, Name: "bob", Type: "User"})
	f.create(store.MFAs, &store.MFA{Meta: store.Meta{ID: "mfa-bob"}, IdentityID: "bob", IsVerified: true})
	pass := func(mfaID, ev string, step int64) *domain.PassMFA {
		return &domain.PassMFA{TOTP: command.AcceptTOTP{MFAID: mfaID, Steps: []int64{step}},
			Complete: domain.CompleteMFA{APISessionID: "as-alice", EventID: ev, Source: "10.0.0.1"}}
	}
	lastStep := func(id string) int64 {
		var step int64
		_ = f.s.View(func(tx *store.Tx) error {
			m, _ := store.Get[*store.MFA](tx, store.MFAs, id)
			step = m.LastTOTPStep
			return nil
		})
		return step
	}
	if _, err := f.apply(pass("mfa", "ev0", 10)); !errors.Is(err, command.ErrTOTPReplayed) {
		t.Fatalf("a replayed code: %v", err)
	}
	if _, err := f.apply(pass("mfa-bob", "ev0", 11)); !errors.Is(err, store.ErrNotFound) || lastStep("mfa-bob") != 0 {
		t.Fatalf("another identity's enrollment: %v", err)
	}
	if f.exists(store.AuthEvents, "ev0") {
		t.Fatal("a refused challenge was recorded")
	}
	before := f.idx
	as := f.must(pass("mfa", "ev1", 11)).(*store.APISession)
	if !as.IsMFAComplete || lastStep("mfa") != 11 || !f.exists(store.AuthEvents, "ev1") || f.idx != before+1 {
		t.Fatalf("after passing: complete %v, step %d, in %d entries", as.IsMFAComplete, lastStep("mfa"), f.idx-before)
	}
	// The API session ends before the entry: the code is not used up.
	f.must(&domain.EndAPISessions{IDs: []string{"as-alice"}})
	if _, err := f.apply(pass("mfa", "ev2", 12)); !errors.Is(err, domain.ErrSessionEnded) || lastStep("mfa") != 11 {
		t.Fatalf("a challenge of an ended session: %v, step %d", err, lastStep("mfa"))
	}
}
