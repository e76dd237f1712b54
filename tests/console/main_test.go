package console

import (
	"os"
	"testing"

	"github.com/ostium-net/ostium/controller/auth"
)

func TestMain(m *testing.M) {
	// Cheap password hashing, as tests/harness.Main sets it.
	auth.DefaultArgon2 = auth.Argon2Params{Time: 1, Memory: 1024, Threads: 1, KeyLen: 32}
	code := m.Run()
	stopChromium()
	os.Exit(code)
}
