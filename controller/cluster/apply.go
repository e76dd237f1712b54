package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// ErrNoLeader is returned when no leader is known to forward a write to.
var ErrNoLeader = errors.New("no raft leader available")

// Apply replicates a command and returns its raft index once it is applied on
// this node. See ApplyOutcome.
func (n *Node) Apply(ctx context.Context, cmd command.Command) (uint64, error) {
	o, err := n.ApplyOutcome(ctx, cmd)
	return o.Index, err
}

// ApplyOutcome replicates a command and returns its outcome once it is
// applied on this node, so the caller reads its own write. On a follower the
// command is forwarded to the leader. Domain errors (store.ErrNotFound,
// store.ErrConflict, ...) survive the trip.
//
// The command travels with a request id (see WithIdempotencyKey). When an
// attempt's outcome is unknown (the leader died or lost its leadership after
// the command was sent, the answer was lost), the same entry is sent again,
// to whichever node leads by then: the FSM applies a request once and
// answers a repeat with the first outcome, so the caller learns what really
// happened. ErrNoLeader means nothing was applied; ErrOutcomeUnknown means
// the write may have been applied and the truth could not be learned before
// the deadline.
func (n *Node) ApplyOutcome(ctx context.Context, cmd command.Command) (Outcome, error) {
	defer n.met.observeApply(time.Now())
	body, err := command.Encode(cmd, time.Now().UTC())
	if err != nil {
		return Outcome{}, err
	}
	h := n.newRequest(ctx)
	res, err := n.applyEntry(ctx, encodeEntry(h, body), h)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome(res), nil
}

func (n *Node) applyEntry(ctx context.Context, data []byte, h requestHeader) (applyResult, error) {
	deadline := time.Now().Add(n.cfg.ApplyTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var (
		lastErr error
		unknown bool // some attempt may have been applied
	)
	for attempt := 0; ; attempt++ {
		var res applyResult
		var err error
		if n.IsLeader() {
			res, err = n.applyLocal(data, h, time.Until(deadline))
		} else if addr, _ := n.Leader(); addr != "" {
			res, err = n.forward(ctx, addr, data, deadline)
		} else {
			err = ErrNoLeader
		}
		if err == nil {
			n.waitApplied(ctx, res.Index, deadline)
			return res, nil
		}
		if errors.Is(err, errUnknownAttempt) {
			unknown = true
		}
		if !retryable(err) {
			return applyResult{}, err
		}
		if !errors.Is(err, ErrNoLeader) || lastErr == nil {
			lastErr = err
		}
		giveUp := time.Now().After(deadline) || n.leaderlessFor() >= n.cfg.LeaderWait
		if !giveUp {
			select {
			case <-ctx.Done():
				giveUp = true
			case <-n.done:
				giveUp = true
			case <-time.After(backoff(attempt)):
			}
		}
		if giveUp {
			if unknown {
				return applyResult{}, fmt.Errorf("request %s: %w (last error: %v)", h.ID, ErrOutcomeUnknown, lastErr)
			}
			if errors.Is(lastErr, ErrNoLeader) {
				return applyResult{}, lastErr
			}
			return applyResult{}, fmt.Errorf("%w (last error: %v)", ErrNoLeader, lastErr)
		}
	}
}

// backoff grows the pause between attempts from 10 ms to 100 ms: a new
// leader is usually known within one election, and finding it quickly is
// what makes a failover short.
func backoff(attempt int) time.Duration {
	return time.Duration(min(10*(attempt+1), 100)) * time.Millisecond
}

// waitApplied waits until this node has applied index, so the caller reads
// its own write. The write is committed either way: past the deadline the
// answer is still a success, only possibly not yet visible here.
func (n *Node) waitApplied(ctx context.Context, index uint64, deadline time.Time) {
	if n.fsm.appliedIndex() >= index {
		return
	}
	// The caller's cancellation does not cut this wait short: the write is
	// done, and the answer should reflect it.
	if !n.fsm.waitApplied(index, n.done, nil, deadline.Add(time.Second)) {
		n.log.Warn("write applied by the leader is not yet applied here", "index", index)
	}
}

// retryable errors are about leadership or the way to the leader, not about
// the command.
func retryable(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, ErrNoLeader) ||
		errors.Is(err, errForwardTransport) || errors.Is(err, errUnknownAttempt) ||
		errors.Is(err, raft.ErrEnqueueTimeout)
}

