package command_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

func TestRecordAuthFailureLocksDoublesAndResets(t *testing.T) {
	ts := openStore(t)
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	ts.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "ident"}, Name: "ident", Type: store.IdentityTypeUser}, t0)

	n := 0
	fail := func(source string, at time.Time) {
		t.Helper()
		n++
		c := &command.RecordAuthFailure{EventID: fmt.Sprintf("ev-%d", n), EventType: store.AuthEventPasswordFailure, IdentityID: "ident",
			Source: source, Reason: "wrong password", Counted: true, LockID: fmt.Sprintf("lock-%d", n), LockEventID: fmt.Sprintf("locked-%d", n),
			Threshold: 3, BaseLock: time.Minute, MaxLock: 4 * time.Minute}
		if err := ts.apply(c, at); err != nil {
			t.Fatalf("failure %d: %v", n, err)
		}
	}
	lockOf := func(source string) *store.AuthLock {
		t.Helper()
		var l *store.AuthLock
		_ = ts.s.View(func(tx *store.Tx) error {
			if id, ok := tx.Lookup(store.AuthLocks, "identitySource", store.AuthLockKey("ident", source)); ok {
				l, _ = store.Get[*store.AuthLock](tx, store.AuthLocks, id)
			}
			return nil
		})
		if l == nil {
			t.Fatalf("no counter for %s", source)
		}
		return l
	}
	events := func(eventType string) int {
		count := 0
		_ = ts.s.View(func(tx *store.Tx) error {
			return tx.ForEach(store.AuthEvents, func(r store.Record) error {
				if r.(*store.AuthEvent).EventType == eventType {
					count++
				}
				return nil
			})
		})
		return count
	}

	at := t0
	for i := 0; i < 2; i++ {
		fail("10.0.0.1", at)
		at = at.Add(time.Second)
	}
	if l := lockOf("10.0.0.1"); l.Failures != 2 || !l.LockedUntil.IsZero() {
		t.Fatalf("after two failures: %+v", l)
	}
	fail("10.0.0.1", at)
	if l := lockOf("10.0.0.1"); l.Failures != 3 || !l.LockedUntil.Equal(at.Add(time.Minute)) || l.LockCount != 1 {
		t.Fatalf("after three failures: %+v", l)
	}
	if events(store.AuthEventLocked) != 1 {
		t.Fatal("no locked event")
	}
	// Another source has its own counter.
	fail("10.0.0.2", at)
	if l := lockOf("10.0.0.2"); l.Failures != 1 || l.Locked(at) {
		t.Fatalf("other source: %+v", l)
	}
	// Failures during the lock are recorded but neither counted nor lengthen it.
	fail("10.0.0.1", at.Add(10*time.Second))
	if l := lockOf("10.0.0.1"); l.Failures != 3 || !l.LockedUntil.Equal(at.Add(time.Minute)) {
		t.Fatalf("failure during the lock changed it: %+v", l)
	}
	if events(store.AuthEventPasswordFailure) != 5 {
		t.Fatalf("failure events: %d", events(store.AuthEventPasswordFailure))
	}
	// After the lock lapses, a new round; the next locks last 2, then 4 (the cap), then 4 minutes.
	for _, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 4 * time.Minute} {
		at = lockOf("10.0.0.1").LockedUntil.Add(30 * time.Second)
		fail("10.0.0.1", at)
		if l := lockOf("10.0.0.1"); l.Failures != 1 || l.Locked(at) {
			t.Fatalf("first failure after the lock lapsed: %+v", l)
		}
		fail("10.0.0.1", at)
		fail("10.0.0.1", at)
		if l := lockOf("10.0.0.1"); !l.LockedUntil.Equal(at.Add(want)) {
			t.Fatalf("lock lasts %s, want %s", l.LockedUntil.Sub(at), want)
		}
	}
	// A counter quiet for longer than the longest lock starts afresh.
	at = lockOf("10.0.0.1").LockedUntil.Add(5 * time.Minute)
	for i := 0; i < 3; i++ {
		fail("10.0.0.1", at)
	}
	if l := lockOf("10.0.0.1"); !l.LockedUntil.Equal(at.Add(time.Minute)) || l.LockCount != 1 {
		t.Fatalf("lock after a quiet period: %+v", l)
	}
}

