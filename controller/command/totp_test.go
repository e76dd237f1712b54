package command_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

func TestAcceptTOTPTakesEachStepOnce(t *testing.T) {
	ts := openStore(t)
	at := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	ts.create(store.Identities, &store.Identity{Meta: store.Meta{ID: "ident"}, Name: "ident", Type: store.IdentityTypeUser}, at)
	ts.create(store.MFAs, &store.MFA{Meta: store.Meta{ID: "mfa"}, IdentityID: "ident", IsVerified: true, SecretSealed: "x"}, at)
	lastStep := func() int64 {
		t.Helper()
		var m *store.MFA
		_ = ts.s.View(func(tx *store.Tx) error {
			var err error
			m, err = store.Get[*store.MFA](tx, store.MFAs, "mfa")
			return err
		})
		if m == nil {
			t.Fatal("no enrollment")
		}
		return m.LastTOTPStep
	}
	accept := func(steps ...int64) error {
		t.Helper()
		return ts.apply(&command.AcceptTOTP{MFAID: "mfa", Steps: steps}, at)
	}

	if err := accept(1000); err != nil || lastStep() != 1000 {
		t.Fatalf("first code: %v, last step %d", err, lastStep())
	}
	// The same step again, or an earlier one, is a replay: a conflict, so
	// that it keeps its meaning when forwarded to the leader.
	for _, step := range []int64{1000, 999} {
		err := accept(step)
		if !errors.Is(err, command.ErrTOTPReplayed) || !errors.Is(err, store.ErrConflict) {
			t.Fatalf("step %d after 1000: %v", step, err)
		}
	}
	if lastStep() != 1000 {
		t.Fatalf("a refused code moved the last step to %d", lastStep())
	}
	// Of the steps a code matches, the earliest later one is taken.
	if err := accept(999, 1002, 1001); err != nil || lastStep() != 1001 {
		t.Fatalf("colliding steps: %v, last step %d", err, lastStep())
	}
	if err := accept(1002); err != nil || lastStep() != 1002 {
		t.Fatalf("the next step: %v, last step %d", err, lastStep())
	}

	if err := ts.apply(&command.AcceptTOTP{MFAID: "nope", Steps: []int64{5000}}, at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown enrollment: %v", err)
	}
	for name, bad := range map[string]*command.AcceptTOTP{
		"no enrollment": {Steps: []int64{5000}},
		"no steps":      {MFAID: "mfa"},
	} {
		if err := ts.apply(bad, at); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
