// Package exitcodetest checks, in each binary's tests, that a command exits
// with the codes every Ostium command shares and says why in one error line.
package exitcodetest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ostium-net/ostium/internal/exitcode"
)

// Case is one invocation: its arguments, the exit code expected and words
// its error must contain.
type Case struct {
	Args []string
	Code int
	Say  string
}

// Check runs each case on a fresh root command made by newRoot, through
// exitcode.Run as the binary's main does, and reports every case whose
// exit code or message differs, or whose error is said more than once.
func Check(t testing.TB, name string, newRoot func() *cobra.Command, cases []Case) {
	t.Helper()
	for _, tc := range cases {
		root := newRoot()
		root.SetArgs(tc.Args)
		var stderr bytes.Buffer
		code := exitcode.Run(root, &stderr)
		if code != tc.Code || !strings.Contains(stderr.String(), tc.Say) || strings.Count(stderr.String(), "error:") != 1 {
			t.Errorf("%s %v: exit %d, %q; want %d saying %q once", name, tc.Args, code, stderr.String(), tc.Code, tc.Say)
		}
	}
}
