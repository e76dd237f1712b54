package store

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// withBoot makes the store see the given boot id (or fail to read one).
func withBoot(t *testing.T, id string, err error) {
	t.Helper()
	prev := bootID
	bootID = func() (string, error) { return id, err }
	t.Cleanup(func() { bootID = prev })
}

func openRebuildable(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{Rebuildable: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func writeService(t *testing.T, s *Store, index uint64, id string) {
	t.Helper()
	r := s.Apply(Entry{Index: index, Apply: func(tx *Tx) (any, error) {
		return nil, tx.Create(Services, &Service{Meta: Meta{ID: id}, Name: "svc-" + id})
	}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
}

func hasService(t *testing.T, s *Store, id string) bool {
	t.Helper()
	found := false
	if err := s.View(func(tx *Tx) error { found = tx.Exists(Services, id); return nil }); err != nil {
		t.Fatal(err)
	}
	return found
}

// dieWithProcess closes the database the way a killed process leaves it:
// nothing synced, the open marker still there.
func dieWithProcess(t *testing.T, s *Store) {
	t.Helper()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	s.db = nil
}

func TestRebuildableStoreTrustsACleanCloseAndAKilledProcess(t *testing.T) {
	withBoot(t, "boot-1", nil)
	path := filepath.Join(t.TempDir(), "ctrl.db")

	s := openRebuildable(t, path)
	if _, err := os.Stat(path + openMarkerSuffix); err != nil {
		t.Fatalf("no open marker while the store is open: %v", err)
	}
	writeService(t, s, 1, "a")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + openMarkerSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the open marker outlived a clean close: %v", err)
	}

	s = openRebuildable(t, path)
	if s.SetAside() != "" || !hasService(t, s, "a") {
		t.Fatalf("a cleanly closed store was not kept: set aside %q", s.SetAside())
	}
	writeService(t, s, 2, "b")
	dieWithProcess(t, s)

	// Same boot: only the process died, the page cache held every commit.
	s = openRebuildable(t, path)
	defer s.Close()
	if s.SetAside() != "" || !hasService(t, s, "a") || !hasService(t, s, "b") {
		t.Fatalf("a store left by a killed process was not kept whole: set aside %q", s.SetAside())
	}
}

func TestRebuildableStoreLeftOpenByAnotherBootIsSetAside(t *testing.T) {
	for _, tc := range []struct {
		name    string
		bootErr error
	}{
		{"the machine restarted", nil},
		{"the boot cannot be told", errors.New("no boot id here")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ctrl.db")
			withBoot(t, "boot-1", nil)
			s := openRebuildable(t, path)
			writeService(t, s, 1, "a")
			dieWithProcess(t, s)

			withBoot(t, "boot-2", tc.bootErr)
			s = openRebuildable(t, path)
			defer s.Close()
			aside := s.SetAside()
			if aside == "" {
				t.Fatal("a store open when the machine stopped was trusted")
			}
			if _, err := os.Stat(aside); err != nil {
				t.Fatalf("the set-aside file is gone: %v", err)
			}
			if hasService(t, s, "a") {
				t.Fatal("the new store holds records of the untrusted one")
			}
			if idx, err := s.AppliedIndex(); err != nil || idx != 0 {
				t.Fatalf("applied index %d (%v), want 0 so that the store is rebuilt", idx, err)
			}
		})
	}
}

func TestRebuildableStoreDoesNotOpenATornFile(t *testing.T) {
	withBoot(t, "boot-2", nil)
	path := filepath.Join(t.TempDir(), "ctrl.db")
	if err := os.WriteFile(path, []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+openMarkerSuffix, []byte("boot-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{Rebuildable: true})
	if err != nil {
		t.Fatalf("a torn file left by a stopped machine kept the store from opening: %v", err)
	}
	defer s.Close()
	if s.SetAside() == "" {
		t.Fatal("the torn file was not set aside")
	}
}

// TestGrowingDoesNotWaitForReaders: a commit that makes the file grow past
// what was written so far completes while a read transaction stays open,
// since the database is mapped large enough from the start; bbolt would
// otherwise wait for the reader to end before mapping the grown file (and
// hold every new reader meanwhile). The rebuildable store does not sync the
// growth, as it does not sync its commits.
func TestGrowingDoesNotWaitForReaders(t *testing.T) {
	if mmapReserve == 0 {
		t.Skip("32-bit platforms map the database as bbolt grows it")
	}
	withBoot(t, "boot-1", nil)
	s := openRebuildable(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	if !s.db.NoGrowSync {
		t.Error("the rebuildable store syncs the file's growth")
	}
	reading := make(chan struct{})
	release := make(chan struct{})
	readerDone := make(chan error, 1)
	go func() {
		readerDone <- s.db.View(func(*bolt.Tx) error {
			close(reading)
			<-release
			return nil
		})
	}()
	<-reading
	grown := make(chan error, 1)
	go func() {
		// 64 MiB, well past the mapping bbolt starts a small file with.
		value := make([]byte, 64<<10)
		grown <- s.db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("grow-test"))
			if err != nil {
				return err
			}
			for i := range 1024 {
				if err := b.Put(binary.BigEndian.AppendUint32(nil, uint32(i)), value); err != nil {
					return err
				}
			}
			return nil
		})
	}()
	var growErr error
	waited := false
	select {
	case growErr = <-grown:
	case <-time.After(time.Minute):
		waited = true
	}
	close(release)
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	if waited {
		growErr = <-grown
		t.Error("the growing commit waited for the open reader")
	}
	if growErr != nil {
		t.Fatal(growErr)
	}
}
