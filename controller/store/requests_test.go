package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

var epoch = time.Unix(1700000000, 0).UTC()

// reqEntry creates service id (named name) under request reqID.
func reqEntry(idx uint64, at time.Time, reqID, id, name string) store.Entry {
	return store.Entry{Index: idx, Time: at,
		Request: &store.Request{ID: reqID, Keep: time.Minute, Outcome: func(v any, err error) []byte {
			if err != nil {
				return []byte("err:" + err.Error())
			}
			return []byte("ok:" + v.(string))
		}},
		Apply: func(tx *store.Tx) (any, error) {
			if err := tx.Create(store.Services, &store.Service{Meta: store.Meta{ID: id}, Name: name}); err != nil {
				return nil, err
			}
			return id, nil
		}}
}

func TestRepeatedRequestIsAppliedOnceAndAnsweredWithTheFirstOutcome(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ctrl.db"))
	first := s.Apply(reqEntry(4, epoch, "req-1", "svc1", "one"))
	if first.Err != nil || first.Value != "svc1" {
		t.Fatalf("first application: %+v", first)
	}
	// The same request again, in a batch with a fresh one: the repeat
	// changes nothing and reports the first outcome; the other applies.
	res := s.ApplyBatch([]store.Entry{reqEntry(5, epoch.Add(time.Second), "req-1", "svc1", "one"), reqEntry(6, epoch, "req-2", "svc2", "two")})
	rem, ok := res[0].Value.(store.Remembered)
	if res[0].Err != nil || !ok || rem.Index != 4 || string(rem.Outcome) != "ok:svc1" {
		t.Fatalf("repeat: %+v", res[0])
	}
	if res[1].Err != nil || res[1].Value != "svc2" {
		t.Fatalf("fresh request beside the repeat: %+v", res[1])
	}
	// A request that failed is remembered with its failure, and a repeat in
	// the same batch as a failing entry still gets it.
	fail := s.Apply(reqEntry(7, epoch, "req-3", "svc3", "one"))
	if !errors.Is(fail.Err, store.ErrConflict) {
		t.Fatalf("duplicate name: %+v", fail)
	}
	res = s.ApplyBatch([]store.Entry{reqEntry(8, epoch, "req-3", "svc3", "three"), reqEntry(9, epoch, "req-4", "svc4", "two")})
	rem, ok = res[0].Value.(store.Remembered)
	if !ok || rem.Index != 7 || string(rem.Outcome[:4]) != "err:" {
		t.Fatalf("repeat of a failed request: %+v", res[0])
	}
	if !errors.Is(res[1].Err, store.ErrConflict) {
		t.Fatalf("failing neighbour: %+v", res[1])
	}
	err := s.View(func(tx *store.Tx) error {
		if tx.Exists(store.Services, "svc3") {
			t.Error("the repeat of a failed request was applied")
		}
		if tx.AppliedIndex() != 9 {
			t.Errorf("applied index %d, want 9", tx.AppliedIndex())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRememberedRequestsArePrunedOnTheRequestClock(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ctrl.db"))
	idx := uint64(1)
	for i := range 3 * 512 {
		if r := s.Apply(reqEntry(idx, epoch, fmt.Sprintf("req-%d", i), fmt.Sprintf("s%d", i), fmt.Sprintf("n%d", i))); r.Err != nil {
			t.Fatal(r.Err)
		}
		idx++
	}
	count := func() int {
		n := 0
		_ = s.View(func(tx *store.Tx) error { n = tx.RememberedRequests(); return nil })
		return n
	}
	if got := count(); got != 3*512 {
		t.Fatalf("remembered %d requests, want %d", got, 3*512)
	}
	// An entry stamped by a slow clock does not move the request clock back:
	// nothing expires yet.
	if r := s.Apply(store.Entry{Index: idx, Time: epoch.Add(-time.Hour), Apply: func(*store.Tx) (any, error) { return nil, nil }}); r.Err != nil {
		t.Fatal(r.Err)
	}
	idx++
	if got := count(); got != 3*512 {
		t.Fatalf("remembered %d after an old stamp, want all", got)
	}
	// Past the keep time, each write prunes a bounded batch.
	later := epoch.Add(2 * time.Minute)
	for count() > 0 {
		if r := s.Apply(store.Entry{Index: idx, Time: later, Apply: func(*store.Tx) (any, error) { return nil, nil }}); r.Err != nil {
			t.Fatal(r.Err)
		}
		idx++
		if idx > 3*512+10 {
			t.Fatalf("still %d remembered after %d pruning writes", count(), idx-3*512)
		}
	}
	// An expired request is applied again as new.
	if r := s.Apply(reqEntry(idx, later, "req-0", "again", "again")); r.Err != nil || r.Value != "again" {
		t.Fatalf("expired request id: %+v", r)
	}
}

// TestPruningIsPacedOnTheRequestClock checks that expired requests are
// pruned once per prune interval (100 ms of request clock), not at every
// write, and never later than an interval after they expire.
func TestPruningIsPacedOnTheRequestClock(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ctrl.db"))
	idx := uint64(1)
	apply := func(e store.Entry) {
		t.Helper()
		e.Index = idx
		idx++
		if r := s.Apply(e); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	empty := func(at time.Duration) store.Entry {
		return store.Entry{Time: epoch.Add(at), Apply: func(*store.Tx) (any, error) { return nil, nil }}
	}
	remembered := func() int {
		n := 0
		_ = s.View(func(tx *store.Tx) error { n = tx.RememberedRequests(); return nil })
		return n
	}
	apply(reqEntry(0, epoch, "req-a", "a", "a"))                          // prunes (none due); next at +100 ms
	apply(reqEntry(0, epoch.Add(60*time.Millisecond), "req-b", "b", "b")) // no prune
	// At 60.01 s the first is expired and the next prune is due.
	apply(empty(time.Minute + 10*time.Millisecond))
	if got := remembered(); got != 1 {
		t.Fatalf("after the first prune past expiry: %d remembered, want 1", got)
	}
	// The second expires at 60.06 s, but the next prune is at 60.11 s.
	apply(empty(time.Minute + 80*time.Millisecond))
	if got := remembered(); got != 1 {
		t.Fatalf("a write between prunes pruned: %d remembered, want 1", got)
	}
	apply(empty(time.Minute + 110*time.Millisecond))
	if got := remembered(); got != 0 {
		t.Fatalf("a prune an interval later left %d remembered", got)
	}
}

// ordered makes e's request an ordered one.
func ordered(e store.Entry) store.Entry {
	r := *e.Request
	r.Ordered = true
	e.Request = &r
	return e
}

// TestOrderedRequestsAreRememberedAndPrunedInOrder checks the memory of
// ordered requests: a repeat is answered with the first outcome, also for
// one remembered before ordered requests were kept apart; pruning walks them
// from the oldest id and stops at the first not expired, so one that sorts
// after it and expired first is kept until it goes too, never dropped early.
func TestOrderedRequestsAreRememberedAndPrunedInOrder(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ctrl.db"))
	idx := uint64(1)
	apply := func(e store.Entry) store.Result {
		t.Helper()
		e.Index = idx
		idx++
		return s.Apply(e)
	}
	remembered := func() int {
		n := 0
		_ = s.View(func(tx *store.Tx) error { n = tx.RememberedRequests(); return nil })
		return n
	}
	repeatOf := func(r store.Result) uint64 {
		rem, ok := r.Value.(store.Remembered)
		if !ok {
			return 0
		}
		return rem.Index
	}
	// Remembered as an unordered request, repeated as an ordered one.
	if r := apply(reqEntry(0, epoch, "n:old", "old", "old")); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := apply(ordered(reqEntry(0, epoch, "n:old", "old", "old"))); repeatOf(r) != 1 {
		t.Fatalf("an ordered repeat of a request remembered before: %+v", r)
	}
	// "n:2" sorts after "n:1" but is remembered first, so expires first.
	for _, e := range []store.Entry{
		reqEntry(0, epoch.Add(50*time.Millisecond), "n:2", "s2", "two"),
		reqEntry(0, epoch.Add(60*time.Millisecond), "n:1", "s1", "one"),
	} {
		if r := apply(ordered(e)); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if r := apply(ordered(reqEntry(0, epoch.Add(70*time.Millisecond), "n:1", "s1", "one"))); repeatOf(r) != 4 {
		t.Fatalf("a repeat of an ordered request: %+v", r)
	}
	if got := remembered(); got != 3 {
		t.Fatalf("remembered %d, want 3", got)
	}
	empty := func(at time.Duration) {
		t.Helper()
		if r := apply(store.Entry{Time: epoch.Add(at), Apply: func(*store.Tx) (any, error) { return nil, nil }}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	// At 60.055 s "n:old" (the general bucket) and "n:2" have expired, but
	// "n:1", which sorts first, has not: "n:2" waits for it.
	empty(time.Minute + 55*time.Millisecond)
	if got := remembered(); got != 2 {
		t.Fatalf("after the first prune: %d remembered, want 2 (n:1 and n:2)", got)
	}
	empty(time.Minute + 200*time.Millisecond)
	if got := remembered(); got != 0 {
		t.Fatalf("after every keep time: %d remembered", got)
	}
	// An expired ordered request is applied again as new.
	if r := apply(ordered(reqEntry(0, epoch.Add(time.Minute+300*time.Millisecond), "n:1", "again", "again"))); r.Err != nil || r.Value != "again" {
		t.Fatalf("an expired ordered request: %+v", r)
	}
}
