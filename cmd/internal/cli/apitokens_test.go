package cli_test

import (
	"strings"
	"testing"

	"github.com/ostium-net/ostium/cmd/internal/cli"
)

// TestAPITokensFromTheCLI: an admin makes tokens, which are printed once;
// a terminal logged in with a read-only token lists but cannot change
// anything; a revoked token is refused.
func TestAPITokensFromTheCLI(t *testing.T) {
	url := startController(t)
	admin := newTerm(t)
	admin.login(url)

	ro := admin.run("create", "api-token", "dashboards", "--role", "read-only", "--expires", "30d")
	if ro.code != 0 || !strings.HasPrefix(ro.stdout, "ostium_at_") || !strings.Contains(ro.stderr, "shown only this once") {
		t.Fatalf("create api-token: %+v", ro)
	}
	roToken := strings.TrimSpace(ro.stdout)
	adminToken := strings.TrimSpace(admin.ok("create", "api-token", "ci", "--role", "admin", "--expires", "2h"))
	list := admin.ok("list", "api-tokens")
	if !strings.Contains(list, "dashboards") || !strings.Contains(list, "read-only") || strings.Contains(list, roToken) {
		t.Fatalf("list api-tokens:\n%s", list)
	}
	admin.fails(cli.ExitUsage, "--role is admin or read-only", "create", "api-token", "x", "--role", "root", "--expires", "1h")
	admin.fails(cli.ExitUsage, "--expires", "create", "api-token", "x", "--role", "admin", "--expires", "soon")
	admin.fails(cli.ExitUsage, "required flag", "create", "api-token", "x", "--role", "admin")

	// A terminal that logs in with the read-only token reads, and is refused writes.
	reader := newTerm(t)
	if out := reader.ok("login", url, "--token", roToken, "--yes"); !strings.Contains(out, "read-only API token dashboards") {
		t.Fatalf("login --token: %s", out)
	}
	if out := reader.ok("list", "identities"); !strings.Contains(out, "Default Admin") {
		t.Fatalf("list identities with a read-only token:\n%s", out)
	}
	reader.fails(cli.ExitUnauthorized, "read-only", "create", "service", "web")
	reader.fails(cli.ExitUnauthorized, "read-only", "create", "api-token", "more", "--role", "admin", "--expires", "1h")

	// An admin token writes.
	writer := newTerm(t)
	writer.ok("login", url, "--token", adminToken, "--yes")
	writer.ok("create", "service", "web")

	// Revoked, the read-only token is refused.
	admin.ok("delete", "api-token", "dashboards")
	reader.fails(cli.ExitUnauthorized, "UNAUTHORIZED", "list", "identities")
	newTerm(t).fails(cli.ExitUnauthorized, "", "login", url, "--token", roToken, "--yes")
	newTerm(t).fails(cli.ExitUsage, "API token", "login", url, "--token", "not-a-token", "--yes")
}
