package main

import (
	"testing"

	"github.com/ostium-net/ostium/internal/exitcode"
	"github.com/ostium-net/ostium/internal/exitcode/exitcodetest"
)

// TestExitCodes checks that ostium-router exits with the codes every Ostium command
// shares.
func TestExitCodes(t *testing.T) {
	exitcodetest.Check(t, "ostium-router", newRoot, []exitcodetest.Case{
		{Args: []string{"run", "--bogus"}, Code: exitcode.Usage, Say: "unknown flag"},
		{Args: []string{"frobnicate"}, Code: exitcode.Usage, Say: "unknown command"},
		{Args: []string{"run", "--config", "/nonexistent/ostium.yml"}, Code: exitcode.Error, Say: "/nonexistent/ostium.yml"},
	})
}
