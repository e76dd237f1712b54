package api

import (
	"context"
	"time"
)

// everyWhileLeading runs job every interval while this node leads the
// cluster, until ctx ends. Followers skip their turns: the leader's writes
// reach them through raft.
func (s *Server) everyWhileLeading(ctx context.Context, interval time.Duration, job func(ctx context.Context)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if s.Node == nil || !s.Node.IsLeader() {
			continue
		}
		job(ctx)
	}
}
