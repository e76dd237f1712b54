package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/domain"
	"github.com/ostium-net/ostium/controller/store"
)

// pending stores an enrollment of method for alice (or for router r1 when
// method is erott) that expires in an hour.
func pending(f *fixture, id, method string) *store.Enrollment {
	f.t.Helper()
	e := &store.Enrollment{Meta: store.Meta{ID: id}, Method: method, TokenHash: "th-" + id, ExpiresAt: f.now.Add(time.Hour)}
	switch method {
	case store.EnrollmentERott:
		e.EdgeRouterID = "r1"
	case store.EnrollmentOTTCA:
		e.IdentityID, e.CAID = "alice", "ca"
	default:
		e.IdentityID = "alice"
	}
	f.create(store.Enrollments, e)
	return e
}

func certEnroll(e *store.Enrollment, authID, fingerprint string) *domain.Enroll {
	return &domain.Enroll{EnrollmentID: e.ID, TokenHash: e.TokenHash, Method: e.Method,
		Authenticator: &store.Authenticator{Meta: store.Meta{ID: authID}, IdentityID: "someone-else", Method: store.AuthenticatorCert,
			Fingerprint: fingerprint, CertPEM: "pem-" + fingerprint}}
}

func authenticator(f *fixture, id string) *store.Authenticator {
	var a *store.Authenticator
	_ = f.s.View(func(tx *store.Tx) error {
		a, _ = store.Get[*store.Authenticator](tx, store.Authenticators, id)
		return nil
	})
	return a
}

// TestEnrollUsesATokenOnceInsideTheWrite: two requests with one token both
// pass the proposer's look; the second entry finds the enrollment used.
func TestEnrollUsesATokenOnceInsideTheWrite(t *testing.T) {
	f := network(t)
	f.create(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "old-cert"}, IdentityID: "alice", Method: store.AuthenticatorCert, Fingerprint: "fp-old"})
	e := pending(f, "en", store.EnrollmentOTT)
	before := f.idx
	a := f.must(certEnroll(e, "a1", "fp-1")).(*store.Authenticator)
	if a.IdentityID != "alice" || f.idx != before+1 {
		t.Fatalf("authenticator %+v in %d entries; its identity must be the enrollment's", a, f.idx-before)
	}
	if f.exists(store.Enrollments, "en") || f.exists(store.Authenticators, "old-cert") {
		t.Fatal("the enrollment or the replaced certificate remains")
	}
	_, err := f.apply(certEnroll(e, "a2", "fp-2"))
	if !errors.Is(err, command.ErrEnrollmentUsed) || !command.IsEnrollmentUsed(err) {
		t.Fatalf("second use of the token: %v", err)
	}
	if f.exists(store.Authenticators, "a2") {
		t.Fatal("the second use created an authenticator")
	}
}

func TestEnrollRefusesExpiredMismatchedAndOrphaned(t *testing.T) {
	f := network(t)
	e := pending(f, "en", store.EnrollmentOTT)
	wrong := certEnroll(e, "a1", "fp-1")
	wrong.TokenHash = "th-other"
	if _, err := f.apply(wrong); !errors.Is(err, command.ErrEnrollmentUsed) {
		t.Fatalf("another token hash: %v", err)
	}
	wrong = certEnroll(e, "a1", "fp-1")
	wrong.Method = store.EnrollmentUpdb
	if _, err := f.apply(wrong); !errors.Is(err, command.ErrEnrollmentUsed) {
		t.Fatalf("another method: %v", err)
	}
	updbAuth := certEnroll(e, "a1", "fp-1")
	updbAuth.Authenticator.Method = store.AuthenticatorUpdb
	if _, err := f.apply(updbAuth); !errors.Is(err, store.ErrInvalid) || !f.exists(store.Enrollments, "en") {
		t.Fatalf("a password authenticator for an ott enrollment: %v", err)
	}
	// The clock of the entry passes the expiry after the proposer's look.
	f.now = e.ExpiresAt
	if _, err := f.apply(certEnroll(e, "a1", "fp-1")); !errors.Is(err, command.ErrEnrollmentExpired) || !command.IsEnrollmentExpired(err) {
		t.Fatalf("expired: %v", err)
	}
	if !f.exists(store.Enrollments, "en") || f.exists(store.Authenticators, "a1") {
		t.Fatal("a refused enrollment changed the store")
	}
	// The identity is deleted between the look and the write.
	e2 := pending(f, "en2", store.EnrollmentOTT)
	f.must(&command.DeleteEntity{Kind: store.Identities.Name, ID: "alice"})
	if _, err := f.apply(certEnroll(e2, "a1", "fp-1")); !errors.Is(err, command.ErrEnrollmentUsed) {
		t.Fatalf("enrollment of a deleted identity: %v", err)
	}
}

