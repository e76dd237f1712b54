package tests

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/router"
	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tests/harness"
)

// TestRoutersAndClientsMoveToAnotherController runs a three-node cluster, a
// router configured with only one follower's address, and a host and a
// client whose identities name that same follower. The follower is then
// stopped: the router reconnects to a controller it learned from the
// cluster, the clients' REST calls move to another controller listed by
// /controllers, and a new session and a dial work without the follower.
func TestRoutersAndClientsMoveToAnotherController(t *testing.T) {
	n := harness.Start(t)
	doomed := startFollower(t, n, nil)
	other := startFollower(t, n, nil)
	n.OpenPolicies()
	n.Service("moving", false)
	r := n.RouterWith("moves", func(c *router.Config) { c.Controller.Endpoint = "tls:" + doomed.ctl.RouterAddr() })

	// The router learns every member's control address from the one it reached.
	want := []string{n.Ctl.RouterAddr(), doomed.ctl.RouterAddr(), other.ctl.RouterAddr()}
	waitFor(t, 20*time.Second, "the router to learn the three controllers", func() bool {
		known := r.Running().Control().Controllers()
		for _, w := range want {
			if !slices.Contains(known, w) {
				return false
			}
		}
		return true
	})

	hostID := n.Identity("host", "moving-bind")
	clientID := n.Identity("client", "moving-dial")
	hostID.ControllerURL = doomed.base
	clientID.ControllerURL = doomed.base
	host, client := n.Context(hostID), n.Context(clientID)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := client.Authenticate(ctx); err != nil {
		t.Fatal(err)
	}
	if urls := client.ControllerURLs(); len(urls) != 3 || !strings.HasPrefix(urls[0], doomed.base) {
		t.Fatalf("the client knows controllers %v, want the follower first and three in all", urls)
	}
	ln, err := host.Listen("moving")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	roundTrip(t, ctx, client, "before")

	if err := doomed.ctl.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the router to reconnect to another controller", func() bool {
		_, onLeader := n.Ctl.Routers().Since(r.ID)
		_, onOther := other.ctl.Routers().Since(r.ID)
		return onLeader || onOther
	})
	// A fresh service needs a fresh session: the client's REST calls must
	// move to a controller that is still up.
	newID := n.Create("/services", map[string]any{"name": "after-move", "encryptionRequired": false})
	n.Create("/service-policies", map[string]any{"name": "after-move-dial", "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"#moving-dial"}, "serviceRoles": []string{"@" + newID}})
	waitFor(t, 20*time.Second, "the client to see the new service through another controller", func() bool {
		svcs, err := client.Services(ctx)
		return err == nil && slices.ContainsFunc(svcs, func(s *sdk.Service) bool { return s.Name == "after-move" })
	})
	if urls := client.ControllerURLs(); strings.HasPrefix(urls[0], doomed.base) {
		t.Fatalf("the client still uses the stopped controller first: %v", urls)
	}
	roundTrip(t, ctx, client, "after")
}

func roundTrip(t *testing.T, ctx context.Context, client interface {
	Dial(context.Context, string) (net.Conn, error)
}, msg string) {
	t.Helper()
	c, err := client.Dial(ctx, "moving")
	if err != nil {
		t.Fatalf("dial %s: %v", msg, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %s: %q %v", msg, buf, err)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(within); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
