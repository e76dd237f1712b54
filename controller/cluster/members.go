package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/ostium-net/ostium/controller/store"
)

// Members of the cluster ping each other every PingInterval over the cluster
// port. A ping answers with what the node tells about itself (its API
// address and certificate) and how far it has applied the log, so every
// node can show the whole cluster, which peers it reaches and how far
// behind each is, without a leader.

// PingInterval is how often a node pings each of its peers.
const PingInterval = time.Second

// connectedWithin is how recent the last answered ping must be for a peer to
// count as connected.
const connectedWithin = 3 * PingInterval

// PeerInfo is what a node tells its peers about itself.
type PeerInfo struct {
	// APIAddress is host:port where clients reach its API.
	APIAddress string `json:"apiAddress,omitempty"`
	// RouterAddress is host:port where routers reach its control channel.
	RouterAddress string `json:"routerAddress,omitempty"`
	// CertPEM is its API server certificate.
	CertPEM string `json:"certPem,omitempty"`
	// CreatedAt is when the node was first set up.
	CreatedAt time.Time `json:"createdAt,omitzero"`
}

type pingAnswer struct {
	ID      string   `json:"id"`
	Applied uint64   `json:"applied"`
	Info    PeerInfo `json:"info"`
}

type peerState struct {
	lastContact time.Time
	applied     uint64
	info        PeerInfo
}

type peers struct {
	mu    sync.Mutex
	self  PeerInfo
	state map[string]peerState // by node id
}

// SetInfo sets what this node tells its peers about itself.
func (n *Node) SetInfo(info PeerInfo) {
	n.peers.mu.Lock()
	n.peers.self = info
	n.peers.mu.Unlock()
}

func (n *Node) servePing() pingAnswer {
	n.peers.mu.Lock()
	info := n.peers.self
	n.peers.mu.Unlock()
	return pingAnswer{ID: n.cfg.NodeID, Applied: n.fsm.appliedIndex(), Info: info}
}

// runPings pings every other member of the configuration until the node
// closes.
func (n *Node) runPings() {
	t := time.NewTicker(PingInterval)
	defer t.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		f := n.raft.GetConfiguration()
		if f.Error() != nil {
			continue
		}
		var wg sync.WaitGroup
		for _, s := range f.Configuration().Servers {
			if string(s.ID) == n.cfg.NodeID {
				continue
			}
			wg.Add(1)
			go func(id, addr string) {
				defer wg.Done()
				n.ping(id, addr)
			}(string(s.ID), string(s.Address))
		}
		wg.Wait()
	}
}

func (n *Node) ping(id, addr string) {
	c, err := n.mux.dial(addr, connPing, PingInterval)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(PingInterval))
	if err := writeFrame(c, nil); err != nil {
		return
	}
	raw, err := readFrame(c)
	if err != nil {
		return
	}
	var a pingAnswer
	if err := json.Unmarshal(raw, &a); err != nil || a.ID != id {
		return
	}
	n.peers.mu.Lock()
	if n.peers.state == nil {
		n.peers.state = map[string]peerState{}
	}
	n.peers.state[id] = peerState{lastContact: time.Now(), applied: a.Applied, info: a.Info}
	n.peers.mu.Unlock()
}

// Member is one server of the raft configuration, as this node sees it.
type Member struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Voter    bool   `json:"voter"`
	Leader   bool   `json:"leader"`
	Suffrage string `json:"suffrage"`
	// Self is set for the node answering.
	Self bool `json:"self"`
	// Connected is set when this node reached the member lately.
	Connected bool `json:"connected"`
	// LastContact is when this node last reached it (zero if never).
	LastContact time.Time `json:"lastContact"`
	// AppliedIndex is how far it had applied the log then.
	AppliedIndex uint64 `json:"appliedIndex"`
	// Info is what it last told about itself.
	Info PeerInfo `json:"info"`
}

// Members lists the raft configuration with what this node knows of each.
func (n *Node) Members() ([]Member, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("read raft configuration: %w", err)
	}
	_, leader := n.raft.LeaderWithID()
	n.peers.mu.Lock()
	defer n.peers.mu.Unlock()
	now := time.Now()
	var out []Member
	for _, s := range f.Configuration().Servers {
		m := Member{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter,
			Leader: s.ID == leader, Suffrage: s.Suffrage.String()}
		if m.ID == n.cfg.NodeID {
			m.Self, m.Connected, m.LastContact, m.AppliedIndex, m.Info = true, true, now, n.fsm.appliedIndex(), n.peers.self
		} else if p, ok := n.peers.state[m.ID]; ok {
			m.Connected = now.Sub(p.lastContact) < connectedWithin
			m.LastContact, m.AppliedIndex, m.Info = p.lastContact, p.applied, p.info
		}
		out = append(out, m)
	}
	return out, nil
}