func TestEnrollFingerprintTakenMeanwhileIsAConflict(t *testing.T) {
	f := network(t)
	f.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "bob"}, Name: "bob", Type: "User"})
	e := pending(f, "en", store.EnrollmentOTT)
	f.create(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "bobs"}, IdentityID: "bob", Method: store.AuthenticatorCert, Fingerprint: "fp-1"})
	_, err := f.apply(certEnroll(e, "a1", "fp-1"))
	var fe *store.FieldError
	if !errors.Is(err, store.ErrConflict) || !errors.As(err, &fe) || fe.Field != "fingerprint" {
		t.Fatalf("enroll with a fingerprint in use: %v", err)
	}
	if !f.exists(store.Enrollments, "en") {
		t.Fatal("a refused enrollment was used up")
	}
}

func TestEnrollOTTCARechecksTheCA(t *testing.T) {
	f := network(t)
	f.create(store.CAs, &store.CA{Meta: store.Meta{ID: "ca"}, Name: "ca", Fingerprint: "ca-fp", IsVerified: true, IsOttCaEnrollmentEnabled: true})
	e := pending(f, "en", store.EnrollmentOTTCA)
	c := certEnroll(e, "a1", "fp-1")
	c.CAFingerprint = "ca-fp"
	f.update(store.CAs, "ca", func(r store.Record) { r.(*store.CA).IsOttCaEnrollmentEnabled = false })
	if _, err := f.apply(c); !errors.Is(err, domain.ErrCANotAllowed) || !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("OTT-CA enrollment turned off meanwhile: %v", err)
	}
	f.update(store.CAs, "ca", func(r store.Record) { r.(*store.CA).IsOttCaEnrollmentEnabled = true })
	other := certEnroll(e, "a1", "fp-1")
	other.CAFingerprint = "another-ca"
	if _, err := f.apply(other); !errors.Is(err, domain.ErrCANotAllowed) {
		t.Fatalf("chain verified with another CA: %v", err)
	}
	if !f.exists(store.Enrollments, "en") {
		t.Fatal("a refused enrollment was used up")
	}
	if a := f.must(c).(*store.Authenticator); a.IdentityID != "alice" || a.Fingerprint != "fp-1" {
		t.Fatalf("authenticator: %+v", a)
	}
}

func TestEnrollUpdbOnce(t *testing.T) {
	f := network(t)
	e := pending(f, "en", store.EnrollmentUpdb)
	c := &domain.Enroll{EnrollmentID: e.ID, TokenHash: e.TokenHash, Method: e.Method,
		Authenticator: &store.Authenticator{Meta: store.Meta{ID: "pw"}, Method: store.AuthenticatorUpdb, Username: "alice", PasswordHash: "argon2id$..."}}
	// A password is given to alice another way between the look and the write.
	f.create(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "pw-0"}, IdentityID: "alice", Method: store.AuthenticatorUpdb, Username: "alice0"})
	if _, err := f.apply(c); !errors.Is(err, domain.ErrAlreadyEnrolled) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second password: %v", err)
	}
	f.must(&command.DeleteEntity{Kind: store.Authenticators.Name, ID: "pw-0"})
	if a := f.must(c).(*store.Authenticator); a.IdentityID != "alice" || a.Username != "alice" {
		t.Fatalf("authenticator: %+v", a)
	}
}

