// Package exitcode owns the exit codes every Ostium command shares (ostium,
// ostium-controller, ostium-router, ostium-tunnel), so that a script reads the
// same number for the same outcome from each, and the mapping of an error to
// its code.
package exitcode

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/spf13/cobra"
)

// The exit codes.
const (
	// OK: the command did what was asked.
	OK = 0
	// Error: any failure not listed below.
	Error = 1
	// Usage: the command line is wrong (unknown command or flag, missing or
	// extra arguments, a bad flag value).
	Usage = 2
	// Unauthorized: not logged in, a session that ended, refused credentials
	// or a refused identity.
	Unauthorized = 3
	// NotFound: the entity named does not exist.
	NotFound = 4
	// Unavailable: the controller (or another service the command needs)
	// could not be reached or could not serve for now; trying again later may
	// work.
	Unavailable = 5
)

// Describe is the list of codes, for help texts.
const Describe = `Exit codes: 0 success, 1 error, 2 usage error, 3 not logged in or not
authorized, 4 not found, 5 the controller could not be reached.`

// codedError carries an exit code with its error.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// With gives err the exit code code (nil stays nil).
func With(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

// Usagef is a usage error (exit code 2).
func Usagef(format string, args ...any) error {
	return With(Usage, fmt.Errorf(format, args...))
}

// usagePrefixes start cobra's own argument and flag errors.
var usagePrefixes = []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
	"invalid argument", "accepts ", "requires at least", "requires at most", "required flag", "bad flag syntax"}

// Of maps an error to its exit code: a code given with With, then an HTTP
// status an error reports (HTTPStatus() int: 401 and 403 unauthorized, 404
// not found, 502 to 504 unavailable), then network failures (unavailable),
// then cobra's usage errors; anything else is Error.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	var st interface{ HTTPStatus() int }
	if errors.As(err, &st) {
		switch s := st.HTTPStatus(); {
		case s == 401 || s == 403:
			return Unauthorized
		case s == 404:
			return NotFound
		case s == 502 || s == 503 || s == 504:
			return Unavailable
		}
		return Error
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op != "remote error" {
		return Unavailable
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return Unavailable
	}
	msg := err.Error()
	for _, p := range usagePrefixes {
		if strings.HasPrefix(msg, p) {
			return Usage
		}
	}
	return Error
}

// Run executes a command tree the way every Ostium binary does: flag errors
// are usage errors, an error is printed as one "error: ..." line on stderr,
// and the exit code follows Of. It returns the code for os.Exit.
func Run(root *cobra.Command, stderr io.Writer) int {
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return With(Usage, err) })
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
	}
	return Of(err)
}
