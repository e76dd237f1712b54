package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ostium-net/ostium/internal/exitcode"
)

// TestExitCodes checks that ostium-tunnel exits with the codes every Ostium
// command shares, and says what to do with a JWT given as its identity.
func TestExitCodes(t *testing.T) {
	jwt := filepath.Join(t.TempDir(), "tunnel.jwt")
	if err := os.WriteFile(jwt, []byte("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"run", "--bogus"}, exitcode.Usage, "unknown flag"},
		{[]string{"run"}, exitcode.Usage, "--identity is required"},
		{[]string{"frobnicate"}, exitcode.Usage, "unknown command"},
		{[]string{"run", "--identity", jwt}, exitcode.Error, "enroll it first"},
		{[]string{"proxy", "--identity", jwt, "web:8080"}, exitcode.Error, "enroll it first"},
	} {
		root := newRoot()
		root.SetArgs(tc.args)
		var stderr bytes.Buffer
		code := exitcode.Run(root, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.say) {
			t.Errorf("ostium-tunnel %v: exit %d, %q; want %d saying %q", tc.args, code, stderr.String(), tc.code, tc.say)
		}
	}
}
