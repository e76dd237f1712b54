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
	last map[string]entry
}

// Use is when an API session was last used, and when a router last reported
// a channel of it (zero when none did).
type Use struct {
	At       time.Time
	RouterAt time.Time
}

type entry struct {
	Use
	// moved is set when the use changed since the last TakeMoved.
	moved bool
}

// New returns an empty Tracker.
func New() *Tracker { return &Tracker{last: map[string]entry{}} }

// Touch records a use of an API session at at. An earlier time than the one
// known changes nothing.
func (t *Tracker) Touch(apiSessionID string, at time.Time) {
	t.record(apiSessionID, at, false)
}

// TouchFromRouter records that a router reported a channel of the API
// session open at at; that is a use too.
func (t *Tracker) TouchFromRouter(apiSessionID string, at time.Time) {
	t.record(apiSessionID, at, true)
}

func (t *Tracker) record(id string, at time.Time, router bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.last[id]
	moved := false
	if at.After(e.At) {
		e.At, moved = at, true
	}
	if router && at.After(e.RouterAt) {
		e.RouterAt, moved = at, true
	}
	if moved {
		e.moved = true
		t.last[id] = e
	}
}

// Last returns the last use of an API session on this node.
func (t *Tracker) Last(apiSessionID string) (Use, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.last[apiSessionID]
	return e.Use, ok
}

// Forget drops an API session (logged out, deleted or expired).
func (t *Tracker) Forget(apiSessionID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.last, apiSessionID)
}

// TakeMoved returns the uses recorded since the last call, by API session.
func (t *Tracker) TakeMoved() map[string]Use {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]Use{}
	for id, e := range t.last {
		if e.moved {
			out[id] = e.Use
			e.moved = false
			t.last[id] = e
		}
	}
	return out
}

// Requeue marks uses that TakeMoved returned as moved again, for a batch
// that could not be written; uses recorded since are kept.
func (t *Tracker) Requeue(uses map[string]Use) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range uses {
		if e, ok := t.last[id]; ok {
			e.moved = true
			t.last[id] = e
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
