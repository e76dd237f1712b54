package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ostium-net/ostium/internal/exitcode"
)

// TestExitCodes checks that ostium-controller exits with the codes every Ostium command
// shares.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"run", "--bogus"}, exitcode.Usage, "unknown flag"},
		{[]string{"frobnicate"}, exitcode.Usage, "unknown command"},
		{[]string{"run", "--config", "/nonexistent/ostium.yml"}, exitcode.Error, "/nonexistent/ostium.yml"},
	} {
		root := newRoot()
		root.SetArgs(tc.args)
		var stderr bytes.Buffer
		code := exitcode.Run(root, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.say) || strings.Count(stderr.String(), "error:") != 1 {
			t.Errorf("ostium-controller %v: exit %d, %q; want %d saying %q", tc.args, code, stderr.String(), tc.code, tc.say)
		}
	}
}
