package api

import (
	"context"
	"net/http"

	"github.com/ostium-net/ostium/internal/ops"
)

// HealthReport is the answer of GET /health: what a load balancer needs to
// know to send this controller requests. It is healthy (200) when it knows a
// raft leader, so writes can be served, and its store answers reads;
// otherwise the answer is 503 with the same report.
type HealthReport struct {
	// Status is "ok" or "unavailable".
	Status string `json:"status"`
	// NodeID is this controller's id in the cluster.
	NodeID string      `json:"nodeId,omitempty"`
	Raft   HealthRaft  `json:"raft"`
	Store  HealthStore `json:"store"`
}

// HealthRaft is this controller's view of the raft cluster.
type HealthRaft struct {
	// Role is leader, follower, candidate or shutdown.
	Role        string `json:"role"`
	LeaderKnown bool   `json:"leaderKnown"`
	LeaderID    string `json:"leaderId,omitempty"`
	Term        uint64 `json:"term"`
	CommitIndex uint64 `json:"commitIndex"`
	// AppliedIndex is how far this controller's store has applied the log.
	AppliedIndex uint64 `json:"appliedIndex"`
}

// HealthStore is the state of this controller's database.
type HealthStore struct {
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
	SizeBytes int64  `json:"sizeBytes,omitempty"`
}

// Health checks this controller: a leader known and the store readable.
func (a *API) Health(ctx context.Context) (bool, any) { return a.s.health(ctx) }

// HealthHandler answers /health (on the API listener and the ops listener).
func (a *API) HealthHandler() http.Handler { return ops.HealthHandler(a.Health) }

func (s *Server) health(context.Context) (bool, any) {
	rep := HealthReport{Raft: HealthRaft{Role: "none"}}
	if n := s.Node; n != nil {
		rep.NodeID = n.ID()
		addr, id := n.Leader()
		rep.Raft = HealthRaft{Role: n.Role(), LeaderKnown: addr != "", LeaderID: id, Term: n.Term(),
			CommitIndex: n.CommitIndex(), AppliedIndex: n.AppliedIndex()}
	}
	if st := s.State.Store; st != nil {
		if _, err := st.AppliedIndex(); err != nil {
			rep.Store.Error = err.Error()
		} else if size, err := st.Size(); err != nil {
			rep.Store.Error = err.Error()
		} else {
			rep.Store.OK, rep.Store.SizeBytes = true, size
		}
	} else {
		rep.Store.Error = "no store"
	}
	healthy := rep.Raft.LeaderKnown && rep.Store.OK
	rep.Status = "ok"
	if !healthy {
		rep.Status = "unavailable"
	}
	return healthy, rep
}
