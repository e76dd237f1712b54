package api

import (
	"context"
	"time"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/domain"
	"github.com/ostium-net/ostium/controller/store"
)

// API sessions end after SessionIdleTimeout without use, and
// SessionMaxLifetime after they began however busy they are. Use is seen by the
// node that serves it: REST calls, and the heartbeats in which routers list
// the API sessions their clients hold channels open with (so a client that
// is connected to a router stays logged in, as with OpenZiti). Every node
// writes the uses it saw to the store once per upkeep interval
// (command.TouchAPISessions), and the leader deletes the API sessions whose
// latest use, from any node, is older than the timeout plus one interval,
// and those past their lifetime; the deletion reaches the routers, which
// close the channels of those sessions (routers also drop them on their own
// at the end of their lifetime, which they are told, should the controller
// be out of reach then).

// sessionExpiresAt is when an API session last used at last ends: at the
// idle timeout, or at the end of its lifetime when that comes first.
func (s *Server) sessionExpiresAt(as *store.APISession, last time.Time) time.Time {
	idle := last.Add(s.SessionIdleTimeout)
	if end := as.CreatedAt.Add(s.SessionMaxLifetime); !as.CreatedAt.IsZero() && end.Before(idle) {
		return end
	}
	return idle
}

// sessionEnded reports an API session idle for too long or past its
// lifetime at now.
func (s *Server) sessionEnded(as *store.APISession, last, now time.Time) bool {
	return now.After(s.sessionExpiresAt(as, last))
}

// UpkeepInterval is how often a node writes the uses it saw and the leader
// looks for idle API sessions: a quarter of the idle timeout, between
// 250 ms and one minute. Routers send their heartbeats as often.
func UpkeepInterval(idleTimeout time.Duration) time.Duration {
	return min(max(idleTimeout/4, 250*time.Millisecond), time.Minute)
}

// hasRouterConnection reports whether a router reported a channel of one of
// the identity's API sessions within the last three heartbeats.
func (s *Server) hasRouterConnection(tx *store.Tx, identityID string, now time.Time) bool {
	recent := now.Add(-3 * UpkeepInterval(s.SessionIdleTimeout))
	for _, id := range tx.Referencing(store.APISessions, "identityId", identityID) {
		if u, ok := s.Activity.Last(id); ok && u.RouterAt.After(recent) {
			return true
		}
		if rec, err := store.Get[*store.APISessionActivity](tx, store.APISessionActivities, id); err == nil && rec.LastRouterReportAt.After(recent) {
			return true
		}
	}
	return false
}

// expiryBatch is how many idle API sessions one raft entry deletes.
const expiryBatch = 128

// keepAPISessions runs the upkeep until ctx ends, then writes the uses seen
// since the last flush if it still can.
func (s *Server) keepAPISessions(ctx context.Context) {
	interval := UpkeepInterval(s.SessionIdleTimeout)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flushActivity(context.WithoutCancel(ctx), time.Second)
			return
		case <-ticker.C:
		}
		_ = s.State.View(func(tx *store.Tx) error {
			s.Activity.Retain(func(id string) bool { return tx.Exists(store.APISessions, id) })
			return nil
		})
		s.flushActivity(ctx, interval)
		if s.Node != nil && s.Node.IsLeader() {
			s.expireIdleAPISessions(ctx, time.Now(), interval)
		}
	}
}

// flushActivity writes the uses this node saw since the last flush.
func (s *Server) flushActivity(ctx context.Context, timeout time.Duration) {
	uses := s.Activity.TakeMoved()
	if len(uses) == 0 {
		return
	}
	touch := &command.TouchAPISessions{Uses: make(map[string]time.Time, len(uses))}
	for id, u := range uses {
		touch.Uses[id] = u.At
		if !u.RouterAt.IsZero() {
			if touch.RouterUses == nil {
				touch.RouterUses = map[string]time.Time{}
			}
			touch.RouterUses[id] = u.RouterAt
		}
	}
	ctx, cancel := context.WithTimeout(ctx, max(timeout, 5*time.Second))
	defer cancel()
	if err := s.State.Apply(ctx, touch); err != nil {
		s.Activity.Requeue(uses)
		s.Log.Debug("recording API-session use failed; retrying", "sessions", len(uses), "err", err)
	}
}

// expireIdleAPISessions deletes, with their sessions, the API sessions
// unused for longer than the idle timeout plus grace (the time uses seen on
// other nodes may take to be recorded) and those past their lifetime,
// expiryBatch per entry. It returns how many it deleted.
func (s *Server) expireIdleAPISessions(ctx context.Context, now time.Time, grace time.Duration) int {
	var idle []string
	_ = s.State.View(func(tx *store.Tx) error {
		return tx.ForEach(store.APISessions, func(r store.Record) error {
			as := r.(*store.APISession)
			overAge := !as.CreatedAt.IsZero() && now.Sub(as.CreatedAt) > s.SessionMaxLifetime
			if overAge || now.Sub(s.lastActivity(tx, as)) > s.SessionIdleTimeout+grace {
				idle = append(idle, as.ID)
			}
			return nil
		})
	})
	deleted := 0
	for len(idle) > 0 && ctx.Err() == nil {
		n := min(len(idle), expiryBatch)
		chunk := idle[:n]
		idle = idle[n:]
		apply, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := s.State.Apply(apply, &domain.EndAPISessions{IDs: chunk})
		cancel()
		if err != nil {
			s.Log.Warn("expiring idle API sessions failed", "err", err)
			continue
		}
		for _, id := range chunk {
			s.Activity.Forget(id)
		}
		deleted += len(chunk)
	}
	if deleted > 0 {
		s.Log.Info("expired idle and over-age API sessions", "count", deleted, "idleTimeout", s.SessionIdleTimeout.String(),
			"maxLifetime", s.SessionMaxLifetime.String())
	}
	return deleted
}
