package command

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

// TouchAPISessions records when API sessions were last used, as one node
// saw them, and when a router last reported a channel of them open: each
// time becomes the later of the one stored and the one given. API sessions
// that no longer exist are skipped. The leader expires API sessions from
// these times (and its own), so use through any node keeps a session alive.
type TouchAPISessions struct {
	Uses map[string]time.Time `json:"uses"`
	// RouterUses are the router reports among Uses.
	RouterUses map[string]time.Time `json:"routerUses,omitempty"`
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
		at, routerAt := c.Uses[id], c.RouterUses[id]
		if id == "" || !tx.Exists(store.APISessions, id) {
			continue
		}
		rec, err := store.Get[*store.APISessionActivity](tx, store.APISessionActivities, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			err = tx.Create(store.APISessionActivities, &store.APISessionActivity{Meta: store.Meta{ID: id}, APISessionID: id,
				LastActivityAt: at, LastRouterReportAt: routerAt})
		case err != nil:
		case at.After(rec.LastActivityAt) || routerAt.After(rec.LastRouterReportAt):
			if at.After(rec.LastActivityAt) {
				rec.LastActivityAt = at
			}
			if routerAt.After(rec.LastRouterReportAt) {
				rec.LastRouterReportAt = routerAt
			}
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

// TouchAPITokens records when API tokens were last used, as one node saw
// them: each token's LastUsedAt becomes the later of the one stored and the
// one given. Tokens revoked meanwhile are skipped.
type TouchAPITokens struct {
	Uses map[string]time.Time `json:"uses"`
}

// Type implements Command.
func (c *TouchAPITokens) Type() Type { return TypeTouchAPITokens }

// Apply implements Command. It returns how many tokens moved.
func (c *TouchAPITokens) Apply(tx *store.Tx) (any, error) {
	ids := make([]string, 0, len(c.Uses))
	for id := range c.Uses {
		ids = append(ids, id)
	}
	slices.Sort(ids) // the same order on every node
	moved := 0
	for _, id := range ids {
		t, err := store.Get[*store.APIToken](tx, store.APITokens, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !c.Uses[id].After(t.LastUsedAt)) {
			continue
		}
		if err == nil {
			t.LastUsedAt = c.Uses[id]
			_, err = tx.Update(store.APITokens, t)
		}
		if err != nil {
			return nil, fmt.Errorf("touch API token %s: %w", id, err)
		}
		moved++
	}
	return moved, nil
}
