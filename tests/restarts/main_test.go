package restarts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ostium-net/ostium/controller/auth"
)

// binDir holds the binaries built for this run, removed when the tests end.
var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	// Passwords hashed in this process (the admin's, at init) use a cheap argon2id cost; the
	// controller process verifies with the cost written in the hash.
	auth.DefaultArgon2 = auth.Argon2Params{Time: 1, Memory: 1024, Threads: 1, KeyLen: 32}
	dir, err := os.MkdirTemp("", "ostium-restarts-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// binaries builds ostium-controller and ostium-router once per run and returns their paths.
func binaries(t testing.TB) (controllerBin, routerBin string) {
	t.Helper()
	buildOnce.Do(func() {
		for _, pkg := range []string{"controller/cmd/ostium-controller", "router/cmd/ostium-router"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, filepath.Base(pkg)), "github.com/ostium-net/ostium/"+pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("building %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "ostium-controller"), filepath.Join(binDir, "ostium-router")
}
