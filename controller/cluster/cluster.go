// Package cluster runs the controller's replicated state machine: a
// hashicorp/raft node (raft-wal log store) whose FSM is the bbolt store.
// A single voter is the default; more nodes join with Join. Every state
// change goes through Apply, which proposes on the leader or forwards to it,
// and returns once the change is applied on this node too, so a caller reads
// its own writes. All traffic between controllers, raft's included, runs on
// one TCP port inside mutual TLS.
package cluster

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// Config describes one controller node of the cluster.
type Config struct {
	// NodeID names this node in the raft configuration; stable across restarts.
	NodeID string
	// DataDir holds wal/ (raft's log and stable store) and snapshots.
	DataDir string
	// Bind is the cluster listen address (host:port; port 0 picks one).
	Bind string
	// Advertise is the address other nodes use; defaults to the bound address.
	Advertise string
	// TLS is used both to serve and to dial peers. It must require and verify
	// client certificates of peer controllers.
	TLS *tls.Config
	// Bootstrap makes a new node the single voter of a new cluster when it
	// has no raft state yet. Nodes that join an existing cluster leave it off.
	Bootstrap bool
	// Offline serves no cluster port: the node, a single voter, applies
	// entries on its own and names Advertise (or Bind) as its address
	// without listening on it. A first initialisation runs so, and works
	// while the cluster port is still taken.
	Offline bool
	// Timing; zero values take defaults suited to a LAN.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	ApplyTimeout     time.Duration
	// LeaderWait is how long a write or a read waits for a leader when this
	// node has known none before it answers that the cluster has no leader:
	// a node cut off from the majority refuses quickly instead of hanging,
	// and once it has been without a leader that long, at once. Defaults to
	// two heartbeat timeouts and an election timeout, enough for a restarted
	// node to find its leader and for an election with one split vote.
	LeaderWait time.Duration
	// SnapshotThreshold is how many log entries trigger a snapshot, and
	// TrailingLogs how many are kept after one (raft's defaults when zero):
	// a follower further behind than that is sent the snapshot.
	SnapshotThreshold uint64
	TrailingLogs      uint64
	Logger            *slog.Logger
	// Metrics, when set, receives the node's metrics (ostium_raft_...).
	Metrics prometheus.Registerer
}

// Raft timing defaults. A follower that hears nothing from the leader for a
// random time between one and two heartbeat timeouts starts an election;
// these values bring a new leader in about a second on a LAN, and leave room
// for scheduling pauses of a few hundred milliseconds on a busy machine.
const (
	DefaultHeartbeatTimeout = 500 * time.Millisecond
	DefaultElectionTimeout  = 500 * time.Millisecond
)

// Node is a running raft node over a store.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	fsm   *fsm
	raft  *raft.Raft
	mux   *mux
	logs  logStore
	done  chan struct{}
	met   *metrics

	callsMu sync.RWMutex
	calls   map[string]LeaderFunc

	// readyTerm is the term in which this node, as leader, committed an
	// entry of its own (see readIndexLocal).
	readyTerm atomic.Uint64
	barrierMu sync.Mutex
	// hadState is set when raft found a log or snapshot at start: the node
	// was a member before and needs no join.
	hadState bool
	peers    peers
	// leaderlessSince is when this node stopped knowing a leader (unix
	// nanoseconds), 0 while it knows one.
	leaderlessSince atomic.Int64
}

// LeaderFunc is work that must run on the leader (for example signing a
// certificate with the network's CA), called by name with an opaque payload.
type LeaderFunc func(ctx context.Context, payload []byte) ([]byte, error)

// HandleOnLeader registers a function that CallLeader runs on the leader.
func (n *Node) HandleOnLeader(name string, f LeaderFunc) {
	n.callsMu.Lock()
	defer n.callsMu.Unlock()
	if n.calls == nil {
		n.calls = map[string]LeaderFunc{}
	}
	n.calls[name] = f
}

func (n *Node) leaderFunc(name string) (LeaderFunc, bool) {
	n.callsMu.RLock()
	defer n.callsMu.RUnlock()
	f, ok := n.calls[name]
	return f, ok
}

type callRequest struct {
	Name    string `json:"name"`
	Payload []byte `json:"payload"`
}

type callResponse struct {
	Payload []byte     `json:"payload,omitempty"`
	Err     *wireError `json:"err,omitempty"`
}

