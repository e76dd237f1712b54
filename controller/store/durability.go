package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// A store opened with Options.Rebuildable commits without fsync: the raft
// log (synced before an entry is committed) and raft's snapshots hold
// everything it holds, so it is a copy that can always be made again.
//
// What a commit wrote is then in the kernel's page cache, not yet on disk.
// That survives the process being killed, but not the machine stopping:
// after a power loss bbolt's file may hold a meta page that points at pages
// never written. So while the database is open a marker file beside it
// (path + ".open") names the machine's boot. Close syncs the database and
// removes the marker. Open, finding a marker from another boot (or one it
// cannot read), knows the machine went down with the database open and
// sets the file aside unopened; the store starts empty and the caller
// rebuilds it (the cluster restores raft's latest snapshot and replays the
// log). A marker from this boot means only the process died, and the file
// is complete.

const openMarkerSuffix = ".open"

// bootID names the running boot of the machine; tests replace it.
var bootID = readBootID

func readBootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", errors.New("read boot id: empty")
	}
	return id, nil
}

// prepareRebuildable checks the marker of a previous open and writes this
// one's. It returns the path the old file was moved to when it was set
// aside, or "".
func prepareRebuildable(path string) (setAside string, err error) {
	marker := path + openMarkerSuffix
	boot, bootErr := bootID()
	prev, readErr := os.ReadFile(marker)
	switch {
	case errors.Is(readErr, os.ErrNotExist):
		// Closed cleanly last time, or never opened.
	case readErr != nil:
		return "", fmt.Errorf("read %s: %w", marker, readErr)
	case bootErr != nil || strings.TrimSpace(string(prev)) != boot:
		setAside, err = setAsideDB(path)
		if err != nil {
			return "", err
		}
	}
	if bootErr != nil {
		// Without a boot id every unclean stop counts as a machine stop:
		// slower to recover from, never wrong.
		boot = "unknown"
	}
	if err := writeSynced(marker, []byte(boot+"\n")); err != nil {
		return "", err
	}
	return setAside, nil
}

// setAsideDB renames the database (if there is one) to a name with the
// time in it, so an operator can still look at it.
func setAsideDB(path string) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	to := fmt.Sprintf("%s.unclean-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("set aside %s after an unclean stop: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	return to, nil
}

// closeRebuildable runs after the database was synced and closed.
func closeRebuildable(path string) error {
	if err := os.Remove(path + openMarkerSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove open marker: %w", err)
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	// Some file systems cannot sync a directory; they say EINVAL.
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
