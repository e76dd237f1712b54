package cluster

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus metrics. They count whether or not a
// registry was given; Start registers them when Config.Metrics is set.
type metrics struct {
	applyDuration prometheus.Histogram
	batchSize     prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		applyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ostium_raft_apply_duration_seconds",
			Help: "Time from proposing a write on this controller (forwarded to the leader when it is a follower) to its being applied here.",
			// From a local batch (sub-millisecond) to a slow failover (seconds).
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ostium_raft_apply_batch_size",
			Help:    "Log entries applied to the store in one transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
	}
}

func (m *metrics) observeApply(start time.Time) {
	m.applyDuration.Observe(time.Since(start).Seconds())
}

// raftCollector reads the node's raft state at each scrape.
type raftCollector struct {
	n *Node

	role, leaderKnown, term, commit, applied, last *prometheus.Desc
}

func newRaftCollector(n *Node) *raftCollector {
	return &raftCollector{n: n,
		role: prometheus.NewDesc("ostium_raft_role",
			"1 for this controller's raft role (leader, follower, candidate or shutdown), 0 for the others.", []string{"role"}, nil),
		leaderKnown: prometheus.NewDesc("ostium_raft_leader_known",
			"1 while this controller knows a leader (it can serve writes), 0 without one.", nil, nil),
		term:    prometheus.NewDesc("ostium_raft_term", "The current raft term.", nil, nil),
		commit:  prometheus.NewDesc("ostium_raft_commit_index", "The highest raft log index known to be committed.", nil, nil),
		applied: prometheus.NewDesc("ostium_raft_applied_index", "The highest raft log index applied to this controller's store.", nil, nil),
		last:    prometheus.NewDesc("ostium_raft_last_index", "The last raft log index in this controller's log.", nil, nil),
	}
}

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.role, c.leaderKnown, c.term, c.commit, c.applied, c.last} {
		ch <- d
	}
}

// roles are every value of the role label, so each scrape shows all of them.
var roles = []raft.RaftState{raft.Leader, raft.Follower, raft.Candidate, raft.Shutdown}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.n.raft
	state := r.State()
	for _, s := range roles {
		v := 0.0
		if s == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.role, prometheus.GaugeValue, v, roleName(s))
	}
	known := 0.0
	if addr, _ := c.n.Leader(); addr != "" {
		known = 1
	}
	ch <- prometheus.MustNewConstMetric(c.leaderKnown, prometheus.GaugeValue, known)
	ch <- prometheus.MustNewConstMetric(c.term, prometheus.GaugeValue, float64(r.CurrentTerm()))
	ch <- prometheus.MustNewConstMetric(c.commit, prometheus.GaugeValue, float64(r.CommitIndex()))
	ch <- prometheus.MustNewConstMetric(c.applied, prometheus.GaugeValue, float64(c.n.fsm.appliedIndex()))
	ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(r.LastIndex()))
}

func roleName(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return "leader"
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	default:
		return "shutdown"
	}
}

// Role is this node's raft role: leader, follower, candidate or shutdown.
func (n *Node) Role() string { return roleName(n.raft.State()) }

// Term is the current raft term.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// AppliedIndex is the highest log index applied to the store here.
func (n *Node) AppliedIndex() uint64 { return n.fsm.appliedIndex() }

// CommitIndex is the highest log index known to be committed.
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }
