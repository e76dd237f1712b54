package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestClusterCommands(t *testing.T) {
	url := startController(t)
	tm := newTerm(t)
	tm.login(url)
	out := tm.ok("cluster", "list")
	if !strings.HasPrefix(out, "ID") || !strings.Contains(out, "true") {
		t.Fatalf("cluster table:\n%s", out)
	}
	var members []map[string]any
	if err := json.Unmarshal([]byte(tm.ok("cluster", "list", "-o", "json")), &members); err != nil || len(members) != 1 || members[0]["leader"] != true {
		t.Fatalf("cluster list as JSON: %v %v", err, members)
	}
	tm.fails(4, "NOT_FOUND", "cluster", "remove", "no-such-controller")
	tm.fails(4, "NOT_FOUND", "cluster", "transfer-leadership", "no-such-controller")
	tm.fails(1, "COULD_NOT_VALIDATE", "cluster", "add", "bad id!", "127.0.0.1:1")
	tm.fails(2, "", "cluster", "add", "only-an-id")
	if tok := strings.TrimSpace(tm.ok("cluster", "join-token", "--expires", "10m")); !strings.HasPrefix(tok, "ostium-join-v1.") {
		t.Fatalf("join-token printed %q", tok)
	}
	tm.fails(2, "--expires", "cluster", "join-token", "--expires", "10s")
}
