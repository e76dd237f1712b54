package restarts

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestHostBindsAgainAsSoonAsItsRouterReturns kills the only router (SIGKILL) while a host is
// bound through it, keeps it down for a while and starts it again: the host binds again as
// soon as the router accepts connections, whatever the time it was down, so that a new dial
// works within about a second of the router's return. The delays are logged.
func TestHostBindsAgainAsSoonAsItsRouterReturns(t *testing.T) {
	n := startNetwork(t)
	n.OpenPolicies()
	n.Service("back", false)
	r := n.router("r1", "")
	host, hostLogs := n.client("back-host", "back-bind")
	client, _ := n.client("back-client", "back-dial")
	ln, err := host.Listen("back")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEcho(ln)
	if err := echoOnce(client, "back", 10*time.Second); err != nil {
		t.Fatalf("first echo: %v", err)
	}
	for _, down := range []time.Duration{2 * time.Second, 6 * time.Second} {
		r.stop(syscall.SIGKILL, time.Second)
		killed := time.Now()
		time.Sleep(down)
		accepting := r.startAccepting()
		worked, failed := untilEcho(t, client, "back", 20*time.Millisecond, 30*time.Second)
		t.Logf("router down %s: a new dial worked %s after the router accepted connections (%s after the kill; %d dials failed after it was back)",
			down, worked.Sub(accepting).Round(time.Millisecond), worked.Sub(killed).Round(time.Millisecond), failed)
	}
	if os.Getenv("OSTIUM_TEST_LOG") != "" {
		t.Logf("host logs:\n%s\nrouter logs:\n%s\ncontroller logs:\n%s", hostLogs, r.logs(), n.ctl.logs())
	}
}
