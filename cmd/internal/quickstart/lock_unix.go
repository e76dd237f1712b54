//go:build unix

package quickstart

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockHome takes the home's lock file, so that a second quickstart on the
// same home says so at once instead of waiting on the database. The lock
// goes with the process: a quickstart that dies leaves nothing to clean up.
func lockHome(home string) (unlock func(), err error) {
	path := filepath.Join(home, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("quickstart: lock %s: %w", home, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another quickstart is running in %s: stop it (Ctrl-C) or give another --home", home)
		}
		return nil, fmt.Errorf("quickstart: lock %s: %w", home, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
