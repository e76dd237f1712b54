package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/migrate"
	bolt "go.etcd.io/bbolt"
)

// logStore is raft's log and stable store (its terms and votes).
type logStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

const (
	// walDir holds the raft log: segment files appended to, plus a small
	// bbolt file naming the segments and holding the stable store.
	walDir = "wal"
	// legacyLogFile is the bbolt log store of data dirs written before the
	// write-ahead log; its content moves into walDir once.
	legacyLogFile = "raft.db"
	// walSegmentSize bounds one segment file; a full segment is sealed and a
	// new one started in the background, and segments wholly before the
	// oldest kept entry are deleted when raft compacts its log.
	walSegmentSize = 32 << 20
)

// openLogStore opens the raft log of dataDir: a write-ahead log of segment
// files, where appending a batch of entries costs one write and one
// fdatasync (a bbolt log store costs two of each and rewrites the pages of
// its tree). A data dir written by an earlier version keeps its log in
// raft.db: the log and the stable store are copied into the write-ahead log
// first, and raft.db is renamed raft.db.migrated, so nothing committed is
// lost and the copy is never made twice.
func openLogStore(dataDir string, log hclog.Logger) (logStore, error) {
	dir := filepath.Join(dataDir, walDir)
	legacy := filepath.Join(dataDir, legacyLogFile)
	_, werr := os.Stat(dir)
	_, lerr := os.Stat(legacy)
	switch {
	case werr == nil && lerr == nil:
		// The copy completed (the log is renamed into place last) but the
		// old file was not yet set aside.
		if err := os.Rename(legacy, legacy+".migrated"); err != nil {
			return nil, fmt.Errorf("set aside the migrated raft log: %w", err)
		}
	case errors.Is(werr, fs.ErrNotExist) && lerr == nil:
		if err := migrateLegacyLog(dataDir, log); err != nil {
			return nil, err
		}
	case werr != nil && !errors.Is(werr, fs.ErrNotExist):
		return nil, fmt.Errorf("inspect the raft log: %w", werr)
	}
	return openWAL(dir, log)
}

// walStore is the write-ahead log with its metadata file, which the log's
// own Close leaves open (and locked, so the log could not be opened again in
// the same process).
type walStore struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
}

func (s walStore) Close() error {
	err := s.WAL.Close()
	if cerr := s.meta.Close(); err == nil {
		err = cerr
	}
	return err
}

func openWAL(dir string, log hclog.Logger) (walStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return walStore{}, fmt.Errorf("create the raft log dir: %w", err)
	}
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(dir, wal.WithLogger(log), wal.WithSegmentSize(walSegmentSize), wal.WithMetaStore(meta))
	if err != nil {
		_ = meta.Close()
		return walStore{}, fmt.Errorf("open the raft log: %w", err)
	}
	return walStore{WAL: w, meta: meta}, nil
}

// migrateLegacyLog copies raft.db into a fresh write-ahead log built beside
// the final one and renamed into place only when complete, then sets
// raft.db aside. A crash at any point leaves either the old log alone (the
// copy starts over) or the complete new one.
func migrateLegacyLog(dataDir string, log hclog.Logger) error {
	legacy := filepath.Join(dataDir, legacyLogFile)
	building := filepath.Join(dataDir, walDir+".migrating")
	if err := os.RemoveAll(building); err != nil {
		return fmt.Errorf("remove an unfinished raft log copy: %w", err)
	}
	src, err := raftboltdb.New(raftboltdb.Options{Path: legacy, BoltOptions: &bolt.Options{Timeout: 5 * time.Second}})
	if err != nil {
		return fmt.Errorf("open the raft log to migrate: %w", err)
	}
	defer func() { _ = src.Close() }()
	dst, err := openWAL(building, log)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := copyLog(ctx, dst, src); err != nil {
		_ = dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("close the migrated raft log: %w", err)
	}
	if err := os.Rename(building, filepath.Join(dataDir, walDir)); err != nil {
		return fmt.Errorf("move the migrated raft log into place: %w", err)
	}
	if err := syncDir(dataDir); err != nil {
		return err
	}
	if err := os.Rename(legacy, legacy+".migrated"); err != nil {
		return fmt.Errorf("set aside the migrated raft log: %w", err)
	}
	log.Info("raft log moved to a write-ahead log", "from", legacy)
	return nil
}

func copyLog(ctx context.Context, dst, src logStore) error {
	last, err := src.LastIndex()
	if err != nil {
		return fmt.Errorf("read the raft log to migrate: %w", err)
	}
	if last > 0 {
		if err := migrate.CopyLogs(ctx, dst, src, 1<<20, nil); err != nil {
			return fmt.Errorf("copy the raft log: %w", err)
		}
	}
	return copyStable(dst, src)
}

// copyStable copies the keys raft keeps in its stable store: the current
// term and the last vote. A key never written (a node that never voted) is
// left unwritten.
func copyStable(dst, src raft.StableStore) error {
	for _, k := range []string{"CurrentTerm", "LastVoteTerm"} {
		v, err := src.GetUint64([]byte(k))
		if errors.Is(err, raftboltdb.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read raft's %s: %w", k, err)
		}
		if err := dst.SetUint64([]byte(k), v); err != nil {
			return fmt.Errorf("copy raft's %s: %w", k, err)
		}
	}
	v, err := src.Get([]byte("LastVoteCand"))
	if errors.Is(err, raftboltdb.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read raft's last vote: %w", err)
	}
	if err := dst.Set([]byte("LastVoteCand"), v); err != nil {
		return fmt.Errorf("copy raft's last vote: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// GetLog reads one entry. An entry raft has compacted away is not found even
// while the segment holding it is still on disk, so a follower too far
// behind is sent the snapshot, as raft expects, and not a log the leader no
// longer counts as its own.
func (s walStore) GetLog(index uint64, l *raft.Log) error {
	first, err := s.WAL.FirstIndex()
	if err != nil {
		return err
	}
	if index < first {
		return raft.ErrLogNotFound
	}
	return s.WAL.GetLog(index, l)
}
