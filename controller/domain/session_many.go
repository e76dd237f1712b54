package domain

import (
	"fmt"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// CreateSessions creates the sessions of requests that were answered before
// they were applied (controller/api's pending sessions), gathered into one
// entry while the previous one was being committed. Each is applied at the
// time it was answered, with every check of CreateSession. A session the
// state refuses by then (the API session ended, the grant or posture gone)
// is skipped and the others are created; its token then opens nothing.
type CreateSessions struct {
	Sessions []TimedSession `json:"sessions"`
}

// TimedSession is one session of a CreateSessions and when it was answered.
type TimedSession struct {
	At      time.Time      `json:"at"`
	Session *CreateSession `json:"session"`
}

// Type implements command.Command.
func (c *CreateSessions) Type() command.Type { return command.TypeCreateSessions }

// Apply implements command.Command; it returns the sessions created or
// found ([]any of *store.Session).
func (c *CreateSessions) Apply(tx *store.Tx) (any, error) {
	// CreateSession decides before it writes: any refusal skips this
	// session alone.
	return applyEach(tx, "create sessions", "session", len(c.Sessions),
		func(i int) (time.Time, command.Command) {
			if c.Sessions[i].Session == nil {
				return time.Time{}, nil
			}
			return c.Sessions[i].At, c.Sessions[i].Session
		},
		func(error) bool { return true })
}

// applyEach applies the n commands of an entry that carries several (what
// names the entry, one names one of its commands), each at its own time
// (item gives both). A command whose error refused says is a refusal, and
// which wrote nothing, is skipped and the others are applied; any other
// failure undoes the whole entry. It returns the results of those applied.
func applyEach(tx *store.Tx, what, one string, n int, item func(int) (time.Time, command.Command), refused func(error) bool) (any, error) {
	if n == 0 {
		return nil, fmt.Errorf("%s: none carried: %w", what, store.ErrInvalid)
	}
	out := make([]any, 0, n)
	for i := range n {
		at, cmd := item(i)
		if cmd == nil || at.IsZero() {
			return nil, fmt.Errorf("%s: %s %d is empty: %w", what, one, i, store.ErrInvalid)
		}
		before := tx.ChangeCount()
		var v any
		err := tx.WithTime(at, func() (err error) {
			v, err = cmd.Apply(tx)
			return err
		})
		if err != nil && refused(err) && tx.ChangeCount() == before {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s %d: %w", what, one, i, err)
		}
		out = append(out, v)
	}
	return out, nil
}
