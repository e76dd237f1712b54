package e2e

import (
	"context"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"
)

// Taking a grant away cuts what it granted: the change deletes the
// identity's sessions for the service in its own write, routers close the
// circuits, and a new dial is refused.

// expectCut waits for the live connection to end after a change made at
// start, then checks that the service can no longer be dialed.
func expectCut(t *testing.T, e *echoNetwork, c net.Conn, service string, start time.Time) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("the live connection was not cut after the grant was taken away: %v", err)
	}
	t.Logf("connection cut %v after the change", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if c2, err := e.client.Dial(ctx, service); err == nil {
		_ = c2.Close()
		t.Fatal("a new dial succeeded after the grant was taken away")
	}
}

func (e *echoNetwork) policyID(t *testing.T, name string) string {
	t.Helper()
	var policies []struct {
		ID string `json:"id"`
	}
	e.n.Mgmt("GET", "/service-policies?filter="+url.QueryEscape(`name="`+name+`"`), nil, &policies)
	if len(policies) != 1 {
		t.Fatalf("service policy %q: found %d", name, len(policies))
	}
	return policies[0].ID
}

func TestDeletingTheDialPolicyCutsLiveConnection(t *testing.T) {
	e := newEchoNetwork(t, "grant", false)
	c := echoPair(t, e, "grant")
	if err := echoOnce(c, "before"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.n.Mgmt("DELETE", "/service-policies/"+e.policyID(t, "grant-dial"), nil, nil)
	expectCut(t, e, c, "grant", start)
}

func TestRemovingTheRoleAttributeCutsLiveConnection(t *testing.T) {
	e := newEchoNetwork(t, "attr", false)
	c := echoPair(t, e, "attr")
	if err := echoOnce(c, "before"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.n.Mgmt("PATCH", "/identities/"+e.clientIdentity.Chain[0].Subject.CommonName,
		map[string]any{"roleAttributes": []string{"somewhere-else"}}, nil)
	expectCut(t, e, c, "attr", start)
}

// TestRequiringAFailingPostureCheckCutsLiveConnection: the Dial policy comes
// to require a posture check the client never answered.
func TestRequiringAFailingPostureCheckCutsLiveConnection(t *testing.T) {
	e := newEchoNetwork(t, "checked", false)
	c := echoPair(t, e, "checked")
	if err := echoOnce(c, "before"); err != nil {
		t.Fatal(err)
	}
	check := e.n.Create("/posture-checks", map[string]any{"typeId": "MAC", "name": "office-mac", "macAddresses": []string{"00-11-22-33-44-55"}})
	start := time.Now()
	e.n.Mgmt("PATCH", "/service-policies/"+e.policyID(t, "checked-dial"), map[string]any{"postureCheckRoles": []string{"@" + check}}, nil)
	expectCut(t, e, c, "checked", start)
}
