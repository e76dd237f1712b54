package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Reads are linearizable by default: before a read, ReadBarrier makes sure
// this node has applied every write the cluster acknowledged before the read
// began (the ReadIndex protocol of the raft paper, §6.4). The leader notes
// an index, confirms with a quorum that it still leads, and this node waits
// until it has applied up to that index. A node that cannot reach a leader
// answers nothing rather than something stale; callers that accept stale
// data read the local store directly.
//
// The index is the leader's applied index, not its commit index. Every write
// is acknowledged only after the leader applied it: a proposal's future
// resolves once the leader's FSM has applied the entry, and a follower
// answers a forwarded write only after the leader did. So once a new leader
// has applied everything before its term (its barrier), its applied index
// covers every write acknowledged anywhere. The commit index also covers
// entries committed and not yet applied, which no one has been told of:
// waiting for them made every read under a stream of writes wait for the
// batch in flight.

// ReadBarrier returns once a read of the local store reflects every write
// acknowledged before the call. It fails with ErrNoLeader when no leader can
// confirm the index within the leader wait or the apply timeout.
func (n *Node) ReadBarrier(ctx context.Context) error {
	deadline := time.Now().Add(n.cfg.ApplyTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var lastErr error
	for attempt := 0; ; attempt++ {
		var idx uint64
		var err error
		if n.IsLeader() {
			idx, err = n.readIndexLocal(time.Until(deadline))
		} else if addr, _ := n.Leader(); addr != "" {
			var resp *wireResponse
			if resp, err = n.leaderRPC(ctx, addr, connReadIndex, nil, deadline); err == nil {
				idx = resp.Index
			}
		} else {
			err = ErrNoLeader
		}
		if err == nil {
			if !n.waitReadIndex(ctx, idx, deadline) {
				return fmt.Errorf("%w: this node did not catch up with index %d in time", ErrNoLeader, idx)
			}
			return nil
		}
		if !retryable(err) {
			return err
		}
		if !errors.Is(err, ErrNoLeader) || lastErr == nil {
			lastErr = err
		}
		if time.Now().After(deadline) || n.leaderlessFor() >= n.cfg.LeaderWait {
			if errors.Is(lastErr, ErrNoLeader) {
				return lastErr
			}
			return fmt.Errorf("%w: no leader confirmed a read index (last error: %v)", ErrNoLeader, lastErr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.done:
			return errors.New("cluster node closed")
		case <-time.After(backoff(attempt)):
		}
	}
}

// readIndexLocal is the leader's half of ReadIndex. A new leader first
// commits an entry of its own term (a barrier), since only then does its
// commit index cover everything its predecessors acknowledged.
func (n *Node) readIndexLocal(timeout time.Duration) (uint64, error) {
	if timeout <= 0 {
		timeout = time.Second
	}
	term := n.raft.CurrentTerm()
	if n.readyTerm.Load() != term {
		n.barrierMu.Lock()
		if n.readyTerm.Load() != term {
			if err := n.raft.Barrier(timeout).Error(); err != nil {
				n.barrierMu.Unlock()
				return 0, err
			}
			n.readyTerm.Store(term)
		}
		n.barrierMu.Unlock()
	}
	idx := n.fsm.appliedIndex()
	if n.soleVoter() {
		// No other node can win an election without this node's vote, so
		// no other leader can have acknowledged a write: the applied index
		// read while leading covers every acknowledged write. Raft answers
		// a leader check the same way for a quorum of one, but only after a
		// round trip through its leader loop, which every read would pay.
		if n.raft.State() == raft.Leader {
			return idx, nil
		}
		return 0, raft.ErrNotLeader
	}
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return 0, err
	}
	return idx, nil
}

// soleVoter reports whether this node is the only voter of the latest
// configuration, committed or not (the one raft itself counts a quorum in).
// Reading it takes no round trip through raft's loops.
func (n *Node) soleVoter() bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	voters := 0
	self := false
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
			self = self || s.ID == raft.ServerID(n.cfg.NodeID)
		}
	}
	return voters == 1 && self
}

func (n *Node) serveReadIndex() wireResponse {
	if !n.IsLeader() {
		return wireResponse{Err: &wireError{Class: "not-leader", Msg: "this node is not the leader"}}
	}
	idx, err := n.readIndexLocal(n.cfg.ApplyTimeout)
	if err != nil {
		return wireResponse{Err: toWire(err)}
	}
	return wireResponse{Index: idx}
}

// waitReadIndex waits until this node's store reflects every entry up to
// idx. Raft hands the FSM only commands and configurations, so the store's
// own index may stop short of idx when the last entries are no-ops or
// barriers: once raft has dispatched idx, the FSM must reach the last entry
// at or below idx that it sees.
func (n *Node) waitReadIndex(ctx context.Context, idx uint64, deadline time.Time) bool {
	if n.fsm.appliedIndex() >= idx {
		return true
	}
	// Entries up to this node's commit index are in its log as committed,
	// so the last one the FSM sees can be looked up; a follower that has
	// not yet learned that idx is committed waits until it has.
	for n.raft.CommitIndex() < idx {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-n.done:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(time.Millisecond):
		}
	}
	target := n.lastStateEntry(idx)
	if n.fsm.appliedIndex() >= target {
		return true
	}
	return n.fsm.waitApplied(target, n.done, ctx.Done(), deadline)
}

// lastStateEntry is the index of the last entry at or below idx that the FSM
// applies; 0 when those entries are compacted into a snapshot already
// restored.
func (n *Node) lastStateEntry(idx uint64) uint64 {
	for i := idx; i > 0 && idx-i < 1024; i-- {
		var l raft.Log
		if err := n.logs.GetLog(i, &l); err != nil {
			return 0
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return i
		}
	}
	return 0
}
