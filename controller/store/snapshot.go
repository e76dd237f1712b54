package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

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

// ErrExists is returned by Import when the database file is already there.
var ErrExists = errors.New("a database is already there")

// Import writes the database snapshot read from r (a file Snapshot wrote) to
// path, which must not exist yet, for a controller that starts a new raft
// log from it: the snapshot's applied index is reset to zero, so the new
// log's entries are applied rather than taken for ones applied before. A
// snapshot that does not open as a database of this schema is refused and
// nothing is left behind.
func Import(r io.Reader, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s: %w", path, ErrExists)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create store directory: %w", err)
	}
	tmp := path + ".import"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create import file: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		_ = f.Close()
		return fmt.Errorf("write import file: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync import file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close import file: %w", err)
	}
	if err := checkBolt(tmp); err != nil {
		return err
	}
	db, err := openDB(tmp, false)
	if err != nil {
		return fmt.Errorf("the backup is not a usable database: %w", err)
	}
	err = db.Update(func(btx *bolt.Tx) error {
		return btx.Bucket(metaBucket).Put(appliedIndexKey, u64(0))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("reset the applied index of the import: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("move the import into place: %w", err)
	}
	done = true
	return nil
}

// checkBolt refuses a file that is not a bbolt database (bbolt would try to
// make one of an empty file) or whose pages are inconsistent.
func checkBolt(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("the backup is not a database: %w", err)
	}
	defer db.Close()
	return db.View(func(btx *bolt.Tx) error {
		var first error
		for err := range btx.Check() { // read to the end: the checker stops then
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fmt.Errorf("the backup is damaged: %w", first)
		}
		if btx.Bucket(metaBucket) == nil {
			return errors.New("the backup is not a controller database (it has no meta bucket)")
		}
		return nil
	})
}

// Verify checks that the file at path is a sound controller database, as a
// backup must be.
func Verify(path string) error { return checkBolt(path) }
