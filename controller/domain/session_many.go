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
	if len(c.Sessions) == 0 {
		return nil, fmt.Errorf("create sessions: no sessions: %w", store.ErrInvalid)
	}
	out := make([]any, 0, len(c.Sessions))
	for i, s := range c.Sessions {
		if s.Session == nil || s.At.IsZero() {
			return nil, fmt.Errorf("create sessions: session %d is empty: %w", i, store.ErrInvalid)
		}
		before := tx.ChangeCount()
		var v any
		err := tx.WithTime(s.At, func() (err error) {
			v, err = s.Session.Apply(tx)
			return err
		})
		// CreateSession decides before it writes: a refusal that wrote
		// nothing skips this session alone. A failure after a write
		// undoes the whole entry.
		if err != nil && tx.ChangeCount() == before {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create sessions: session %d: %w", i, err)
		}
		out = append(out, v)
	}
	return out, nil
}
