// Package activity keeps, on one controller node, when each API session was
// last used through that node: its REST calls, and the heartbeats in which
// routers list the API sessions their clients hold channels open with. The
// node hands what moved to the replicated store in batches (TakeMoved), so
// that the leader, which expires idle API sessions, sees use on every node
// without a raft write per request.
package activity

import (
	"sync"
	"time"
)

// Tracker is the last use of API sessions on this node. It is safe for
// concurrent use.
type Tracker struct {
	mu   sync.Mutex
	last map[string]use
}

type use struct {
	at time.Time
	// moved is set when at changed since the last TakeMoved.
	moved bool
}

// New returns an empty Tracker.
func New() *Tracker { return &Tracker{last: map[string]use{}} }

// Touch records a use of an API session at at. An earlier time than the one
// known changes nothing.
func (t *Tracker) Touch(apiSessionID string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u, ok := t.last[apiSessionID]; ok && !at.After(u.at) {
		return
	}
	t.last[apiSessionID] = use{at: at, moved: true}
}

// Last returns the last use of an API session on this node.
func (t *Tracker) Last(apiSessionID string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, ok := t.last[apiSessionID]
	return u.at, ok
}

// Forget drops an API session (logged out, deleted or expired).
func (t *Tracker) Forget(apiSessionID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.last, apiSessionID)
}

// TakeMoved returns the uses recorded since the last call, by API session.
func (t *Tracker) TakeMoved() map[string]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]time.Time{}
	for id, u := range t.last {
		if u.moved {
			out[id] = u.at
			t.last[id] = use{at: u.at}
		}
	}
	return out
}

// Requeue marks uses that TakeMoved returned as moved again, for a batch
// that could not be written; uses recorded since are kept.
func (t *Tracker) Requeue(uses map[string]time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, at := range uses {
		if u, ok := t.last[id]; ok && !u.at.After(at) {
			t.last[id] = use{at: u.at, moved: true}
		}
	}
}

// Retain drops the API sessions keep rejects, so that the Tracker does not
// outgrow the sessions that exist.
func (t *Tracker) Retain(keep func(apiSessionID string) bool) {
	t.mu.Lock()
	ids := make([]string, 0, len(t.last))
	for id := range t.last {
		ids = append(ids, id)
	}
	t.mu.Unlock()
	var drop []string
	for _, id := range ids {
		if !keep(id) {
			drop = append(drop, id)
		}
	}
	t.mu.Lock()
	for _, id := range drop {
		delete(t.last, id)
	}
	t.mu.Unlock()
}

// Len is how many API sessions the Tracker holds.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.last)
}
