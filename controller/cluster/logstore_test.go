package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/migrate"
)

// TestRaftLogOfAnEarlierVersionMovesToTheWAL: a data dir written before the
// write-ahead log keeps raft's log and terms in raft.db. The next start
// copies both into the write-ahead log and sets raft.db aside; with the
// store removed too, every record comes back from the copied log alone,
// the node writes on at the same term, and the copy is not made again.
func TestRaftLogOfAnEarlierVersionMovesToTheWAL(t *testing.T) {
	p := newTestPKI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	n := startNode(t, p, "n1", dir, "", true)
	if err := n.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := createService(ctx, n.raft, fmt.Sprintf("before-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	n.stop()
	term := writeLegacyLog(t, dir)
	// The store goes too: what comes back can only come from the log.
	for _, f := range []string{"ctrl.db", "ctrl.db.open"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	// An earlier copy that stopped half way is thrown away and made again.
	if err := os.MkdirAll(filepath.Join(dir, "wal.migrating"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wal.migrating", "junk"), []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}

	n = startNode(t, p, "n1", dir, "", false)
	if err := n.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every record back from the migrated log", 10*time.Second, func() bool {
		for i := range 30 {
			if !hasService(n, fmt.Sprintf("before-%d", i)) {
				return false
			}
		}
		return true
	})
	if err := createService(ctx, n.raft, "after"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"raft.db", "wal.migrating"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after the migration (%v)", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "raft.db.migrated")); err != nil {
		t.Errorf("the old log is not kept aside: %v", err)
	}
	n.stop()

	// The terms moved with the log: the next election is at a later term.
	w, meta := openTestWAL(t, filepath.Join(dir, "wal"))
	got, err := w.GetUint64([]byte("CurrentTerm"))
	closeTestWAL(t, w, meta)
	if err != nil || got <= term {
		t.Fatalf("current term after the migration: %d (%v), before: %d", got, err, term)
	}

	// A second start finds the log in place and copies nothing.
	n = startNode(t, p, "n1", dir, "", false)
	defer n.stop()
	if err := n.raft.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if !hasService(n, "after") || !hasService(n, "before-0") {
		t.Fatal("records lost on the start after the migration")
	}
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("raft.db came back: %v", err)
	}
}

// writeLegacyLog turns the write-ahead log of dir into the raft.db an
// earlier version kept, and returns the current term it holds.
func writeLegacyLog(t *testing.T, dir string) uint64 {
	t.Helper()
	walPath := filepath.Join(dir, "wal")
	w, meta := openTestWAL(t, walPath)
	old, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.CopyLogs(context.Background(), old, w, 1<<20, nil); err != nil {
		t.Fatal(err)
	}
	if err := migrate.CopyStable(context.Background(), old, w, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	term, err := old.GetUint64([]byte("CurrentTerm"))
	if err != nil || term == 0 {
		t.Fatalf("no term in the log: %d, %v", term, err)
	}
	var first raft.Log
	if err := old.GetLog(1, &first); err != nil {
		t.Fatalf("the legacy log lacks its first entry: %v", err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	closeTestWAL(t, w, meta)
	if err := os.RemoveAll(walPath); err != nil {
		t.Fatal(err)
	}
	return term
}

func openTestWAL(t *testing.T, dir string) (*wal.WAL, *metadb.BoltMetaDB) {
	t.Helper()
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(dir, wal.WithMetaStore(meta))
	if err != nil {
		t.Fatal(err)
	}
	return w, meta
}

func closeTestWAL(t *testing.T, w *wal.WAL, meta *metadb.BoltMetaDB) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := meta.Close(); err != nil {
		t.Fatal(err)
	}
}
