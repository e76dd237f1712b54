package api_test

import (
	"os"
	"testing"

	"github.com/ostium-net/ostium/controller/auth"
)

// TestMain hashes the passwords these tests create with a cheap argon2id
// cost: hundreds of logins at the production cost (64 MiB each) would
// dominate the run. Verification reads the cost from each hash, so the
// flows are the same; package auth tests the production parameters.
func TestMain(m *testing.M) {
	auth.DefaultArgon2 = auth.Argon2Params{Time: 1, Memory: 1024, Threads: 1, KeyLen: 32}
	os.Exit(m.Run())
}
