package api_test

import (
	"context"
	"crypto/tls"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/api"
	"github.com/ostium-net/ostium/controller/domain"
)

// dialNetwork makes a service the identity named may dial through one
// online router, and returns the identity's id, a signed-in client, the
// service's id and the identity's certificate.
func dialNetwork(t *testing.T, c *testCtl, admin *apiClient, name string) (string, *apiClient, string, *tls.Certificate) {
	t.Helper()
	id, cert := enrolledIdentity(t, c, admin, name)
	svc := admin.create("/services", map[string]any{"name": name + "-svc", "encryptionRequired": true})
	router := admin.create("/edge-routers", map[string]any{"name": name + "-router", "isTunnelerEnabled": false})
	admin.create("/service-policies", map[string]any{"name": name + "-dial", "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"@" + id}, "serviceRoles": []string{"@" + svc}})
	admin.create("/edge-router-policies", map[string]any{"name": name + "-routers", "semantic": "AnyOf",
		"identityRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	admin.create("/service-edge-router-policies", map[string]any{"name": name + "-serp", "semantic": "AnyOf",
		"serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	c.ctl.Routers().Connected(router)
	status, client, env := certLogin(t, c, cert)
	if status != 200 {
		t.Fatalf("cert sign-in: %d %v", status, env)
	}
	// The sign-in is applied before anything below is held.
	if status, _ := admin.do("GET", "/identities/"+id, nil); status != 200 {
		t.Fatalf("the identity: %d", status)
	}
	return id, client, svc, cert
}

// TestDialSessionIsAnsweredBeforeItIsApplied holds the entries of new
// sessions before they are proposed: the session is answered at once with
// its token, asking again answers the same pending session without another
// entry, and the client's own reads and an administrator's read wait for
// the entry, then find the session as it was answered.
func TestDialSessionIsAnsweredBeforeItIsApplied(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	_, client, svc, _ := dialNetwork(t, c, admin, "early-dial")

	var mu sync.Mutex
	var proposed [][]string
	gate := make(chan struct{})
	api.BeforeSessionProposals(c.ctl.API(), func(ids []string) {
		mu.Lock()
		proposed = append(proposed, ids)
		mu.Unlock()
		<-gate
	})
	status, env := client.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"})
	if status != 201 {
		t.Fatalf("Dial session: %d %v", status, env)
	}
	first := data(env)
	id, _ := first["id"].(string)
	if id == "" || first["token"] == "" || len(first["edgeRouters"].([]any)) != 1 {
		t.Fatalf("the answered session lacks its id, token or router: %v", first)
	}
	status, env = client.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"})
	if status != 201 || data(env)["id"] != id || data(env)["token"] != first["token"] {
		t.Fatalf("asking again while it pends: %d %v, want session %s", status, env, id)
	}
	own, byAdmin := doAsync(client, "GET", "/sessions/"+id, nil), doAsync(admin, "GET", "/sessions/"+id, nil)
	notAnsweredYet(t, "a read of the session was answered before its entry", own, byAdmin)
	close(gate)
	for who, r := range map[string]chan reply{"client": own, "administrator": byAdmin} {
		got := <-r
		if got.status != 200 || data(got.env)["createdAt"] != first["createdAt"] {
			t.Fatalf("the %s's read after the entry: %d %v, want createdAt %v", who, got.status, got.env, first["createdAt"])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(proposed) != 1 || !slices.Equal(proposed[0], []string{id}) {
		t.Fatalf("entries proposed: %v, want one with %s", proposed, id)
	}
	// Stored now: asking again answers the stored session, with no entry.
	if status, env := client.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"}); status != 201 || data(env)["id"] != id {
		t.Fatalf("asking again once stored: %d %v", status, env)
	}
	if len(proposed) != 1 {
		t.Fatalf("asking again for a stored session proposed %v", proposed[1:])
	}
}

// TestDialSessionRefusedWhenAppliedIsNeverStored disables the identity
// between the answer and the entry: the entry creates nothing, so the
// answered session is not found and its token would open nothing.
func TestDialSessionRefusedWhenAppliedIsNeverStored(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	identity, client, svc, _ := dialNetwork(t, c, admin, "refused-dial")
	api.BeforeSessionProposals(c.ctl.API(), func([]string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.ctl.Node().Apply(ctx, &domain.DisableIdentity{IdentityID: identity}); err != nil {
			t.Errorf("disable the identity: %v", err)
		}
	})
	status, env := client.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"})
	if status != 201 {
		t.Fatalf("Dial session: %d %v", status, env)
	}
	if status, env := admin.do("GET", "/sessions/"+data(env)["id"].(string), nil); status != 404 {
		t.Fatalf("the refused session: %d %v, want 404", status, env)
	}
}

// TestLogoutDoesNotWaitForPendingSessions holds a session's entry and logs
// out: the logout is answered at once, and the held entry, applied after
// it, creates nothing.
func TestLogoutDoesNotWaitForPendingSessions(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	_, client, svc, cert := dialNetwork(t, c, admin, "logout-dial")
	gate := make(chan struct{})
	api.BeforeSessionProposals(c.ctl.API(), func([]string) { <-gate })
	status, env := client.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"})
	if status != 201 {
		t.Fatalf("Dial session: %d %v", status, env)
	}
	id := data(env)["id"].(string)
	if r := answeredSoon(t, "the logout", doAsync(client, "DELETE", "/current-api-session", nil)); r.status != 200 {
		t.Fatalf("logout: %d %v", r.status, r.env)
	}
	close(gate)
	// A session asked for afterwards is proposed after the held one, and an
	// administrator's read waits for it: by then the held entry is applied.
	status, again, env := certLogin(t, c, cert)
	if status != 200 {
		t.Fatalf("sign in again: %d %v", status, env)
	}
	if status, env = again.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"}); status != 201 {
		t.Fatalf("a new Dial session: %d %v", status, env)
	}
	if status, env := admin.do("GET", "/sessions/"+data(env)["id"].(string), nil); status != 200 {
		t.Fatalf("the new session: %d %v", status, env)
	}
	if status, env := admin.do("GET", "/sessions/"+id, nil); status != 404 {
		t.Fatalf("the session of a logged-out API session: %d %v, want 404", status, env)
	}
}

// TestAskingAgainWhileTheSessionCommits asks for the same session from
// several requests at once while its entry is applied, round after round:
// every answer names the same session, whether it was still pending or
// already stored when asked (a request that looked in the store just before
// the commit and for the pending session just after it would otherwise
// make a second session).
func TestAskingAgainWhileTheSessionCommits(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	_, client, svc, _ := dialNetwork(t, c, admin, "again-dial")
	body := map[string]any{"serviceId": svc, "type": "Dial"}
	var gate chan struct{}
	var gateMu sync.Mutex
	api.BeforeSessionProposals(c.ctl.API(), func([]string) {
		gateMu.Lock()
		g := gate
		gateMu.Unlock()
		<-g
	})
	const rounds, askers = 25, 16
	for round := range rounds {
		gateMu.Lock()
		gate = make(chan struct{})
		gateMu.Unlock()
		status, env := client.do("POST", "/sessions", body)
		if status != 201 {
			t.Fatalf("round %d: Dial session: %d %v", round, status, env)
		}
		id := data(env)["id"].(string)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		seen := make(chan string, 4096)
		for range askers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					status, env := client.do("POST", "/sessions", body)
					if status != 201 {
						t.Errorf("round %d: asking again: %d %v", round, status, env)
						return
					}
					select {
					case seen <- data(env)["id"].(string):
					default:
					}
				}
			}()
		}
		time.Sleep(5 * time.Millisecond)
		gateMu.Lock()
		close(gate)
		gateMu.Unlock()
		// The entry is applied once an administrator's read finds it.
		if status, env := admin.do("GET", "/sessions/"+id, nil); status != 200 {
			t.Fatalf("round %d: the session: %d %v", round, status, env)
		}
		time.Sleep(5 * time.Millisecond)
		close(stop)
		wg.Wait()
		close(seen)
		for other := range seen {
			if other != id {
				t.Fatalf("round %d: asking again answered session %s, want %s", round, other, id)
			}
		}
		if status, env := client.do("DELETE", "/sessions/"+id, nil); status != 200 {
			t.Fatalf("round %d: delete the session: %d %v", round, status, env)
		}
	}
}
