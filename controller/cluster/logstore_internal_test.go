package cluster

import (
	"fmt"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestRaftLogOpensAgainAfterItsTailWasCut: a follower that meets a leader
// with other entries clears the end of its log (raft's DeleteRange of the
// tail) and writes on. The log must open again after a restart, with every
// entry before the cut and after it readable. (With the write-ahead log's
// v0.4.0 the cut marked the tail segment sealed without writing its index,
// and the next start panicked in raft.NewRaft: "sealed segment has no index
// block".)
func TestRaftLogOpensAgainAfterItsTailWasCut(t *testing.T) {
	dir := t.TempDir()
	store := func(s logStore, from, to uint64, term uint64) {
		t.Helper()
		var logs []*raft.Log
		for i := from; i <= to; i++ {
			logs = append(logs, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: fmt.Appendf(nil, "entry %d of term %d", i, term)})
		}
		if err := s.StoreLogs(logs); err != nil {
			t.Fatalf("store %d..%d: %v", from, to, err)
		}
	}
	reopen := func(s logStore) logStore {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatalf("close the log: %v", err)
		}
		s, err := openLogStore(dir, hclog.NewNullLogger())
		if err != nil {
			t.Fatalf("open the log again: %v", err)
		}
		return s
	}
	check := func(s logStore, last uint64, termAfter3 uint64) {
		t.Helper()
		for i := uint64(1); i <= last; i++ {
			var l raft.Log
			if err := s.GetLog(i, &l); err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
			want := uint64(1)
			if i > 3 {
				want = termAfter3
			}
			if l.Term != want {
				t.Fatalf("entry %d has term %d, want %d", i, l.Term, want)
			}
		}
		if got, err := s.LastIndex(); err != nil || got != last {
			t.Fatalf("last index %d (%v), want %d", got, err, last)
		}
	}

	s, err := openLogStore(dir, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	store(s, 1, 5, 1)
	if err := s.DeleteRange(4, 5); err != nil { // the follower's conflicting tail
		t.Fatalf("cut the tail: %v", err)
	}
	s = reopen(s)
	check(s, 3, 1)
	store(s, 4, 6, 2) // the leader's entries
	s = reopen(s)
	check(s, 6, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
