package domain

import (
	"errors"
	"fmt"

	"github.com/ostium-net/ostium/controller/access"
	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// RevokeSessions deletes sessions in one entry; routers hear of each
// deletion and close its circuits. Sessions already gone are skipped.
type RevokeSessions struct {
	IDs []string `json:"ids"`
	// IfDenied deletes only the sessions that access.Denied refuses at the
	// entry's time: the leader's posture sweep proposes what it found, and
	// a session that passes again by the time the entry applies stays.
	IfDenied bool `json:"ifDenied,omitempty"`
}

// Type implements command.Command.
func (c *RevokeSessions) Type() command.Type { return command.TypeRevokeSessions }

// Apply implements command.Command; it returns the ids it deleted.
func (c *RevokeSessions) Apply(tx *store.Tx) (any, error) {
	deleted := []string{}
	for _, id := range c.IDs {
		sess, err := store.Get[*store.Session](tx, store.Sessions, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("revoke sessions: %w", err)
		}
		if c.IfDenied && !access.Denied(tx, sess, tx.Now()) {
			continue
		}
		if err := tx.Delete(store.Sessions, id); err != nil {
			return nil, fmt.Errorf("revoke session %s: %w", id, err)
		}
		deleted = append(deleted, id)
	}
	return deleted, nil
}
