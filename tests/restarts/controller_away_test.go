package restarts

import (
	"strings"
	"testing"
	"time"
)

// TestHostLogsTheTruthWhileTheControllerIsAway stops the controller for longer than a
// listener waits between two attempts to bind on more routers: dials keep working, and the
// host, whose binding is intact, never logs that it waits to bind.
func TestHostLogsTheTruthWhileTheControllerIsAway(t *testing.T) {
	n := startNetwork(t)
	n.OpenPolicies()
	n.Service("calm", false)
	n.router("r1", "")
	host, hostLogs := n.client("calm-host", "calm-bind")
	client, _ := n.client("calm-client", "calm-dial")
	ln, err := host.Listen("calm") // wants 3 routers, has 1: it keeps asking for more
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEcho(ln)
	if err := echoOnce(client, "calm", 10*time.Second); err != nil {
		t.Fatalf("first echo: %v", err)
	}
	mark := len(hostLogs.String())
	n.stopController()
	for deadline := time.Now().Add(7 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if err := echoOnce(client, "calm", 5*time.Second); err != nil {
			t.Fatalf("a dial with the controller away: %v", err)
		}
	}
	away := hostLogs.String()[mark:]
	if strings.Contains(away, "waiting to bind") {
		t.Fatalf("the host, bound all along, logged that it waits to bind:\n%s", away)
	}
	if !strings.Contains(away, "no new bind session") {
		t.Fatalf("the host did not ask for a new session to bind on more routers while the controller was away:\n%s", away)
	}
	n.startController()
	if err := echoOnce(client, "calm", 10*time.Second); err != nil {
		t.Fatalf("a dial after the controller returned: %v", err)
	}
}
