package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/domain"
	"github.com/ostium-net/ostium/controller/store"
)

// TestAuthenticateManyOpensEachAtItsTimeAndSkipsTheRefused: one entry
// carries several sign-ins; each session is stamped with the time it was
// answered, a sign-in the state refuses (locked out from its address)
// opens nothing and the others still open theirs.
func TestAuthenticateManyOpensEachAtItsTimeAndSkipsTheRefused(t *testing.T) {
	f := network(t)
	f.create(store.AuthLocks, &store.AuthLock{Meta: store.Meta{ID: "lock"}, IdentityID: "alice", Source: "10.9.9.9", Failures: 5,
		LockedUntil: f.now.Add(time.Hour)})
	locked := login("as-locked")
	locked.Source = "10.9.9.9"
	first, second := f.now.Add(-3*time.Millisecond), f.now.Add(-time.Millisecond)
	opened := f.must(&domain.AuthenticateMany{Logins: []domain.TimedLogin{
		{At: first, Login: login("as-1")}, {At: first, Login: locked}, {At: second, Login: login("as-2")}}}).([]any)
	if len(opened) != 2 {
		t.Fatalf("opened %d sessions, want 2: %v", len(opened), opened)
	}
	if f.exists(store.APISessions, "as-locked") || f.exists(store.AuthEvents, "ev-as-locked") {
		t.Fatal("the refused sign-in left a session or an event")
	}
	_ = f.s.View(func(tx *store.Tx) error {
		for id, at := range map[string]time.Time{"as-1": first, "as-2": second} {
			as, err := store.Get[*store.APISession](tx, store.APISessions, id)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			if !as.CreatedAt.Equal(at) || !as.UpdatedAt.Equal(at) {
				t.Errorf("%s stamped %v/%v, want the time it was answered, %v", id, as.CreatedAt, as.UpdatedAt, at)
			}
			if !tx.Exists(store.AuthEvents, "ev-"+id) {
				t.Errorf("no auth event for %s", id)
			}
		}
		return nil
	})
}

// TestAuthenticateManyUndoesTheEntryOnAnythingButARefusal: a sign-in that
// fails for another reason (its session id taken) fails the whole entry, so
// no half-applied sign-in remains.
func TestAuthenticateManyUndoesTheEntryOnAnythingButARefusal(t *testing.T) {
	f := network(t)
	taken := login("as-alice") // the fixture's own session id
	_, err := f.apply(&domain.AuthenticateMany{Logins: []domain.TimedLogin{{At: f.now, Login: login("as-1")}, {At: f.now, Login: taken}}})
	if err == nil || errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("an entry with a taken session id: %v", err)
	}
	if f.exists(store.APISessions, "as-1") || f.exists(store.AuthEvents, "ev-as-1") {
		t.Fatal("the failed entry left the other sign-in's session")
	}
	for _, bad := range []*domain.AuthenticateMany{{}, {Logins: []domain.TimedLogin{{At: f.now}}}, {Logins: []domain.TimedLogin{{Login: login("as-2")}}}} {
		if _, err := f.apply(bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%+v: %v, want invalid", bad, err)
		}
	}
}
