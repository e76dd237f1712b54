package api_test

import (
	"strings"
	"testing"
)

func TestSessionsAdminAndAuthAudit(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	// A second admin session, seen and ended by the first.
	other := c.adminClient(t)

	status, _, body := admin.raw("GET", "/api-sessions", "", nil)
	if status != 200 {
		t.Fatalf("list api sessions: %d %s", status, body)
	}
	if strings.Contains(string(body), admin.token) || strings.Contains(string(body), other.token) || strings.Contains(string(body), "tokenHash") {
		t.Fatalf("API session tokens exposed: %s", body)
	}
	list := items(decodeEnvelope(t, body))
	if len(list) != 2 {
		t.Fatalf("api sessions: %v", list)
	}
	var otherID string
	_, env := other.do("GET", "/current-api-session", nil)
	otherID = data(env)["id"].(string)
	status, env = admin.do("GET", "/api-sessions/"+otherID, nil)
	d := data(env)
	if status != 200 || d["identity"].(map[string]any)["name"] != "Default Admin" || d["ipAddress"] == nil || d["lastActivityAt"] == nil || d["isMfaRequired"] != false {
		t.Fatalf("api session detail: %d %v", status, env)
	}
	if status, _ := admin.do("DELETE", "/api-sessions/"+otherID, nil); status != 200 {
		t.Fatalf("delete api session: %d", status)
	}
	if status, _ := other.do("GET", "/identities", nil); status != 401 {
		t.Fatalf("a deleted API session still works: %d", status)
	}
	if status, env := admin.do("GET", "/api-sessions/"+otherID, nil); status != 404 || errorCode(env) != "NOT_FOUND" {
		t.Fatalf("deleted api session: %d %v", status, env)
	}

	// Sessions: none exist without the client API; the admin view answers the envelope.
	if status, env := admin.do("GET", "/sessions", nil); status != 200 || len(items(env)) != 0 {
		t.Fatalf("list sessions: %d %v", status, env)
	}

	// The auth audit answers pages: the logins so far, and no locks.
	for _, path := range []string{"/auth-events", "/auth-locks", "/auth-events?limit=5&offset=0"} {
		status, env := admin.do("GET", path, nil)
		if status != 200 || env["meta"].(map[string]any)["pagination"] == nil {
			t.Fatalf("%s: %d %v", path, status, env)
		}
		if n := len(items(env)); (path == "/auth-locks") != (n == 0) {
			t.Fatalf("%s: %d items: %v", path, n, env)
		}
	}
	if status, env := admin.do("GET", "/auth-events?filter="+urlQuery("eventType = = 1"), nil); status != 400 || errorCode(env) != "INVALID_FILTER" {
		t.Fatalf("bad filter: %d %v", status, env)
	}
	if status, env := admin.do("GET", "/auth-locks?limit=100000", nil); status != 400 {
		t.Fatalf("bad limit: %d %v", status, env)
	}
	_, env = admin.do("GET", "/current-identity", nil)
	me := data(env)["id"].(string)
	if status, _ := admin.do("DELETE", "/identities/"+me+"/auth-locks", nil); status != 200 {
		t.Fatalf("clear locks: %d", status)
	}

	for _, op := range []struct{ method, path string }{
		{"GET", "/api-sessions/nope"}, {"DELETE", "/api-sessions/nope"},
		{"GET", "/sessions/nope"}, {"DELETE", "/sessions/nope"},
		{"DELETE", "/auth-locks/nope"}, {"DELETE", "/identities/nope/auth-locks"},
	} {
		if status, env := admin.do(op.method, op.path, nil); status != 404 || errorCode(env) != "NOT_FOUND" {
			t.Errorf("%s %s: %d %v", op.method, op.path, status, env)
		}
	}
	for _, path := range []string{"/api-sessions?filter=" + urlQuery("(("), "/sessions?offset=-1"} {
		if status, env := admin.do("GET", path, nil); status != 400 {
			t.Errorf("%s: %d %v", path, status, env)
		}
	}
}
