package restarts

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRouterRestartedWhileTheControllerIsAway restarts the only router twice while the
// controller is stopped, once with SIGTERM and once with SIGKILL: the router works from the
// state it saved, so the host binds again and a new dial works with the sessions the clients
// hold. When the controller returns it learns the terminator the router took meanwhile. The
// delays are logged.
func TestRouterRestartedWhileTheControllerIsAway(t *testing.T) {
	n := startNetwork(t)
	n.OpenPolicies()
	n.Service("alone", false)
	r := n.router("r1", "")
	host, hostLogs := n.client("alone-host", "alone-bind")
	client, clientLogs := n.client("alone-client", "alone-dial")
	ln, err := host.Listen("alone")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEcho(ln)
	if err := echoOnce(client, "alone", 10*time.Second); err != nil {
		t.Fatalf("first echo: %v", err)
	}
	n.stopController()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if sig == syscall.SIGKILL {
			time.Sleep(1500 * time.Millisecond) // the state is saved within a second of a change
		}
		stopped := time.Now()
		took := r.stop(sig, 20*time.Second)
		accepting := r.startAccepting()
		worked, failed := untilEcho(t, client, "alone", 20*time.Millisecond, 20*time.Second)
		t.Logf("controller away, router stopped with %s (in %s): a new dial worked %s after the router accepted connections (%s after the stop; %d dials failed after it was back)",
			sig, took.Round(time.Millisecond), worked.Sub(accepting).Round(time.Millisecond), worked.Sub(stopped).Round(time.Millisecond), failed)
	}
	if !strings.Contains(r.logs(), "loaded the state saved before the restart") {
		t.Error("the router did not say it loaded its saved state")
	}

	n.startController()
	r.WaitOnline()
	var terminators []struct {
		Router struct {
			ID string `json:"id"`
		} `json:"router"`
	}
	waitFor(t, "the controller to learn the terminator bound while it was away", 10*time.Second, func() bool {
		n.Mgmt("GET", "/terminators", nil, &terminators)
		return len(terminators) == 1 && terminators[0].Router.ID == r.ID
	})
	if err := echoOnce(client, "alone", 10*time.Second); err != nil {
		t.Fatalf("an echo after the controller returned: %v", err)
	}
	if os.Getenv("OSTIUM_TEST_LOG") != "" {
		t.Logf("host logs:\n%s\nclient logs:\n%s\nrouter logs:\n%s", hostLogs, clientLogs, r.logs())
	}
}