func TestEnrollRouter(t *testing.T) {
	f := newFixture(t)
	f.create(store.EdgeRouters, &store.EdgeRouter{Meta: store.Meta{ID: "r1"}, Name: "r1"})
	e := pending(f, "en", store.EnrollmentERott)
	c := &domain.Enroll{EnrollmentID: e.ID, TokenHash: e.TokenHash, Method: e.Method,
		Router: &domain.RouterCerts{Fingerprint: "fp-c", CertPEM: "pem", ServerFingerprint: "fp-s"}}
	// The router is edited between the look and the write: the edit stays.
	f.update(store.EdgeRouters, "r1", func(r store.Record) { r.(*store.EdgeRouter).Cost = 7 })
	r := f.must(c).(*store.EdgeRouter)
	if !r.IsVerified || r.Fingerprint != "fp-c" || r.ServerFingerprint != "fp-s" || r.Cost != 7 {
		t.Fatalf("router after enrollment: %+v", r)
	}
	if _, err := f.apply(c); !errors.Is(err, command.ErrEnrollmentUsed) {
		t.Fatalf("second router enrollment with one token: %v", err)
	}
	// The router is deleted meanwhile: its enrollment went with it.
	e2 := pending(f, "en2", store.EnrollmentERott)
	f.must(&command.DeleteEntity{Kind: store.EdgeRouters.Name, ID: "r1"})
	c.EnrollmentID, c.TokenHash = e2.ID, e2.TokenHash
	if _, err := f.apply(c); !errors.Is(err, command.ErrEnrollmentUsed) {
		t.Fatalf("enrollment of a deleted router: %v", err)
	}
}

func autoEnroll(id, name, fingerprint string) *domain.EnrollWithCA {
	return &domain.EnrollWithCA{CAID: "ca", CAFingerprint: "ca-fp", IdentityID: id, Name: name,
		Authenticator: &store.Authenticator{Meta: store.Meta{ID: "auth-" + id}, Method: store.AuthenticatorCert, Fingerprint: fingerprint}}
}

// TestEnrollWithCARechecksNameCertificateAndCA: what the proposer saw free
// or allowed is decided again by the entry.
func TestEnrollWithCARechecksNameCertificateAndCA(t *testing.T) {
	f := network(t)
	f.create(store.CAs, &store.CA{Meta: store.Meta{ID: "ca"}, Name: "ca", Fingerprint: "ca-fp", IsVerified: true,
		IsAutoCaEnrollmentEnabled: true, IdentityRoles: []string{"dial"}})
	before := f.idx
	i := f.must(autoEnroll("i1", "ca-device1", "fp-1")).(*store.Identity)
	if i.Name != "ca-device1" || len(i.RoleAttributes) != 1 || i.RoleAttributes[0] != "dial" || f.idx != before+1 {
		t.Fatalf("identity %+v in %d entries", i, f.idx-before)
	}
	if a := authenticator(f, "auth-i1"); a == nil || a.IdentityID != "i1" {
		t.Fatalf("authenticator: %+v", a)
	}
	// The name is taken between the look and the write.
	f.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "x"}, Name: "ca-device2", Type: "Device"})
	_, err := f.apply(autoEnroll("i2", "ca-device2", "fp-2"))
	var fe *store.FieldError
	if !errors.Is(err, store.ErrConflict) || !errors.As(err, &fe) || fe.Field != "name" {
		t.Fatalf("auto-enrollment with a name taken meanwhile: %v", err)
	}
	_, err = f.apply(autoEnroll("i2", "ca-device3", "fp-1"))
	if !errors.Is(err, store.ErrConflict) || !errors.As(err, &fe) || fe.Field != "fingerprint" {
		t.Fatalf("auto-enrollment with a certificate in use: %v", err)
	}
	f.update(store.CAs, "ca", func(r store.Record) { r.(*store.CA).IsAutoCaEnrollmentEnabled = false })
	if _, err := f.apply(autoEnroll("i2", "ca-device3", "fp-3")); !errors.Is(err, domain.ErrCANotAllowed) {
		t.Fatalf("auto-enrollment turned off meanwhile: %v", err)
	}
	if f.exists(store.Identities, "i2") || authenticator(f, "auth-i2") != nil {
		t.Fatal("a refused auto-enrollment left records")
	}
}
