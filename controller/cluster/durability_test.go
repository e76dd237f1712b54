package cluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/cluster"
)

// TestStoreLostWithTheMachineIsRebuilt: the store commits without fsync
// (the raft log is synced), so after the machine stops with the store open
// its file cannot be trusted. The next start sets it aside and rebuilds the
// store from raft's latest snapshot and the log after it: every write
// acknowledged before the stop is there, those before the snapshot and
// those after it.
func TestStoreLostWithTheMachineIsRebuilt(t *testing.T) {
	p := newTestPKI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	small := func(c *cluster.Config) { c.SnapshotThreshold, c.TrailingLogs = 5, 1 }
	n := startNodeWith(t, p, "n1", dir, "", true, small)
	if err := n.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	write := func(count int) {
		for range count {
			id := fmt.Sprintf("s%02d", len(ids))
			if err := createService(ctx, n.raft, id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
	}
	write(20)
	if err := n.raft.Snapshot(); err != nil {
		t.Fatal(err)
	}
	write(5)
	bind := n.bind
	n.stop()
	if len(installedSnapshots(t, dir)) == 0 {
		t.Fatal("no snapshot was taken: the test would not exercise a restore")
	}

	// What a power loss can leave: a marker from a boot that is not this
	// one, and a database file that is torn.
	db := filepath.Join(dir, "ctrl.db")
	if err := os.WriteFile(db+".open", []byte("a-boot-before-the-power-went\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, []byte("a page that never reached the disk"), 0o600); err != nil {
		t.Fatal(err)
	}

	n = startNodeWith(t, p, "n1", dir, bind, false, small)
	defer n.stop()
	if n.store.SetAside() == "" {
		t.Fatal("a store left open by a stopped machine was trusted")
	}
	if _, err := os.Stat(n.store.SetAside()); err != nil {
		t.Fatalf("the set-aside file is not kept for the operator: %v", err)
	}
	if err := n.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every acknowledged write to be back", 15*time.Second, func() bool {
		for _, id := range ids {
			if !hasService(n, id) {
				return false
			}
		}
		return true
	})
	// And it goes on taking writes.
	write(1)
	if !hasService(n, ids[len(ids)-1]) {
		t.Fatal("a write after the rebuild is missing")
	}
}

// TestStoreBehindTheSnapshotIsRestored: a store that has applied less than
// raft's latest snapshot (here a data directory whose store file was
// removed) cannot be caught up from the compacted log alone; the node
// restores the snapshot first and then replays the log.
func TestStoreBehindTheSnapshotIsRestored(t *testing.T) {
	p := newTestPKI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	small := func(c *cluster.Config) { c.SnapshotThreshold, c.TrailingLogs = 5, 1 }
	n := startNodeWith(t, p, "n1", dir, "", true, small)
	if err := n.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if err := createService(ctx, n.raft, fmt.Sprintf("b%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.raft.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if err := createService(ctx, n.raft, "after"); err != nil {
		t.Fatal(err)
	}
	bind := n.bind
	n.stop()
	if err := os.Remove(filepath.Join(dir, "ctrl.db")); err != nil {
		t.Fatal(err)
	}

	n = startNodeWith(t, p, "n1", dir, bind, false, small)
	defer n.stop()
	if err := n.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "records from the snapshot and the log", 15*time.Second, func() bool {
		for i := range 12 {
			if !hasService(n, fmt.Sprintf("b%d", i)) {
				return false
			}
		}
		return hasService(n, "after")
	})
}
