package store

import (
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Snapshot streams a consistent copy of the database to w without holding
// it all in memory.
func (s *Store) Snapshot(w io.Writer) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return errors.New("store is closed")
	}
	return s.db.View(func(btx *bolt.Tx) error {
		_, err := btx.WriteTo(w)
		return err
	})
}

// Restore replaces the database with the snapshot read from r. The new file
// is written beside the old one, synced, and swapped in; readers wait for the
// swap and then see the restored state. The process keeps running.
func (s *Store) Restore(r io.Reader) error {
	tmp := s.path + ".restore"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create restore file: %w", err)
	}
	if _, err := io.Copy(f, r); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("write restore file: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync restore file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close restore file: %w", err)
	}
	// Check the snapshot opens before touching the live database.
	probe, err := openDB(tmp, true)
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("snapshot is not a usable database: %w", err)
	}
	if err := probe.Close(); err != nil {
		return fmt.Errorf("close probed snapshot: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	noSync := false
	if s.db != nil {
		noSync = s.db.NoSync
		if err := s.db.Close(); err != nil {
			return fmt.Errorf("close database for restore: %w", err)
		}
		s.db = nil
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("swap in restored database: %w", err)
	}
	db, err := openDB(s.path, noSync)
	if err != nil {
		return fmt.Errorf("reopen restored database: %w", err)
	}
	s.db = db
	return nil
}
