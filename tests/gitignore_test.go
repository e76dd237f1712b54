package tests

import (
	"os/exec"
	"testing"
)

// TestGitIgnoresLocalState checks that state made inside the checkout (a
// controller's default data directory, a quickstart home) is never
// committed: it holds CA keys and the admin password.
func TestGitIgnoresLocalState(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: cannot ask it what it ignores")
	}
	for _, path := range []string{"../ostium-data/ctrl.db", "../ostium-data/pki/root-ca.key", "../etc/ostium-data/ctrl.db",
		"../.quickstart/admin.password"} {
		if err := exec.Command("git", "check-ignore", "-q", path).Run(); err != nil {
			t.Errorf("git does not ignore %s: %v", path, err)
		}
	}
}
