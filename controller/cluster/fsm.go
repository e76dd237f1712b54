package cluster

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ostium-net/ostium/controller/command"
	"github.com/ostium-net/ostium/controller/store"
)

// fsm applies committed log entries to the store, a batch per bbolt
// transaction, and tells waiters how far it has applied.
type fsm struct {
	store *store.Store
	// batchSize observes how many entries each transaction applies.
	batchSize prometheus.Observer

	mu      sync.Mutex
	applied uint64
	// moved is closed, and replaced, each time applied changes: a waiter
	// takes the current one under mu and selects on it with its own stops,
	// so a wait needs neither a goroutine nor a broadcast to every waiter.
	moved chan struct{}
}

var _ raft.BatchingFSM = (*fsm)(nil)

func newFSM(s *store.Store) (*fsm, error) {
	idx, err := s.AppliedIndex()
	if err != nil {
		return nil, fmt.Errorf("read applied index: %w", err)
	}
	return &fsm{store: s, applied: idx, moved: make(chan struct{})}, nil
}

func (f *fsm) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

func (f *fsm) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	entries := make([]store.Entry, 0, len(logs))
	pos := make([]int, 0, len(logs))
	var last uint64
	for i, l := range logs {
		last = l.Index
		if l.Type != raft.LogCommand {
			continue
		}
		req, body, err := decodeEntry(l.Data)
		var cmd command.Command
		var at time.Time
		if err == nil {
			cmd, at, err = command.Decode(body)
		}
		if err != nil {
			// A command this node cannot read still advances the index, so
			// the error is reported once and not on every replay.
			out[i] = store.Result{Err: err}
			entries = append(entries, store.Entry{Index: l.Index, Apply: func(*store.Tx) (any, error) { return nil, err }})
			pos = append(pos, i)
			continue
		}
		entries = append(entries, store.Entry{Index: l.Index, Time: at, Apply: cmd.Apply, Request: req.storeRequest()})
		pos = append(pos, i)
	}
	if f.batchSize != nil && len(entries) > 0 {
		f.batchSize.Observe(float64(len(entries)))
	}
	results := f.store.ApplyBatch(entries)
	for j, r := range results {
		out[pos[j]] = r
	}
	f.advance(last)
	return out
}

func (f *fsm) advance(idx uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if idx > f.applied {
		f.setApplied(idx)
	}
}

// setApplied records the applied index and wakes the waiters; f.mu held.
func (f *fsm) setApplied(idx uint64) {
	f.applied = idx
	close(f.moved)
	f.moved = make(chan struct{})
}

func (f *fsm) appliedIndex() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

// waitApplied blocks until the index is applied, and reports false when
// stop or cancel is closed or the deadline passes first (a zero deadline
// has none).
func (f *fsm) waitApplied(idx uint64, stop, cancel <-chan struct{}, deadline time.Time) bool {
	var expired <-chan time.Time
	for {
		f.mu.Lock()
		applied, moved := f.applied, f.moved
		f.mu.Unlock()
		if applied >= idx {
			return true
		}
		if expired == nil && !deadline.IsZero() {
			t := time.NewTimer(time.Until(deadline))
			defer t.Stop()
			expired = t.C
		}
		select {
		case <-moved:
		case <-stop:
			return false
		case <-cancel:
			return false
		case <-expired:
			return false
		}
	}
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &snapshot{store: f.store}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.store.Restore(rc); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	idx, err := f.store.AppliedIndex()
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.setApplied(idx)
	f.mu.Unlock()
	return nil
}

// snapshot streams the bbolt file. It may hold entries applied after the
// snapshot's raft index; those are skipped on replay because the applied
// index travels inside the file.
type snapshot struct{ store *store.Store }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.store.Snapshot(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("stream snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}
