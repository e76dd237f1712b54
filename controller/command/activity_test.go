package command_test

import (
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

func TestTouchAPISessionsKeepsTheLatestUse(t *testing.T) {
	ts := openStore(t)
	at := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	ts.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "ident"}, Name: "ident", Type: store.IdentityTypeUser}, at)
	ts.create(store.APISessions, &store.APISession{Meta: store.Meta{ID: "as1"}, IdentityID: "ident", TokenHash: "h1"}, at)
	lastUse := func() (time.Time, bool) {
		t.Helper()
		var rec *store.APISessionActivity
		_ = ts.s.View(func(tx *store.Tx) error {
			rec, _ = store.Get[*store.APISessionActivity](tx, store.APISessionActivities, "as1")
			return nil
		})
		if rec == nil {
			return time.Time{}, false
		}
		return rec.LastActivityAt, true
	}

	used := at.Add(time.Minute)
	if err := ts.apply(&command.TouchAPISessions{Uses: map[string]time.Time{"as1": used, "gone": used}}, at); err != nil {
		t.Fatal(err)
	}
	if got, ok := lastUse(); !ok || !got.Equal(used) {
		t.Fatalf("last use %v %v, want %v", got, ok, used)
	}
	if ts.exists(store.APISessionActivities, "gone") {
		t.Fatal("a use of an API session that does not exist was recorded")
	}
	// A node reporting an older use does not move the time back.
	if err := ts.apply(&command.TouchAPISessions{Uses: map[string]time.Time{"as1": at}}, at); err != nil {
		t.Fatal(err)
	}
	if got, _ := lastUse(); !got.Equal(used) {
		t.Fatalf("an older use moved the time back to %v", got)
	}
	later := used.Add(time.Minute)
	if err := ts.apply(&command.TouchAPISessions{Uses: map[string]time.Time{"as1": later}, RouterUses: map[string]time.Time{"as1": later}}, at); err != nil {
		t.Fatal(err)
	}
	if got, _ := lastUse(); !got.Equal(later) {
		t.Fatalf("last use %v, want %v", got, later)
	}
	_ = ts.s.View(func(tx *store.Tx) error {
		rec, err := store.Get[*store.APISessionActivity](tx, store.APISessionActivities, "as1")
		if err != nil || !rec.LastRouterReportAt.Equal(later) {
			t.Errorf("router report %v (%v), want %v", rec, err, later)
		}
		return nil
	})
	// The record goes with its API session.
	if err := ts.apply(&command.DeleteEntity{Kind: store.APISessions.Name, ID: "as1"}, at); err != nil {
		t.Fatal(err)
	}
	if ts.exists(store.APISessionActivities, "as1") {
		t.Fatal("the activity record outlived its API session")
	}
}

func TestTouchAPITokensKeepsTheLatestUse(t *testing.T) {
	ts := openStore(t)
	at := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	ts.create(store.APITokens, &store.APIToken{Meta: store.Meta{ID: "tok"}, Name: "ci", Role: store.APITokenAdmin, SecretHash: "h", ExpiresAt: at.Add(time.Hour)}, at)
	lastUse := func() time.Time {
		t.Helper()
		var rec *store.APIToken
		_ = ts.s.View(func(tx *store.Tx) error {
			rec, _ = store.Get[*store.APIToken](tx, store.APITokens, "tok")
			return nil
		})
		if rec == nil {
			t.Fatal("the token is gone")
		}
		return rec.LastUsedAt
	}
	used := at.Add(time.Minute)
	if err := ts.apply(&command.TouchAPITokens{Uses: map[string]time.Time{"tok": used, "revoked": used}}, at); err != nil {
		t.Fatal(err)
	}
	if got := lastUse(); !got.Equal(used) {
		t.Fatalf("last use %v, want %v", got, used)
	}
	if ts.exists(store.APITokens, "revoked") {
		t.Fatal("a use of a revoked token made a record")
	}
	if err := ts.apply(&command.TouchAPITokens{Uses: map[string]time.Time{"tok": at}}, at); err != nil {
		t.Fatal(err)
	}
	if got := lastUse(); !got.Equal(used) {
		t.Fatalf("an older use moved the time back to %v", got)
	}
}
