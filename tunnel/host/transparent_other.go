//go:build !linux

package host

import "syscall"

// transparentControl does nothing here: a source address binds only when it
// is this host's own.
func transparentControl(string, string, syscall.RawConn) error { return nil }
