package store_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

func open(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func apply(t *testing.T, s *store.Store, idx uint64, fn func(tx *store.Tx) error) error {
	t.Helper()
	r := s.Apply(store.Entry{Index: idx, Time: time.Unix(1700000000, 0).UTC(), Apply: func(tx *store.Tx) (any, error) { return nil, fn(tx) }})
	return r.Err
}

func TestRecordsSurviveReopenWithStamps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctrl.db")
	s := open(t, path)
	if err := apply(t, s, 5, func(tx *store.Tx) error {
		return tx.Create(store.Identities, &store.Identity{Meta: store.Meta{ID: "id1"}, Name: "alice", Type: "User", RoleAttributes: []string{"eng"}})
	}); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, s, 7, func(tx *store.Tx) error {
		_, err := tx.Update(store.Identities, &store.Identity{Meta: store.Meta{ID: "id1"}, Name: "alice2", Type: "User"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	err := s.View(func(tx *store.Tx) error {
		id, err := store.Get[*store.Identity](tx, store.Identities, "id1")
		if err != nil {
			return err
		}
		if id.Name != "alice2" || id.CreateIndex != 5 || id.ModifyIndex != 7 || id.CreatedAt.IsZero() {
			t.Errorf("unexpected record after reopen: %+v", id)
		}
		if got, ok := tx.Lookup(store.Identities, "name", "alice2"); !ok || got != "id1" {
			t.Errorf("name index: %q %v", got, ok)
		}
		if _, ok := tx.Lookup(store.Identities, "name", "alice"); ok {
			t.Error("old name still indexed")
		}
		if ids := tx.IDsWithAttribute(store.Identities, "eng"); len(ids) != 0 {
			t.Errorf("removed attribute still indexed: %v", ids)
		}
		if tx.AppliedIndex() != 7 {
			t.Errorf("applied index %d, want 7", tx.AppliedIndex())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReplayedIndexIsSkipped(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ctrl.db"))
	bump := func(tx *store.Tx) error { _, err := tx.NextCounter("c"); return err }
	if err := apply(t, s, 3, bump); err != nil {
		t.Fatal(err)
	}
	for _, idx := range []uint64{1, 3} {
		if err := apply(t, s, idx, bump); !errors.Is(err, store.ErrAlreadyApplied) {
			t.Fatalf("index %d: got %v, want ErrAlreadyApplied", idx, err)
		}
	}
	if err := apply(t, s, 4, bump); err != nil {
		t.Fatal(err)
	}
	var n uint64
	_ = apply(t, s, 5, func(tx *store.Tx) error { var err error; n, err = tx.NextCounter("c"); return err })
	if n != 3 {
		t.Fatalf("counter %d: a replayed entry was applied twice", n)
	}
}

func TestUniqueForeignKeysAndCascade(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ctrl.db"))
	mustOK := func(idx uint64, fn func(tx *store.Tx) error) {
		t.Helper()
		if err := apply(t, s, idx, fn); err != nil {
			t.Fatalf("index %d: %v", idx, err)
		}
	}
	mustOK(1, func(tx *store.Tx) error {
		return tx.Create(store.Identities, &store.Identity{Meta: store.Meta{ID: "i1"}, Name: "a", Type: "User"})
	})
	err := apply(t, s, 2, func(tx *store.Tx) error {
		return tx.Create(store.Identities, &store.Identity{Meta: store.Meta{ID: "i2"}, Name: "a", Type: "User"})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate name: got %v", err)
	}
	err = apply(t, s, 3, func(tx *store.Tx) error {
		return tx.Create(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "a1"}, IdentityID: "nope", Method: "updb", Username: "u"})
	})
	if !errors.Is(err, store.ErrInvalidReference) {
		t.Fatalf("dangling foreign key: got %v", err)
	}
	mustOK(4, func(tx *store.Tx) error {
		return tx.Create(store.Authenticators, &store.Authenticator{Meta: store.Meta{ID: "a1"}, IdentityID: "i1", Method: "updb", Username: "u"})
	})
	mustOK(5, func(tx *store.Tx) error {
		return tx.Create(store.ConfigTypes, &store.ConfigType{Meta: store.Meta{ID: "ct"}, Name: "x.v1"})
	})
	mustOK(6, func(tx *store.Tx) error {
		return tx.Create(store.Configs, &store.Config{Meta: store.Meta{ID: "c1"}, Name: "c", ConfigTypeID: "ct"})
	})
	err = apply(t, s, 7, func(tx *store.Tx) error { return tx.Delete(store.ConfigTypes, "ct") })
	if !errors.Is(err, store.ErrInvalidReference) {
		t.Fatalf("restricted delete: got %v", err)
	}
	mustOK(8, func(tx *store.Tx) error { return tx.Delete(store.Identities, "i1") })
	_ = s.View(func(tx *store.Tx) error {
		if tx.Exists(store.Authenticators, "a1") {
			t.Error("authenticator not cascaded")
		}
		if _, ok := tx.Lookup(store.Authenticators, "username", "u"); ok {
			t.Error("cascaded record left its unique index behind")
		}
		if !tx.Exists(store.ConfigTypes, "ct") {
			t.Error("refused delete removed the record")
		}
		return nil
	})
}

func TestBatchIsolatesFailedEntry(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ctrl.db"))
	mk := func(idx uint64, id, name string) store.Entry {
		return store.Entry{Index: idx, Apply: func(tx *store.Tx) (any, error) {
			return nil, tx.Create(store.Services, &store.Service{Meta: store.Meta{ID: id}, Name: name})
		}}
	}
	res := s.ApplyBatch([]store.Entry{mk(1, "s1", "one"), mk(2, "s2", "one"), mk(3, "s3", "three")})
	if res[0].Err != nil || !errors.Is(res[1].Err, store.ErrConflict) || res[2].Err != nil {
		t.Fatalf("results: %+v", res)
	}
	_ = s.View(func(tx *store.Tx) error {
		if tx.Count(store.Services) != 2 || tx.Exists(store.Services, "s2") {
			t.Errorf("batch left %d services", tx.Count(store.Services))
		}
		if !tx.Any(store.Services) || tx.Any(store.PostureChecks) {
			t.Errorf("Any: services %v (want true), posture checks %v (want false)", tx.Any(store.Services), tx.Any(store.PostureChecks))
		}
		if tx.AppliedIndex() != 3 {
			t.Errorf("applied index %d", tx.AppliedIndex())
		}
		return nil
	})
}

func TestSnapshotRestoreSwapsInPlace(t *testing.T) {
	dir := t.TempDir()
	a := open(t, filepath.Join(dir, "a.db"))
	b := open(t, filepath.Join(dir, "b.db"))
	if err := apply(t, a, 9, func(tx *store.Tx) error {
		return tx.Create(store.Services, &store.Service{Meta: store.Meta{ID: "s1"}, Name: "svc"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, b, 1, func(tx *store.Tx) error {
		return tx.Create(store.Services, &store.Service{Meta: store.Meta{ID: "other"}, Name: "other"})
	}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := a.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	_ = b.View(func(tx *store.Tx) error {
		if !tx.Exists(store.Services, "s1") || tx.Exists(store.Services, "other") || tx.AppliedIndex() != 9 {
			t.Errorf("restore did not replace state: applied=%d", tx.AppliedIndex())
		}
		return nil
	})
	if err := b.Restore(bytes.NewReader([]byte("not a database"))); err == nil {
		t.Fatal("garbage snapshot accepted")
	}
	_ = b.View(func(tx *store.Tx) error {
		if !tx.Exists(store.Services, "s1") {
			t.Error("failed restore damaged the live database")
		}
		return nil
	})
}

// TestSettleRunsOncePerEntryAndCanRollBack: a settle hook sees what the
// entry noted, once, after the whole entry; its writes commit with the
// entry and its error rolls the entry back.
func TestSettleRunsOncePerEntryAndCanRollBack(t *testing.T) {
	var seen [][]string
	refuse := false
	settle := func(tx *store.Tx) error {
		noted := tx.Noted("names")
		seen = append(seen, noted)
		if refuse {
			return errors.New("refused by settle")
		}
		for _, n := range noted {
			if err := tx.Create(store.Services, &store.Service{Meta: store.Meta{ID: "svc-" + n}, Name: "svc-" + n}); err != nil {
				return err
			}
		}
		return nil
	}
	s, err := store.Open(filepath.Join(t.TempDir(), "ctrl.db"), store.Options{Settle: []store.SettleHook{settle}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := apply(t, s, 1, func(tx *store.Tx) error {
		for _, n := range []string{"b", "a", "b"} {
			tx.Note("names", n)
		}
		return tx.Create(store.Identities, &store.Identity{Meta: store.Meta{ID: "i1"}, Name: "i1", Type: "User"})
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || len(seen[0]) != 2 || seen[0][0] != "a" || seen[0][1] != "b" {
		t.Fatalf("settle saw %v, want one call with [a b]", seen)
	}
	refuse = true
	if err := apply(t, s, 2, func(tx *store.Tx) error {
		return tx.Create(store.Identities, &store.Identity{Meta: store.Meta{ID: "i2"}, Name: "i2", Type: "User"})
	}); err == nil {
		t.Fatal("an entry whose settle failed was applied")
	}
	_ = s.View(func(tx *store.Tx) error {
		if !tx.Exists(store.Services, "svc-a") || !tx.Exists(store.Services, "svc-b") {
			t.Error("settle's writes did not commit with the entry")
		}
		if tx.Exists(store.Identities, "i2") {
			t.Error("the refused entry left its record")
		}
		return nil
	})
}

// TestOpenInUseSaysSo: a database another holder has open is refused with
// ErrInUse and a message naming the likely cause, not bbolt's bare timeout.
func TestOpenInUseSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctrl.db")
	open(t, path)
	_, err := store.Open(path, store.Options{})
	if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "another process holds it") {
		t.Fatalf("second open: %v", err)
	}
}
