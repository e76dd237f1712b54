package command

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

// TouchAPISessions records when API sessions were last used, as one node
// saw them: each gets the later of the time it has and the one given. API
// sessions that no longer exist are skipped. The leader expires API
// sessions from these times (and its own), so use through any node keeps a
// session alive.
type TouchAPISessions struct {
	Uses map[string]time.Time `json:"uses"`
}

// Type implements Command.
func (c *TouchAPISessions) Type() Type { return TypeTouchAPISessions }

// Apply implements Command. It returns how many records moved.
func (c *TouchAPISessions) Apply(tx *store.Tx) (any, error) {
	ids := make([]string, 0, len(c.Uses))
	for id := range c.Uses {
		ids = append(ids, id)
	}
	slices.Sort(ids) // the same order on every node
	moved := 0
	for _, id := range ids {
		at := c.Uses[id]
		if id == "" || !tx.Exists(store.APISessions, id) {
			continue
		}
		rec, err := store.Get[*store.APISessionActivity](tx, store.APISessionActivities, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			err = tx.Create(store.APISessionActivities, &store.APISessionActivity{Meta: store.Meta{ID: id}, APISessionID: id, LastActivityAt: at})
		case err != nil:
		case at.After(rec.LastActivityAt):
			rec.LastActivityAt = at
			_, err = tx.Update(store.APISessionActivities, rec)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("touch API session %s: %w", id, err)
		}
		moved++
	}
	return moved, nil
}
