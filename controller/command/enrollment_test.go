package command_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

type testStore struct {
	t     *testing.T
	s     *store.Store
	index uint64
}

func openStore(t *testing.T) *testStore {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "ctrl.db"), store.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &testStore{t: t, s: s}
}

// apply runs c through the same encode/decode path raft entries take.
func (ts *testStore) apply(c command.Command, at time.Time) error {
	ts.t.Helper()
	raw, err := command.Encode(c, at)
	if err != nil {
		ts.t.Fatal(err)
	}
	decoded, stamp, err := command.Decode(raw)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.index++
	return ts.s.Apply(store.Entry{Index: ts.index, Time: stamp, Apply: decoded.Apply}).Err
}

func (ts *testStore) create(k *store.Kind, rec store.Record, at time.Time) {
	ts.t.Helper()
	c, err := command.NewCreate(k, rec)
	if err != nil {
		ts.t.Fatal(err)
	}
	if err := ts.apply(c, at); err != nil {
		ts.t.Fatalf("create %s: %v", k.Name, err)
	}
}

func (ts *testStore) exists(k *store.Kind, id string) bool {
	found := false
	_ = ts.s.View(func(tx *store.Tx) error { found = tx.Exists(k, id); return nil })
	return found
}

func TestConsumeEnrollmentOnce(t *testing.T) {
	ts := openStore(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ts.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "i1"}, Name: "alice", Type: "Device"}, now)
	ts.create(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "old"}, IdentityID: "i1", Method: store.AuthenticatorCert, Fingerprint: "f0"}, now)
	e := &store.Enrollment{Meta: store.Meta{ID: "e1"}, Method: store.EnrollmentOTT, IdentityID: "i1", TokenHash: "h1", ExpiresAt: now.Add(time.Hour)}
	ts.create(store.Enrollments, e, now)

	newAuth, err := command.NewCreate(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "a1"}, IdentityID: "i1", Method: store.AuthenticatorCert, Fingerprint: "f1"})
	if err != nil {
		t.Fatal(err)
	}
	consume, err := command.NewConsumeEnrollment(e, now, &command.DeleteEntity{Kind: store.Authenticators.Name, ID: "old"}, newAuth)
	if err != nil {
		t.Fatal(err)
	}
	if consume.Type() != command.TypeConsumeEnrollment {
		t.Fatalf("type %d", consume.Type())
	}
	if err := ts.apply(consume, now.Add(time.Minute)); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if ts.exists(store.Enrollments, "e1") || ts.exists(store.Authenticators, "old") || !ts.exists(store.Authenticators, "a1") {
		t.Fatal("the enrollment's effects did not all apply")
	}
	// The same command again (another node accepted the token too) fails.
	err = ts.apply(consume, now.Add(2*time.Minute))
	if !errors.Is(err, command.ErrEnrollmentUsed) || !command.IsEnrollmentUsed(err) {
		t.Fatalf("second use: %v", err)
	}
}

func TestConsumeEnrollmentRefusals(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	setup := func(t *testing.T) (*testStore, *store.Enrollment) {
		ts := openStore(t)
		ts.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "i1"}, Name: "alice", Type: "Device"}, now)
		ts.create(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "taken"}, IdentityID: "i1", Method: store.AuthenticatorCert, Fingerprint: "taken-fp"}, now)
		e := &store.Enrollment{Meta: store.Meta{ID: "e1"}, Method: store.EnrollmentOTT, IdentityID: "i1", TokenHash: "h1", ExpiresAt: now.Add(time.Hour)}
		ts.create(store.Enrollments, e, now)
		return ts, e
	}
	authWith := func(t *testing.T, fp string) command.Command {
		c, err := command.NewCreate(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "a-" + fp}, IdentityID: "i1", Method: store.AuthenticatorCert, Fingerprint: fp})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("expired at the command's time", func(t *testing.T) {
		ts, e := setup(t)
		c, _ := command.NewConsumeEnrollment(e, now, authWith(t, "f1"))
		err := ts.apply(c, now.Add(time.Hour+time.Second))
		if !errors.Is(err, command.ErrEnrollmentExpired) || !command.IsEnrollmentExpired(err) || command.IsEnrollmentUsed(err) {
			t.Fatalf("err %v", err)
		}
		if !ts.exists(store.Enrollments, "e1") || ts.exists(store.Authenticators, "a-f1") {
			t.Fatal("an expired enrollment changed the store")
		}
	})
	t.Run("token re-issued", func(t *testing.T) {
		ts, e := setup(t)
		stale := *e
		stale.TokenHash = "old-hash"
		c, _ := command.NewConsumeEnrollment(&stale, now, authWith(t, "f1"))
		if err := ts.apply(c, now); !command.IsEnrollmentUsed(err) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("other method", func(t *testing.T) {
		ts, e := setup(t)
		wrong := *e
		wrong.Method = store.EnrollmentUpdb
		c, _ := command.NewConsumeEnrollment(&wrong, now)
		if err := ts.apply(c, now); !command.IsEnrollmentUsed(err) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a failing effect undoes everything", func(t *testing.T) {
		ts, e := setup(t)
		c, _ := command.NewConsumeEnrollment(e, now, authWith(t, "taken-fp"))
		if err := ts.apply(c, now); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("err %v", err)
		}
		if !ts.exists(store.Enrollments, "e1") {
			t.Fatal("the enrollment was consumed by a failed command")
		}
	})
	t.Run("nested consume", func(t *testing.T) {
		_, e := setup(t)
		inner, _ := command.NewConsumeEnrollment(e, now)
		if _, err := command.NewConsumeEnrollment(e, now, inner); err == nil {
			t.Fatal("a nested consume was built")
		}
	})
}

// TestEnrollmentErrorsAfterForwarding checks the helpers on errors as the
// cluster rebuilds them after forwarding (message and store class only).
func TestEnrollmentErrorsAfterForwarding(t *testing.T) {
	used := fmt.Errorf("%s: %w", command.ErrEnrollmentUsed.Error(), store.ErrNotFound)
	expired := fmt.Errorf("%s: %w", command.ErrEnrollmentExpired.Error(), store.ErrInvalid)
	if !command.IsEnrollmentUsed(used) || command.IsEnrollmentExpired(used) {
		t.Errorf("used: %v", used)
	}
	if !command.IsEnrollmentExpired(expired) || command.IsEnrollmentUsed(expired) {
		t.Errorf("expired: %v", expired)
	}
	if command.IsEnrollmentUsed(store.ErrNotFound) || command.IsEnrollmentExpired(store.ErrInvalid) {
		t.Error("plain store errors taken for enrollment errors")
	}
}