func TestRecordAuthFailureUncounted(t *testing.T) {
	ts := openStore(t)
	at := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	// A failure naming no identity is only recorded.
	c := &command.RecordAuthFailure{EventID: "ev-1", EventType: store.AuthEventPasswordFailure, Source: "10.0.0.1", Reason: "unknown username", Counted: true,
		Threshold: 1, BaseLock: time.Minute, MaxLock: time.Hour, LockID: "l", LockEventID: "le"}
	if err := ts.apply(c, at); err != nil {
		t.Fatal(err)
	}
	if !ts.exists(store.AuthEvents, "ev-1") || ts.exists(store.AuthLocks, "l") || ts.exists(store.AuthEvents, "le") {
		t.Fatal("an anonymous failure placed a lock")
	}
	for name, bad := range map[string]*command.RecordAuthFailure{
		"no event id":   {EventType: store.AuthEventPasswordFailure},
		"success event": {EventID: "ev-2", EventType: store.AuthEventPasswordSuccess},
		"locked event":  {EventID: "ev-3", EventType: store.AuthEventLocked},
	} {
		if err := ts.apply(bad, at); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLockDuration(t *testing.T) {
	for _, tc := range []struct {
		earlier int64
		want    time.Duration
	}{{0, time.Minute}, {1, 2 * time.Minute}, {5, 32 * time.Minute}, {6, time.Hour}, {1 << 40, time.Hour}} {
		if got := command.LockDuration(time.Minute, time.Hour, tc.earlier); got != tc.want {
			t.Errorf("after %d locks: %s, want %s", tc.earlier, got, tc.want)
		}
	}
}

func TestRecordAuthFailureLocksTheIdentityFromEveryAddress(t *testing.T) {
	ts := openStore(t)
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	ts.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "ident"}, Name: "ident", Type: store.IdentityTypeUser}, t0)
	n := 0
	fail := func(source string, at time.Time) {
		t.Helper()
		n++
		c := &command.RecordAuthFailure{EventID: fmt.Sprintf("ev-%d", n), EventType: store.AuthEventPasswordFailure, IdentityID: "ident",
			Source: source, Reason: "wrong password", Counted: true, LockID: fmt.Sprintf("lock-%d", n), LockEventID: fmt.Sprintf("locked-%d", n),
			Threshold: 3, BaseLock: time.Minute, MaxLock: 4 * time.Minute,
			IdentityThreshold: 4, IdentityLockID: fmt.Sprintf("ilock-%d", n), IdentityLockEventID: fmt.Sprintf("ilocked-%d", n)}
		if err := ts.apply(c, at); err != nil {
			t.Fatalf("failure %d: %v", n, err)
		}
	}
	lockOf := func(source string) *store.AuthLock {
		var l *store.AuthLock
		_ = ts.s.View(func(tx *store.Tx) error {
			if id, ok := tx.Lookup(store.AuthLocks, "identitySource", store.AuthLockKey("ident", source)); ok {
				l, _ = store.Get[*store.AuthLock](tx, store.AuthLocks, id)
			}
			return nil
		})
		return l
	}
	// Two failures from each of two addresses: neither address reaches its
	// threshold of three, but the identity reaches four from any address.
	at := t0
	for _, src := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.1"} {
		fail(src, at)
		at = at.Add(time.Second)
	}
	if l := lockOf(store.AllSources); l == nil || l.Failures != 3 || l.Locked(at) {
		t.Fatalf("after three failures from two addresses: %+v", l)
	}
	fail("10.0.0.2", at)
	l := lockOf(store.AllSources)
	if l == nil || !l.LockedUntil.Equal(at.Add(time.Minute)) {
		t.Fatalf("after four failures from two addresses: %+v", l)
	}
	if p := lockOf("10.0.0.2"); p.Locked(at) {
		t.Fatalf("an address under its own threshold is locked: %+v", p)
	}
	// A failure from an address whose own lock holds counts toward neither.
	for range 3 {
		fail("10.0.0.3", at)
	}
	before := *lockOf(store.AllSources)
	fail("10.0.0.3", at.Add(time.Second))
	if after := lockOf(store.AllSources); after.Failures != before.Failures {
		t.Fatalf("a failure refused by an address lock counted for the identity: %d, then %d", before.Failures, after.Failures)
	}
	// Without an identity threshold (entries written before it existed), only the pair counts.
	c := &command.RecordAuthFailure{EventID: "old", EventType: store.AuthEventPasswordFailure, IdentityID: "ident", Source: "10.0.0.9",
		Counted: true, LockID: "old-lock", LockEventID: "old-locked", Threshold: 3, BaseLock: time.Minute, MaxLock: 4 * time.Minute}
	if err := ts.apply(c, at.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if l := lockOf(store.AllSources); l.Failures != before.Failures {
		t.Fatalf("an entry without an identity threshold counted for the identity: %+v", l)
	}
}