// Membership changes run on the leader; these are their names for CallLeader.
const (
	callAddMember    = "cluster/add-member"
	callRemoveMember = "cluster/remove-member"
	callTransfer     = "cluster/transfer-leadership"
)

type memberChange struct {
	ID      string `json:"id"`
	Address string `json:"address,omitempty"`
	Voter   bool   `json:"voter,omitempty"`
}

func (n *Node) registerMembershipCalls() {
	n.HandleOnLeader(callAddMember, func(ctx context.Context, payload []byte) ([]byte, error) {
		var c memberChange
		if err := json.Unmarshal(payload, &c); err != nil || c.ID == "" || c.Address == "" {
			return nil, fmt.Errorf("a member needs an id and an address: %w", store.ErrInvalid)
		}
		var f raft.IndexFuture
		if c.Voter {
			f = n.raft.AddVoter(raft.ServerID(c.ID), raft.ServerAddress(c.Address), 0, n.cfg.ApplyTimeout)
		} else {
			f = n.raft.AddNonvoter(raft.ServerID(c.ID), raft.ServerAddress(c.Address), 0, n.cfg.ApplyTimeout)
		}
		if err := f.Error(); err != nil {
			return nil, err
		}
		n.log.Info("cluster member added", "id", c.ID, "address", c.Address, "voter", c.Voter)
		return nil, nil
	})
	n.HandleOnLeader(callRemoveMember, func(ctx context.Context, payload []byte) ([]byte, error) {
		var c memberChange
		if err := json.Unmarshal(payload, &c); err != nil {
			return nil, fmt.Errorf("malformed member change: %w", store.ErrInvalid)
		}
		if _, err := n.member(c.ID); err != nil {
			return nil, err
		}
		if err := n.raft.RemoveServer(raft.ServerID(c.ID), 0, n.cfg.ApplyTimeout).Error(); err != nil {
			return nil, err
		}
		n.log.Info("cluster member removed", "id", c.ID)
		return nil, nil
	})
	n.HandleOnLeader(callTransfer, func(ctx context.Context, payload []byte) ([]byte, error) {
		var c memberChange
		if err := json.Unmarshal(payload, &c); err != nil {
			return nil, fmt.Errorf("malformed transfer: %w", store.ErrInvalid)
		}
		var f raft.Future
		if c.ID == "" {
			members, err := n.Members()
			if err != nil {
				return nil, err
			}
			others := 0
			for _, m := range members {
				if m.Voter && !m.Self {
					others++
				}
			}
			if others == 0 {
				return nil, &store.FieldError{Field: "id", Reason: "the cluster has no other voter to hand the leadership to", Err: store.ErrInvalid}
			}
			f = n.raft.LeadershipTransfer()
		} else {
			m, err := n.member(c.ID)
			if err != nil {
				return nil, err
			}
			if !m.Voter || m.Self {
				return nil, &store.FieldError{Field: "id", Value: c.ID, Reason: "must name another voter", Err: store.ErrInvalid}
			}
			f = n.raft.LeadershipTransferToServer(raft.ServerID(m.ID), raft.ServerAddress(m.Address))
		}
		if err := f.Error(); err != nil {
			return nil, fmt.Errorf("transfer leadership: %w", err)
		}
		n.log.Info("leadership transferred", "to", c.ID)
		return nil, nil
	})
}

func (n *Node) member(id string) (Member, error) {
	members, err := n.Members()
	if err != nil {
		return Member{}, err
	}
	for _, m := range members {
		if m.ID == id {
			return m, nil
		}
	}
	return Member{}, fmt.Errorf("cluster member %q: %w", id, store.ErrNotFound)
}

// AddMember adds a running node, reachable at address, to the configuration.
func (n *Node) AddMember(ctx context.Context, id, address string, voter bool) error {
	_, err := n.CallLeader(ctx, callAddMember, mustJSON(memberChange{ID: id, Address: address, Voter: voter}))
	return err
}

// RemoveMember removes a node from the configuration.
func (n *Node) RemoveMember(ctx context.Context, id string) error {
	_, err := n.CallLeader(ctx, callRemoveMember, mustJSON(memberChange{ID: id}))
	return err
}

// TransferLeadership makes the leader hand over to the voter id, or to the
// most up-to-date voter when id is empty.
func (n *Node) TransferLeadership(ctx context.Context, id string) error {
	_, err := n.CallLeader(ctx, callTransfer, mustJSON(memberChange{ID: id}))
	return err
}
