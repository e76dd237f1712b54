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

// TestCertSignInIsAnsweredBeforeItIsApplied holds the entry of a
// certificate sign-in before it is proposed and checks what the client and
// an administrator see meanwhile: the token already reads the client's own
// session, an administrator's read waits for the entry and then finds the
// session stamped as answered, the client's logout waits for it too and
// then ends it. A password sign-in never takes that path.
func TestCertSignInIsAnsweredBeforeItIsApplied(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	id, cert := enrolledIdentity(t, c, admin, "early")

	var mu sync.Mutex
	var proposedFor []string
	hold := make(chan struct{})
	api.BeforeLoginProposals(c.ctl.API(), func(ids []string) {
		mu.Lock()
		proposedFor = append(proposedFor, ids...)
		mu.Unlock()
		<-hold
	})
	status, client, env := certLogin(t, c, cert)
	if status != 200 {
		t.Fatalf("cert sign-in: %d %v", status, env)
	}
	answered := data(env)
	sessionID := answered["id"].(string)

	// The client reads its own session while the entry is held.
	if status, env := client.do("GET", "/current-api-session", nil); status != 200 || data(env)["id"] != sessionID {
		t.Fatalf("current API session while pending: %d %v", status, env)
	}
	if status, env := client.do("GET", "/services", nil); status != 200 {
		t.Fatalf("services while pending: %d %v", status, env)
	}

	// An administrator's read waits for the sign-in.
	type reply struct {
		status int
		env    map[string]any
	}
	adminRead := make(chan reply, 1)
	go func() {
		status, env := admin.do("GET", "/api-sessions/"+sessionID, nil)
		adminRead <- reply{status, env}
	}()
	select {
	case r := <-adminRead:
		t.Fatalf("the administrator's read was answered before the sign-in was applied: %d %v", r.status, r.env)
	case <-time.After(300 * time.Millisecond):
	}
	// So does the client's logout.
	loggedOut := make(chan int, 1)
	go func() {
		status, _ := client.do("DELETE", "/current-api-session", nil)
		loggedOut <- status
	}()
	close(hold)
	r := <-adminRead
	if r.status != 200 || data(r.env)["identityId"] != id {
		t.Fatalf("administrator's read after the sign-in was applied: %d %v", r.status, r.env)
	}
	if got, want := data(r.env)["createdAt"], answered["createdAt"]; got != want {
		t.Errorf("stored createdAt %v, answered %v", got, want)
	}
	if status := <-loggedOut; status != 200 {
		t.Fatalf("logout: %d", status)
	}
	if status, _ := client.do("GET", "/current-api-session", nil); status != 401 {
		t.Fatalf("the token still works after logout: %d", status)
	}

	// The administrator's password sign-in was applied before it was
	// answered: no entry of held sign-ins carried it.
	c.adminClient(t)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(proposedFor, []string{id}) {
		t.Fatalf("sign-ins proposed after being answered: %v, want only %s", proposedFor, id)
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
