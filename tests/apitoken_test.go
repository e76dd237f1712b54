package tests

import (
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/tests/harness"
)

// TestAPITokenOnAFollower: a token made on the leader works on a follower,
// its use there reaches the replicated store (lastUsedAt on the leader), a
// read-only one is refused writes there, and a revocation on the leader
// holds on the follower.
func TestAPITokenOnAFollower(t *testing.T) {
	short := func(c *controller.Config) { c.API.SessionIdleTimeout = controller.Duration(time.Second) }
	n := harness.StartWith(t, short)
	f := startFollower(t, n, short)
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	var made struct{ ID, Token string }
	n.Mgmt("POST", "/api-tokens", map[string]any{"name": "reader", "role": "read-only", "expiresAt": expires}, &made)

	mgmt := f.base + "/edge/management/v1"
	if status, env := f.call("GET", mgmt+"/services", made.Token, nil); status != 200 {
		t.Fatalf("a read-only token on the follower: %d %v", status, env)
	}
	if status, env := f.call("POST", mgmt+"/services", made.Token, map[string]any{"name": "nope"}); status != 403 {
		t.Fatalf("a read-only token wrote through the follower: %d %v", status, env)
	}
	// The follower's record of the use reaches the leader through raft.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var tok map[string]any
		n.Mgmt("GET", "/api-tokens/"+made.ID, nil, &tok)
		if tok["lastUsedAt"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leader never learned of the use on the follower: %v", tok)
		}
		time.Sleep(100 * time.Millisecond)
	}

	n.Mgmt("DELETE", "/api-tokens/"+made.ID, nil, nil)
	deadline = time.Now().Add(10 * time.Second)
	for {
		status, _ := f.call("GET", mgmt+"/services", made.Token, nil)
		if status == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follower still accepts a revoked token: %d", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
