package command_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

func TestCountPasswordFailureDisablesTheIdentity(t *testing.T) {
	ts := openStore(t)
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	ts.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "ident"}, Name: "ident", Type: store.IdentityTypeUser}, t0)
	ts.create(store.APISessions, &store.APISession{Meta: store.Meta{ID: "as1"}, IdentityID: "ident", TokenHash: "h1"}, t0)

	n := 0
	fail := func(maxAttempts int64, lockout time.Duration, at time.Time) {
		t.Helper()
		n++
		c := &command.CountPasswordFailure{IdentityID: "ident", Source: fmt.Sprintf("10.0.0.%d", n), CounterID: fmt.Sprintf("counter-%d", n),
			EventID: fmt.Sprintf("locked-%d", n), MaxAttempts: maxAttempts, LockoutDuration: lockout}
		if err := ts.apply(c, at); err != nil {
			t.Fatalf("failure %d: %v", n, err)
		}
	}
	failures := func() int64 {
		t.Helper()
		var count int64
		_ = ts.s.View(func(tx *store.Tx) error {
			if id, ok := tx.Lookup(store.PasswordFailures, "identity", "ident"); ok {
				c, err := store.Get[*store.PasswordFailureCount](tx, store.PasswordFailures, id)
				if err != nil {
					return err
				}
				count = c.Failures
			}
			return nil
		})
		return count
	}
	identity := func() *store.Identity {
		t.Helper()
		var i *store.Identity
		_ = ts.s.View(func(tx *store.Tx) error {
			var err error
			i, err = store.Get[*store.Identity](tx, store.Identities, "ident")
			return err
		})
		return i
	}
	lockedEvents := func() []string {
		var reasons []string
		_ = ts.s.View(func(tx *store.Tx) error {
			return tx.ForEach(store.AuthEvents, func(r store.Record) error {
				if e := r.(*store.AuthEvent); e.EventType == store.AuthEventLocked {
					reasons = append(reasons, e.Reason)
				}
				return nil
			})
		})
		return reasons
	}

	// Unlimited attempts: nothing is counted.
	at := t0
	for i := 0; i < 5; i++ {
		fail(0, time.Minute, at)
	}
	if failures() != 0 || identity().Disabled {
		t.Fatalf("counted without a limit: %d %+v", failures(), identity())
	}

	// Failures from any source add up; the third disables for the lockout.
	fail(3, 5*time.Minute, at)
	fail(3, 5*time.Minute, at)
	if failures() != 2 || identity().IsDisabled(at) {
		t.Fatalf("after two failures: %d %+v", failures(), identity())
	}
	at = at.Add(time.Second)
	fail(3, 5*time.Minute, at)
	i := identity()
	if !i.IsDisabled(at) || i.DisabledAt == nil || !i.DisabledAt.Equal(at) || i.DisabledUntil == nil || !i.DisabledUntil.Equal(at.Add(5*time.Minute)) {
		t.Fatalf("after the third failure: %+v", i)
	}
	if failures() != 0 || ts.exists(store.APISessions, "as1") {
		t.Fatalf("disabling kept the counter (%d) or the API session", failures())
	}
	if r := lockedEvents(); len(r) != 1 || !strings.Contains(r[0], "3 failed password logins") || !strings.Contains(r[0], "for 5m0s") {
		t.Fatalf("locked events: %q", r)
	}
	// While disabled, failures are not counted: they cannot lengthen it.
	fail(3, 5*time.Minute, at.Add(time.Minute))
	if failures() != 0 || !identity().DisabledUntil.Equal(at.Add(5*time.Minute)) {
		t.Fatalf("a failure while disabled counted: %d %+v", failures(), identity())
	}
	// Once the lockout has passed, a new round begins.
	at = at.Add(6 * time.Minute)
	fail(3, 5*time.Minute, at)
	if failures() != 1 || identity().IsDisabled(at) {
		t.Fatalf("after the lockout: %d %+v", failures(), identity())
	}
	// Without a lockout duration, the identity stays disabled until enabled.
	fail(2, 0, at)
	if i := identity(); !i.IsDisabled(at.Add(24*365*time.Hour)) || i.DisabledUntil != nil {
		t.Fatalf("disabled until enabled: %+v", i)
	}
	untilEnabled := func(reason string) bool { return strings.HasSuffix(reason, "until an administrator enables it") }
	if r := lockedEvents(); len(r) != 2 || !slices.ContainsFunc(r, untilEnabled) {
		t.Fatalf("locked events: %q", r)
	}
}

func TestCountPasswordFailureSparesTheDefaultAdmin(t *testing.T) {
	ts := openStore(t)
	at := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	ts.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "admin"}, Name: "admin", Type: store.IdentityTypeUser, IsAdmin: true, IsDefaultAdmin: true}, at)
	for i := 0; i < 3; i++ {
		c := &command.CountPasswordFailure{IdentityID: "admin", Source: "10.0.0.1", CounterID: fmt.Sprintf("c%d", i), EventID: fmt.Sprintf("e%d", i), MaxAttempts: 1}
		if err := ts.apply(c, at); err != nil {
			t.Fatal(err)
		}
	}
	_ = ts.s.View(func(tx *store.Tx) error {
		i, err := store.Get[*store.Identity](tx, store.Identities, "admin")
		if err != nil || i.Disabled {
			t.Errorf("default admin: %v %+v", err, i)
		}
		return nil
	})

	// An identity deleted since the attempt is not an error; missing ids are.
	if err := ts.apply(&command.CountPasswordFailure{IdentityID: "gone", CounterID: "c", EventID: "e", MaxAttempts: 1}, at); err != nil {
		t.Errorf("deleted identity: %v", err)
	}
	for name, bad := range map[string]*command.CountPasswordFailure{
		"no identity": {CounterID: "c", EventID: "e", MaxAttempts: 1},
		"no counter":  {IdentityID: "admin", EventID: "e", MaxAttempts: 1},
		"no event":    {IdentityID: "admin", CounterID: "c", MaxAttempts: 1},
	} {
		if err := ts.apply(bad, at); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
