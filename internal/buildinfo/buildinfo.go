// Package buildinfo holds the version, revision and build date stamped into
// binaries by the Makefile (-ldflags -X).
package buildinfo

import "runtime"

// Stamped at build time; the defaults mark a development build.
var (
	Version   = "0.0.0"
	Revision  = "unknown"
	BuildDate = "unknown"
)

// Runtime is the Go version the binary was built with.
func Runtime() string { return runtime.Version() }