// CallLeader runs a registered function on the leader: here when this node
// leads, otherwise over the cluster port. Domain errors survive the trip.
func (n *Node) CallLeader(ctx context.Context, name string, payload []byte) ([]byte, error) {
	deadline := time.Now().Add(n.cfg.ApplyTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for attempt := 0; ; attempt++ {
		var out []byte
		var err error
		if n.IsLeader() {
			f, ok := n.leaderFunc(name)
			if !ok {
				return nil, fmt.Errorf("no leader function %q", name)
			}
			return f(ctx, payload)
		}
		addr, _ := n.Leader()
		if addr == "" {
			err = ErrNoLeader
		} else {
			out, err = n.callRemote(addr, name, payload, deadline)
			if err == nil {
				return out, nil
			}
		}
		if !retryable(err) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(25*(attempt+1)) * time.Millisecond):
		}
	}
}

func (n *Node) callRemote(addr, name string, payload []byte, deadline time.Time) ([]byte, error) {
	c, err := n.mux.dial(addr, connCall, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errForwardTransport, err)
	}
	defer c.Close()
	_ = c.SetDeadline(deadline.Add(time.Second))
	if err := writeFrame(c, mustJSON(callRequest{Name: name, Payload: payload})); err != nil {
		return nil, fmt.Errorf("%w: send: %v", errForwardTransport, err)
	}
	raw, err := readFrame(c)
	if err != nil {
		return nil, fmt.Errorf("%w: receive: %v", errForwardTransport, err)
	}
	var resp callResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, fmt.Errorf("%w: decode: %v", errForwardTransport, err)
	}
	if resp.Err != nil {
		return nil, fromWire(resp.Err)
	}
	return resp.Payload, nil
}

func (n *Node) serveCall(payload []byte) callResponse {
	var req callRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return callResponse{Err: &wireError{Class: "invalid", Msg: "malformed call"}}
	}
	if !n.IsLeader() {
		return callResponse{Err: &wireError{Class: "not-leader", Msg: "this node is not the leader"}}
	}
	f, ok := n.leaderFunc(req.Name)
	if !ok {
		return callResponse{Err: &wireError{Class: "invalid", Msg: fmt.Sprintf("no leader function %q", req.Name)}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	out, err := f(ctx, req.Payload)
	return callResponse{Payload: out, Err: toWire(err)}
}

// Start opens the raft state in cfg.DataDir and starts the node.
func Start(cfg Config, s *store.Store) (*Node, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("cluster: node id is required")
	}
	if cfg.TLS == nil {
		return nil, errors.New("cluster: TLS configuration is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ApplyTimeout == 0 {
		cfg.ApplyTimeout = 10 * time.Second
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = DefaultElectionTimeout
	}
	if cfg.LeaderWait <= 0 {
		cfg.LeaderWait = 2*cfg.HeartbeatTimeout + cfg.ElectionTimeout
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: create data dir: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, store: s, done: make(chan struct{}), met: newMetrics()}
	f, err := newFSM(s)
	if err != nil {
		return nil, err
	}
	f.batchSize = n.met.batchSize
	n.fsm = f

	n.mux, err = newMux(cfg.Bind, cfg.Advertise, cfg.Offline, cfg.TLS, n.handle)
	if err != nil {
		return nil, err
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Error, Output: slogWriter{cfg.Logger}})
	transport := raft.NewNetworkTransportWithLogger(streamLayer{n.mux}, 3, 10*time.Second, hlog)

	n.logs, err = openLogStore(cfg.DataDir, hlog)
	if err != nil {
		_ = n.mux.close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hlog)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("cluster: open snapshot store: %w", err)
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	// The store survives restarts on its own; raft only needs to replay the
	// entries after the store's applied index, which the FSM skips itself.
	// A store behind raft's latest snapshot (one set aside after the machine
	// stopped, or removed by hand) cannot be caught up from the log, whose
	// older entries are compacted: it is restored from the snapshot first.
	restore, err := storeBehindSnapshot(s, snaps)
	if err != nil {
		n.closeStores()
		return nil, err
	}
	rc.NoSnapshotRestoreOnStart = !restore
	if restore {
		cfg.Logger.Warn("the store is behind raft's latest snapshot; restoring the snapshot and replaying the log after it")
	}
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	rc.ElectionTimeout = cfg.ElectionTimeout
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	rc.BatchApplyCh = true

	has, err := raft.HasExistingState(n.logs, n.logs, snaps)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("cluster: inspect raft state: %w", err)
	}
	n.hadState = has
	n.leaderlessSince.Store(time.Now().UnixNano())
	n.raft, err = raft.NewRaft(rc, f, n.logs, n.logs, snaps, transport)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("cluster: start raft: %w", err)
	}
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{n.met.applyDuration, n.met.batchSize, newRaftCollector(n)} {
			if err := cfg.Metrics.Register(c); err != nil {
				_ = n.raft.Shutdown().Error()
				n.closeStores()
				return nil, fmt.Errorf("cluster: register metrics: %w", err)
			}
		}
	}
	n.watchLeadership()
	n.registerMembershipCalls()
	go n.runPings()
	if cfg.Bootstrap && !has {
		boot := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: transport.LocalAddr()}}}
		if err := n.raft.BootstrapCluster(boot).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			_ = n.Close()
			return nil, fmt.Errorf("cluster: bootstrap: %w", err)
		}
	}
	return n, nil
}

