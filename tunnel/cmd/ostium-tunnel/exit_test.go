package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ostium-net/ostium/internal/exitcode"
	"github.com/ostium-net/ostium/internal/exitcode/exitcodetest"
)

// TestExitCodes checks that ostium-tunnel exits with the codes every Ostium
// command shares, and says what to do with a JWT given as its identity.
func TestExitCodes(t *testing.T) {
	jwt := filepath.Join(t.TempDir(), "tunnel.jwt")
	if err := os.WriteFile(jwt, []byte("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exitcodetest.Check(t, "ostium-tunnel", newRoot, []exitcodetest.Case{
		{Args: []string{"run", "--bogus"}, Code: exitcode.Usage, Say: "unknown flag"},
		{Args: []string{"run"}, Code: exitcode.Usage, Say: "--identity is required"},
		{Args: []string{"frobnicate"}, Code: exitcode.Usage, Say: "unknown command"},
		{Args: []string{"run", "--identity", jwt}, Code: exitcode.Error, Say: "enroll it first"},
		{Args: []string{"proxy", "--identity", jwt, "web:8080"}, Code: exitcode.Error, Say: "enroll it first"},
	})
}
