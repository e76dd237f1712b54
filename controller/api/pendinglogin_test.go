package api_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/api"
	"github.com/ostium-net/ostium/controller/domain"
)

// TestCertSignInIsAnsweredBeforeItIsApplied holds the entries of
// certificate sign-ins before they are proposed and checks what the client
// and an administrator see meanwhile: the token already reads the client's
// own session and services and gets a Dial session; an administrator's
// read, the client's read of its sessions and a logout wait for the entry
// and then succeed, the session found stamped as it was answered. A password sign-in never takes that path.
func TestCertSignInIsAnsweredBeforeItIsApplied(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	id, cert := enrolledIdentity(t, c, admin, "early")
	svc := admin.create("/services", map[string]any{"name": "early-svc", "encryptionRequired": true})
	router := admin.create("/edge-routers", map[string]any{"name": "early-router", "isTunnelerEnabled": false})
	admin.create("/service-policies", map[string]any{"name": "early-dial", "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"#all"}, "serviceRoles": []string{"#all"}})
	admin.create("/edge-router-policies", map[string]any{"name": "early-routers", "semantic": "AnyOf",
		"identityRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	admin.create("/service-edge-router-policies", map[string]any{"name": "early-serp", "semantic": "AnyOf",
		"serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	c.ctl.Routers().Connected(router)

	var mu sync.Mutex
	var proposedFor []string
	gate := make(chan struct{}) // one send lets one held entry through
	api.BeforeLoginProposals(c.ctl.API(), func(ids []string) {
		mu.Lock()
		proposedFor = append(proposedFor, ids...)
		mu.Unlock()
		<-gate
	})
	notYet := func(what string, replies ...chan reply) {
		t.Helper()
		notAnsweredYet(t, what+" was answered before the sign-in was applied", replies...)
	}

	status, client, env := certLogin(t, c, cert)
	if status != 200 {
		t.Fatalf("cert sign-in: %d %v", status, env)
	}
	answered := data(env)
	sessionID := answered["id"].(string)
	// The client reads its own session and its services while the entry is
	// held.
	if status, env := client.do("GET", "/current-api-session", nil); status != 200 || data(env)["id"] != sessionID {
		t.Fatalf("current API session while pending: %d %v", status, env)
	}
	if status, env := client.do("GET", "/services", nil); status != 200 || len(items(env)) != 1 {
		t.Fatalf("services while pending: %d %v", status, env)
	}
	// A Dial session is answered at once too (it is proposed after the
	// sign-in); an administrator's read and the client's read of its
	// sessions wait for both.
	dial := doAsync(client, "POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"})
	r := answeredSoon(t, "the Dial session while the sign-in pends", dial)
	if r.status != 201 {
		t.Fatalf("Dial session while the sign-in pends: %d %v", r.status, r.env)
	}
	dialID := data(r.env)["id"].(string)
	adminRead := doAsync(admin, "GET", "/api-sessions/"+sessionID, nil)
	ownSessions := doAsync(client, "GET", "/sessions", nil)
	notYet("an administrator's read or the client's sessions", adminRead, ownSessions)
	gate <- struct{}{}
	r = <-adminRead
	if r.status != 200 || data(r.env)["identityId"] != id {
		t.Fatalf("administrator's read after the sign-in was applied: %d %v", r.status, r.env)
	}
	if got, want := data(r.env)["createdAt"], answered["createdAt"]; got != want {
		t.Errorf("stored createdAt %v, answered %v", got, want)
	}
	if r := <-ownSessions; r.status != 200 || len(items(r.env)) != 1 || items(r.env)[0]["id"] != dialID {
		t.Fatalf("the client's sessions after both entries: %d %v, want %s", r.status, r.env, dialID)
	}

	// A logout waits for its sign-in too, then ends the session.
	status, client, env = certLogin(t, c, cert)
	if status != 200 {
		t.Fatalf("second cert sign-in: %d %v", status, env)
	}
	logout := doAsync(client, "DELETE", "/current-api-session", nil)
	notYet("a logout", logout)
	gate <- struct{}{}
	if r := <-logout; r.status != 200 {
		t.Fatalf("logout: %d %v", r.status, r.env)
	}
	if status, _ := client.do("GET", "/current-api-session", nil); status != 401 {
		t.Fatalf("the token still works after logout: %d", status)
	}

	// The administrator's password sign-in was applied before it was
	// answered: no entry of held sign-ins carried it.
	c.adminClient(t)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(proposedFor, []string{id, id}) {
		t.Fatalf("sign-ins proposed after being answered: %v, want only the two of %s", proposedFor, id)
	}
}

// TestCertSignInRefusedWhenAppliedLeavesADeadToken disables the identity
// between the answer and the entry: the entry opens nothing, and the token
// it answered with authenticates nothing from then on.
func TestCertSignInRefusedWhenAppliedLeavesADeadToken(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	id, cert := enrolledIdentity(t, c, admin, "disabled-meanwhile")
	api.BeforeLoginProposals(c.ctl.API(), func([]string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.ctl.Node().Apply(ctx, &domain.DisableIdentity{IdentityID: id}); err != nil {
			t.Errorf("disable the identity: %v", err)
		}
	})
	status, client, env := certLogin(t, c, cert)
	if status != 200 {
		t.Fatalf("cert sign-in: %d %v", status, env)
	}
	sessionID := data(env)["id"].(string)
	// An administrator's read waits for the entry, so after it the token is
	// judged by what the entry did.
	if status, _ := admin.do("GET", "/api-sessions/"+sessionID, nil); status != 404 {
		t.Fatalf("the refused sign-in's session: %d, want 404", status)
	}
	for _, path := range []string{"/current-api-session", "/services"} {
		if status, env := client.do("GET", path, nil); status != 401 {
			t.Fatalf("GET %s with the refused sign-in's token: %d %v", path, status, env)
		}
	}
}

// reply is the answer to a request made by doAsync.
type reply struct {
	status int
	env    map[string]any
}

// doAsync makes a request in the background; its answer comes on the
// channel.
func doAsync(cl *apiClient, method, path string, body any) chan reply {
	out := make(chan reply, 1)
	go func() {
		status, env := cl.do(method, path, body)
		out <- reply{status, env}
	}()
	return out
}

// notAnsweredYet fails with why when any of replies is answered within
// 300 ms.
func notAnsweredYet(t *testing.T, why string, replies ...chan reply) {
	t.Helper()
	for _, r := range replies {
		select {
		case got := <-r:
			t.Fatalf("%s: %d %v", why, got.status, got.env)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// answeredSoon returns the answer of r, failing when it takes over 10 s
// (what names the request).
func answeredSoon(t *testing.T, what string, r chan reply) reply {
	t.Helper()
	select {
	case got := <-r:
		return got
	case <-time.After(10 * time.Second):
		t.Fatalf("%s waited for an entry", what)
		return reply{}
	}
}