func (n *Node) closeStores() {
	_ = n.mux.close()
	if n.logs != nil {
		_ = n.logs.Close()
	}
}

// storeBehindSnapshot reports whether the store has applied less than raft's
// latest snapshot holds.
func storeBehindSnapshot(s *store.Store, snaps raft.SnapshotStore) (bool, error) {
	metas, err := snaps.List()
	if err != nil {
		return false, fmt.Errorf("cluster: list snapshots: %w", err)
	}
	if len(metas) == 0 {
		return false, nil
	}
	applied, err := s.AppliedIndex()
	if err != nil {
		return false, fmt.Errorf("cluster: read applied index: %w", err)
	}
	return applied < metas[0].Index, nil
}

// HadState reports whether the node found raft state when it started: it is
// a member already and rejoins on its own.
func (n *Node) HadState() bool { return n.hadState }

// Addr is the address other nodes reach this node's cluster port at.
func (n *Node) Addr() string { return n.mux.advertise.String() }

// ID is this node's raft id.
func (n *Node) ID() string { return n.cfg.NodeID }

// IsLeader reports whether this node leads the cluster now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's cluster address and id, empty when unknown.
func (n *Node) Leader() (addr, id string) {
	a, i := n.raft.LeaderWithID()
	return string(a), string(i)
}

// WaitLeader blocks until some node leads the cluster.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if a, _ := n.Leader(); a != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no raft leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Join asks the cluster at addr to add this node as a voter. Any member may
// be asked; followers pass the request to the leader.
func (n *Node) Join(ctx context.Context, addr string) error {
	req := joinRequest{ID: n.cfg.NodeID, Address: n.Addr()}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := n.call(addr, connJoin, mustJSON(req), deadline)
		if err == nil {
			return nil
		}
		if !retryable(err) || time.Now().After(deadline) {
			return fmt.Errorf("join cluster via %s: %w", addr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RemoveServer removes a node from the raft configuration (leader only).
func (n *Node) RemoveServer(id string) error {
	return n.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second).Error()
}

// Snapshot asks raft to take a snapshot now.
func (n *Node) Snapshot() error { return n.raft.Snapshot().Error() }

// Close stops the node. The store stays open; its owner closes it.
func (n *Node) Close() error {
	select {
	case <-n.done:
		return nil
	default:
	}
	close(n.done)
	err := n.raft.Shutdown().Error()
	_ = n.mux.close()
	if cerr := n.logs.Close(); err == nil {
		err = cerr
	}
	return err
}

// ---- forwarding protocol: 4-byte big-endian length + payload, both ways ----

type joinRequest struct {
	ID      string `json:"id"`
	Address string `json:"address"`
}

type wireError struct {
	Class  string `json:"class"`
	Field  string `json:"field,omitempty"`
	Value  string `json:"value,omitempty"`
	Reason string `json:"reason,omitempty"`
	Msg    string `json:"msg"`
}

type wireResponse struct {
	Index    uint64     `json:"index"`
	Err      *wireError `json:"err,omitempty"`
	Repeated bool       `json:"repeated,omitempty"`
	Created  []string   `json:"created,omitempty"`
}

var errForwardTransport = errors.New("forward to leader failed")

var errorClasses = []struct {
	name string
	err  error
}{
	{"not-found", store.ErrNotFound},
	{"stale", command.ErrStale},
	{"conflict", store.ErrConflict},
	{"invalid-reference", store.ErrInvalidReference},
	{"invalid", store.ErrInvalid},
	{"unknown", errUnknownAttempt},
	{"key-reused", ErrIdempotencyKeyReused},
	{"unauthorized", store.ErrUnauthorized},
	{"refused", store.ErrRefused},
	{"not-leader", ErrNoLeader},
}

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	we := &wireError{Class: "other", Msg: err.Error()}
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		we.Class = "not-leader"
	}
	for _, c := range errorClasses {
		if errors.Is(err, c.err) {
			we.Class = c.name
			break
		}
	}
	var fe *store.FieldError
	if errors.As(err, &fe) {
		we.Field, we.Value, we.Reason = fe.Field, fe.Value, fe.Reason
	}
	return we
}

