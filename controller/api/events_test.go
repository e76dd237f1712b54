package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sseClient reads a real event stream of the management API.
type sseClient struct {
	events chan map[string]any
	cancel context.CancelFunc
}

// subscribe opens GET /events?types=... as the client's session and returns
// its events; it fails the test unless the stream opens with 200.
func (a *apiClient) subscribe(types string) *sseClient {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", a.ctl.base+"/edge/management/v1/events?types="+types, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("zt-session", a.token)
	client := &http.Client{Transport: a.ctl.client.Transport} // no timeout: the stream lasts
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		a.t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		resp.Body.Close()
		a.t.Fatalf("event stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{events: make(chan map[string]any, 1024), cancel: cancel}
	a.t.Cleanup(cancel)
	go func() {
		defer resp.Body.Close()
		defer close(c.events)
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: ")
			if !ok {
				continue
			}
			var ev map[string]any
			if json.Unmarshal([]byte(data), &ev) != nil {
				ev = map[string]any{"unparsable": data}
			}
			c.events <- ev
		}
	}()
	return c
}

// await returns the first event that match accepts, failing the test when
// none comes within a generous bound (a stall, not a timing assertion).
func (c *sseClient) await(t testing.TB, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				t.Fatalf("the stream ended before %s", what)
			}
			if _, bad := ev["unparsable"]; bad {
				t.Fatalf("a data line is not JSON: %v", ev)
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s on the stream", what)
		}
	}
}

func TestEventStreamCarriesEntityAndSessionEvents(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	_, me := admin.do("GET", "/current-identity", nil)
	adminID := data(me)["id"].(string)
	all := admin.subscribe("entity,apiSession")
	onlyAuth := admin.subscribe("auth.failed")

	svc := admin.create("/services", map[string]any{"name": "stream-web", "encryptionRequired": true})
	created := all.await(t, "entity.created of the service", func(ev map[string]any) bool {
		return ev["type"] == "entity.created" && ev["entityId"] == svc
	})
	actor, _ := created["actor"].(map[string]any)
	if created["entityType"] != "services" || created["namespace"] != "entity" || actor["id"] != adminID ||
		actor["type"] != "identity" || created["sourceAddress"] != "127.0.0.1" || created["timestamp"] == nil {
		t.Fatalf("entity.created = %v", created)
	}
	if status, env := admin.do("PATCH", "/services/"+svc, map[string]any{"name": "stream-web-2"}); status != 200 {
		t.Fatalf("patch: %d %v", status, env)
	}
	all.await(t, "entity.updated", func(ev map[string]any) bool { return ev["type"] == "entity.updated" && ev["entityId"] == svc })
	if status, _ := admin.do("DELETE", "/services/"+svc, nil); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	all.await(t, "entity.deleted", func(ev map[string]any) bool { return ev["type"] == "entity.deleted" && ev["entityId"] == svc })

	// A second login is an API session; a failed one an auth event, on the
	// stream that asked for those only.
	c.adminClient(t)
	all.await(t, "apiSession.created", func(ev map[string]any) bool {
		return ev["type"] == "apiSession.created" && ev["identityId"] == adminID
	})
	if status, _ := c.managementClient(t).do("POST", "/authenticate?method=password", map[string]any{"username": "admin", "password": "wrong-one"}); status != 401 {
		t.Fatalf("a wrong password: %d", status)
	}
	failed := onlyAuth.await(t, "auth.failed", func(ev map[string]any) bool { return true })
	if failed["type"] != "auth.failed" || failed["identityId"] != adminID || failed["eventType"] != "password-failure" {
		t.Fatalf("auth.failed = %v", failed)
	}
	select {
	case ev := <-onlyAuth.events:
		t.Fatalf("the auth stream carried another event: %v", ev)
	default:
	}
}

func TestEventStreamRefusesBadInputAndNonAdmins(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	for _, q := range []string{"bogus", "circuit,nope", "entity.renamed", strings.Repeat("x", 1100)} {
		status, env := admin.do("GET", "/events?types="+q, nil)
		if status != 400 {
			t.Errorf("types=%.20s: %d %v, want 400", q, status, env)
		}
	}
	ident := admin.create("/identities", map[string]any{"name": "stream-user", "type": "User", "isAdmin": false})
	admin.create("/authenticators", map[string]any{"method": "updb", "identityId": ident, "username": "stream-user", "password": "user-password-1"})
	user := c.managementClient(t)
	status, env := user.do("POST", "/edge/client/v1/authenticate?method=password", map[string]any{"username": "stream-user", "password": "user-password-1"})
	if status != 200 {
		t.Fatalf("user login: %d %v", status, env)
	}
	user.token = data(env)["token"].(string)
	for _, path := range []string{"/events", "/events?types=entity"} {
		if status, _ := user.do("GET", path, nil); status != 401 {
			t.Errorf("a non-admin's %s: %d, want 401", path, status)
		}
		if status, _ := c.managementClient(t).do("GET", path, nil); status != 401 {
			t.Errorf("an anonymous %s: %d, want 401", path, status)
		}
	}
}