// applyLocal proposes the entry on this node, the leader.
func (n *Node) applyLocal(data []byte, h requestHeader, timeout time.Duration) (applyResult, error) {
	if timeout <= 0 {
		timeout = time.Second
	}
	f := n.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		// Not leader or not enqueued: the entry never reached the log. Any
		// other failure came after it did: it may yet be committed.
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrEnqueueTimeout) {
			return applyResult{}, err
		}
		return applyResult{}, fmt.Errorf("%w: %v", errUnknownAttempt, err)
	}
	res, ok := f.Response().(store.Result)
	if !ok {
		return applyResult{Index: f.Index()}, nil
	}
	return resultOf(f.Index(), res, h)
}

// forward sends the entry to the leader at addr and waits for its answer.
func (n *Node) forward(ctx context.Context, addr string, data []byte, deadline time.Time) (applyResult, error) {
	resp, err := n.leaderRPC(ctx, addr, connForward, data, deadline)
	if err != nil {
		return applyResult{}, err
	}
	return applyResult{Index: resp.Index, Repeated: resp.Repeated, Created: resp.Created}, nil
}

// leaderRPC sends one request to the leader at addr over the cluster port.
// It is abandoned as soon as this node sees another leader or none (a
// partitioned or dead leader may never answer). A failure before the request
// was sent is errForwardTransport; after, errUnknownAttempt.
func (n *Node) leaderRPC(ctx context.Context, addr string, kind byte, payload []byte, deadline time.Time) (*wireResponse, error) {
	wctx, cancel := n.watchLeader(ctx, addr)
	defer cancel()
	c, err := n.mux.dialContext(wctx, addr, kind, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errForwardTransport, err)
	}
	defer c.Close()
	stop := context.AfterFunc(wctx, func() { _ = c.Close() })
	defer stop()
	_ = c.SetDeadline(deadline.Add(time.Second))
	if err := writeFrame(c, payload); err != nil {
		return nil, fmt.Errorf("%w: send to %s: %v", errUnknownAttempt, addr, err)
	}
	raw, err := readFrame(c)
	if err != nil {
		return nil, fmt.Errorf("%w: no answer from %s: %v", errUnknownAttempt, addr, err)
	}
	var resp wireResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, fmt.Errorf("%w: answer from %s: %v", errUnknownAttempt, addr, err)
	}
	if resp.Err != nil {
		return nil, fromWire(resp.Err)
	}
	return &resp, nil
}

// watchLeader returns a context that ends when this node no longer sees addr
// as the leader.
func (n *Node) watchLeader(ctx context.Context, addr string) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-n.done:
				cancel()
				return
			case <-t.C:
				if a, _ := n.Leader(); a != addr {
					cancel()
					return
				}
			}
		}
	}()
	return wctx, cancel
}

// serveForward applies an entry a follower forwarded.
func (n *Node) serveForward(payload []byte) wireResponse {
	if !n.IsLeader() {
		return wireResponse{Err: &wireError{Class: "not-leader", Msg: "this node is not the leader"}}
	}
	h, _, err := decodeEntry(payload)
	if err != nil {
		return wireResponse{Err: &wireError{Class: "invalid", Msg: "malformed entry: " + err.Error()}}
	}
	res, err := n.applyLocal(payload, h, n.cfg.ApplyTimeout)
	if err != nil {
		return wireResponse{Err: toWire(err)}
	}
	return wireResponse{Index: res.Index, Repeated: res.Repeated, Created: res.Created}
}

// watchLeadership keeps leaderlessSince current from raft's observations.
func (n *Node) watchLeadership() {
	ch := make(chan raft.Observation, 64)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(obs)
	go func() {
		defer n.raft.DeregisterObserver(obs)
		for {
			select {
			case <-n.done:
				return
			case <-ch:
				// The observation may be stale by now; ask raft.
				if addr, _ := n.Leader(); addr != "" {
					n.leaderlessSince.Store(0)
				} else {
					n.leaderlessSince.CompareAndSwap(0, time.Now().UnixNano())
				}
			}
		}
	}()
}

// leaderlessFor is how long this node has known no leader (0 if it knows one).
func (n *Node) leaderlessFor() time.Duration {
	if addr, _ := n.Leader(); addr != "" {
		return 0
	}
	since := n.leaderlessSince.Load()
	if since == 0 {
		// Raft dropped the leader before the observation arrived.
		n.leaderlessSince.CompareAndSwap(0, time.Now().UnixNano())
		return 0
	}
	return time.Since(time.Unix(0, since))
}