func fromWire(we *wireError) error {
	if we == nil {
		return nil
	}
	var base error = errors.New(we.Msg)
	for _, c := range errorClasses {
		if c.name == we.Class {
			base = c.err
		}
	}
	if we.Field != "" {
		return &store.FieldError{Field: we.Field, Value: we.Value, Reason: we.Reason, Err: base}
	}
	if we.Class == "other" {
		return base
	}
	return fmt.Errorf("%s: %w", we.Msg, base)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

const maxFrame = 64 << 20

func writeFrame(w io.Writer, p []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(p)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes exceeds %d", size, maxFrame)
	}
	buf := make([]byte, size)
	_, err := io.ReadFull(r, buf)
	return buf, err
}

func (n *Node) call(addr string, kind byte, payload []byte, deadline time.Time) error {
	_, err := n.callResp(addr, kind, payload, deadline)
	return err
}

func (n *Node) callResp(addr string, kind byte, payload []byte, deadline time.Time) (*wireResponse, error) {
	c, err := n.mux.dial(addr, kind, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errForwardTransport, err)
	}
	defer c.Close()
	_ = c.SetDeadline(deadline.Add(time.Second))
	if err := writeFrame(c, payload); err != nil {
		return nil, fmt.Errorf("%w: send: %v", errForwardTransport, err)
	}
	raw, err := readFrame(c)
	if err != nil {
		return nil, fmt.Errorf("%w: receive: %v", errForwardTransport, err)
	}
	var resp wireResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, fmt.Errorf("%w: decode: %v", errForwardTransport, err)
	}
	if resp.Err != nil {
		return nil, fromWire(resp.Err)
	}
	return &resp, nil
}

// handle serves a forwarded command or a join request from a peer.
func (n *Node) handle(kind byte, c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(n.cfg.ApplyTimeout + 5*time.Second))
	payload, err := readFrame(c)
	if err != nil {
		return
	}
	if kind == connCall {
		_ = writeFrame(c, mustJSON(n.serveCall(payload)))
		return
	}
	if kind == connPing {
		_ = writeFrame(c, mustJSON(n.servePing()))
		return
	}
	var resp wireResponse
	switch kind {
	case connForward:
		resp = n.serveForward(payload)
	case connReadIndex:
		resp = n.serveReadIndex()
	case connJoin:
		var req joinRequest
		if err := json.Unmarshal(payload, &req); err != nil || req.ID == "" || req.Address == "" {
			resp.Err = &wireError{Class: "invalid", Msg: "join request needs an id and an address"}
			break
		}
		if !n.IsLeader() {
			addr, _ := n.Leader()
			if addr == "" {
				resp.Err = &wireError{Class: "not-leader", Msg: "no leader to join"}
				break
			}
			r, err := n.callResp(addr, connJoin, payload, time.Now().Add(n.cfg.ApplyTimeout))
			if err != nil {
				resp.Err = toWire(err)
			} else {
				resp = *r
			}
			break
		}
		f := n.raft.AddVoter(raft.ServerID(req.ID), raft.ServerAddress(req.Address), 0, n.cfg.ApplyTimeout)
		if err := f.Error(); err != nil {
			resp.Err = toWire(err)
		} else {
			resp.Index = f.Index()
			n.log.Info("cluster member added", "id", req.ID, "address", req.Address)
		}
	}
	_ = writeFrame(c, mustJSON(resp))
}

// slogWriter turns hclog's text lines into slog records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(string(trimNL(p)), "component", "raft")
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
