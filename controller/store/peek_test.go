package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ostium-net/ostium/controller/store"
)

func peekIdentity(t *testing.T, s *store.Store, id string) (*store.Identity, error) {
	t.Helper()
	var out *store.Identity
	err := s.View(func(tx *store.Tx) error {
		var err error
		out, err = store.Peek[*store.Identity](tx, store.Identities, id)
		return err
	})
	return out, err
}

// storeWithAlice opens a new store holding identity id1, alice, with one
// role attribute, created at index 1.
func storeWithAlice(t *testing.T) *store.Store {
	t.Helper()
	s := open(t, filepath.Join(t.TempDir(), "ctrl.db"))
	if err := apply(t, s, 1, func(tx *store.Tx) error {
		return tx.Create(store.Identities, &store.Identity{Meta: store.Meta{ID: "id1"}, Name: "alice", Type: "User", RoleAttributes: []string{"eng"}})
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// A peeked record is decoded once and shared while its stored bytes stay
// the same; a change to the record is seen at once, with no invalidation.
func TestPeekSharesUntilTheRecordChanges(t *testing.T) {
	s := storeWithAlice(t)
	first, err := peekIdentity(t, s, "id1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := peekIdentity(t, s, "id1")
	if err != nil {
		t.Fatal(err)
	}
	if first != again {
		t.Error("a second peek of an unchanged record decoded it again")
	}
	if first.Name != "alice" || first.CreateIndex != 1 || len(first.RoleAttributes) != 1 {
		t.Errorf("peeked %+v", first)
	}
	if err := apply(t, s, 2, func(tx *store.Tx) error {
		_, err := tx.Update(store.Identities, &store.Identity{Meta: store.Meta{ID: "id1"}, Name: "bob", Type: "User"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	changed, err := peekIdentity(t, s, "id1")
	if err != nil {
		t.Fatal(err)
	}
	if changed == first || changed.Name != "bob" || changed.ModifyIndex != 2 || len(changed.RoleAttributes) != 0 {
		t.Errorf("after an update, peeked %+v (same pointer: %v)", changed, changed == first)
	}
	if first.Name != "alice" {
		t.Error("the update changed the record an earlier reader holds")
	}
	if err := apply(t, s, 3, func(tx *store.Tx) error { return tx.Delete(store.Identities, "id1") }); err != nil {
		t.Fatal(err)
	}
	if _, err := peekIdentity(t, s, "id1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("peek of a deleted record: %v", err)
	}
	// Get still hands out a copy of the caller's own.
	if err := apply(t, s, 4, func(tx *store.Tx) error {
		return tx.Create(store.Identities, &store.Identity{Meta: store.Meta{ID: "id2"}, Name: "carol", Type: "User"})
	}); err != nil {
		t.Fatal(err)
	}
	shared, _ := peekIdentity(t, s, "id2")
	_ = s.View(func(tx *store.Tx) error {
		own, err := store.Get[*store.Identity](tx, store.Identities, "id2")
		if err != nil || own == shared {
			t.Errorf("Get returned the shared record (err %v)", err)
		}
		return nil
	})
	// Asking for the wrong type is an error, not a panic.
	_ = s.View(func(tx *store.Tx) error {
		if _, err := store.Peek[*store.Service](tx, store.Identities, "id2"); err == nil {
			t.Error("peek as the wrong type succeeded")
		}
		return nil
	})
}

// ForEachPeek walks every record, sharing them as Peek does.
func TestForEachPeek(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ctrl.db"))
	for i := range 5 {
		if err := apply(t, s, uint64(i+1), func(tx *store.Tx) error {
			return tx.Create(store.Identities, &store.Identity{Meta: store.Meta{ID: fmt.Sprintf("id%d", i)}, Name: fmt.Sprintf("n%d", i), Type: "User"})
		}); err != nil {
			t.Fatal(err)
		}
	}
	walk := func() []*store.Identity {
		var out []*store.Identity
		_ = s.View(func(tx *store.Tx) error {
			return tx.ForEachPeek(store.Identities, func(r store.Record) error {
				out = append(out, r.(*store.Identity))
				return nil
			})
		})
		return out
	}
	a, b := walk(), walk()
	if len(a) != 5 || len(b) != 5 {
		t.Fatalf("walked %d and %d records", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] || a[i].Name != fmt.Sprintf("n%d", i) {
			t.Errorf("record %d: %+v, shared %v", i, a[i], a[i] == b[i])
		}
	}
}

// A reader that changes a shared record is caught while tests run, naming
// the record, so that no such reader survives the test suite.
func TestPeekCatchesAChangedRecord(t *testing.T) {
	s := storeWithAlice(t)
	shared, err := peekIdentity(t, s, "id1")
	if err != nil {
		t.Fatal(err)
	}
	shared.RoleAttributes[0] = "ops" // what a reader must not do
	defer func() {
		msg := fmt.Sprint(recover())
		if !strings.Contains(msg, `identities "id1"`) || !strings.Contains(msg, "changed") {
			t.Errorf("peek of a changed record: recovered %q", msg)
		}
	}()
	_, _ = peekIdentity(t, s, "id1")
	t.Error("peek of a changed record did not panic")
}

// The cache is bounded: peeking many more records than it holds keeps
// answering correctly.
func TestPeekManyRecords(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ctrl.db"))
	const n = 40000
	if err := apply(t, s, 1, func(tx *store.Tx) error {
		for i := range n {
			if err := tx.Create(store.Identities, &store.Identity{Meta: store.Meta{ID: fmt.Sprintf("id%05d", i)}, Name: fmt.Sprintf("n%05d", i), Type: "User"}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		err := s.View(func(tx *store.Tx) error {
			for i := range n {
				id := fmt.Sprintf("id%05d", i)
				rec, err := store.Peek[*store.Identity](tx, store.Identities, id)
				if err != nil {
					return err
				}
				if rec.Name != fmt.Sprintf("n%05d", i) {
					return fmt.Errorf("%s: name %q", id, rec.Name)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

// A read transaction opens a bucket once: further reads of the same kind
// in it allocate only the bucket's name, however many there are.
func TestReadTransactionOpensEachBucketOnce(t *testing.T) {
	s := storeWithAlice(t)
	err := s.View(func(tx *store.Tx) error {
		if !tx.Exists(store.Identities, "id1") {
			t.Fatal("alice is missing")
		}
		if allocs := testing.AllocsPerRun(100, func() { tx.Exists(store.Identities, "id1") }); allocs > 1 {
			t.Errorf("%v allocations per lookup in an open read transaction, want at most 1 (the name)", allocs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
