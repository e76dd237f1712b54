package domain_test

import (
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/domain"
	"github.com/ostium-net/ostium/controller/store"
)

// TestCreateSessionsCreatesEachAtItsTimeAndSkipsTheRefused: one entry
// carries several sessions; each is stamped with the time it was answered,
// one the state refuses (no Bind grant, an ended API session) creates
// nothing and the others are still created, and one already stored is
// returned, not made again.
func TestCreateSessionsCreatesEachAtItsTimeAndSkipsTheRefused(t *testing.T) {
	f := network(t)
	bind := dial("b1")
	bind.Permission = store.PolicyBind
	ended := dial("e1")
	ended.APISessionID = "as-gone"
	first, second := f.now.Add(-3*time.Millisecond), f.now.Add(-time.Millisecond)
	out := f.must(&domain.CreateSessions{Sessions: []domain.TimedSession{
		{At: first, Session: dial("s1")}, {At: first, Session: bind}, {At: second, Session: ended}, {At: second, Session: dial("s2")}}}).([]any)
	if len(out) != 2 || out[0].(*store.Session).ID != "s1" || out[1].(*store.Session).ID != "s1" {
		t.Fatalf("created %v, want s1 then s1 again (the same key)", out)
	}
	if f.exists(store.Sessions, "b1") || f.exists(store.Sessions, "e1") || f.exists(store.Sessions, "s2") {
		t.Fatal("a refused or repeated session was stored")
	}
	_ = f.s.View(func(tx *store.Tx) error {
		s, err := store.Get[*store.Session](tx, store.Sessions, "s1")
		if err != nil {
			t.Fatal(err)
		}
		if !s.CreatedAt.Equal(first) || s.IdentityID != "alice" {
			t.Errorf("s1 stamped %v for %s, want %v for alice", s.CreatedAt, s.IdentityID, first)
		}
		return nil
	})
	if _, err := f.apply(&domain.CreateSessions{}); err == nil {
		t.Fatal("an entry without sessions was applied")
	}
	if _, err := f.apply(&domain.CreateSessions{Sessions: []domain.TimedSession{{At: f.now}}}); err == nil {
		t.Fatal("an entry with an empty session was applied")
	}
}
