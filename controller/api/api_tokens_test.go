package api_test

import (
	"strings"
	"testing"
	"time"
)

// makeAPIToken creates a token with c and returns its id and secret.
func makeAPIToken(t *testing.T, c *apiClient, name, role string, expires time.Time) (id, token string) {
	t.Helper()
	status, env := c.do("POST", "/api-tokens", map[string]any{"name": name, "role": role, "expiresAt": expires.UTC().Format(time.RFC3339Nano)})
	if status != 201 {
		t.Fatalf("create API token %s: %d %v", name, status, env)
	}
	d := data(env)
	id, _ = d["id"].(string)
	token, _ = d["token"].(string)
	if id == "" || !strings.HasPrefix(token, "ostium_at_") || d["role"] != role || d["name"] != name {
		t.Fatalf("create API token %s: answer %v", name, d)
	}
	return id, token
}

// tokenClient calls the management API with an API token.
func tokenClient(ctl *testCtl, t *testing.T, token string, bearer bool) *apiClient {
	c := ctl.managementClient(t)
	c.token, c.bearer = token, bearer
	return c
}

func TestAPITokens(t *testing.T) {
	ctl := newTestController(t)
	admin := ctl.adminClient(t)
	hour := time.Now().Add(time.Hour)

	adminID, adminToken := makeAPIToken(t, admin, "ci-deploy", "admin", hour)
	roID, roToken := makeAPIToken(t, admin, "dashboards", "read-only", hour)

	// The secret is shown once: never in a list or a detail.
	status, _, raw := admin.raw("GET", "/api-tokens", "", nil)
	if status != 200 {
		t.Fatalf("list API tokens: %d %s", status, raw)
	}
	// The secret is what follows "ostium_at_<id>_"; it may itself hold '_'.
	for _, secret := range []string{adminToken, roToken, strings.TrimPrefix(adminToken, "ostium_at_"+adminID+"_"), strings.TrimPrefix(roToken, "ostium_at_"+roID+"_")} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("the list shows a secret: %s", raw)
		}
	}
	if strings.Contains(string(raw), "secretHash") || strings.Contains(string(raw), `"token"`) {
		t.Fatalf("the list shows token material: %s", raw)
	}
	_, env := admin.do("GET", "/api-tokens/"+roID, nil)
	d := data(env)
	by, _ := d["createdBy"].(map[string]any)
	if d["name"] != "dashboards" || d["role"] != "read-only" || d["token"] != nil || by["type"] != "identity" || by["name"] != "Default Admin" || d["expiresAt"] == nil {
		t.Fatalf("detail of a token: %v", d)
	}
	if _, env := admin.do("GET", "/api-tokens?filter="+urlQuery(`role = "admin"`), nil); len(items(env)) != 1 || items(env)[0]["id"] != adminID {
		t.Fatalf("filter on role: %v", env)
	}
	if _, env := admin.do("GET", "/api-tokens?sort=name%20desc", nil); len(items(env)) != 2 || items(env)[0]["name"] != "dashboards" {
		t.Fatalf("sort by name: %v", env)
	}

	// A read-only token reads everything, as Bearer or as zt-session ...
	for _, bearer := range []bool{true, false} {
		ro := tokenClient(ctl, t, roToken, bearer)
		for _, path := range []string{"/identities", "/services", "/api-tokens", "/api-tokens/" + adminID, "/edge-routers", "/api-sessions", "/auth-policies"} {
			if status, env := ro.do("GET", path, nil); status != 200 {
				t.Fatalf("read-only GET %s (bearer %v): %d %v", path, bearer, status, env)
			}
		}
		if _, env := ro.do("GET", "/current-api-token", nil); data(env)["role"] != "read-only" || data(env)["id"] != roID {
			t.Fatalf("current API token: %v", env)
		}
		// ... and changes nothing: 403 in the envelope.
		writes := []struct{ method, path string }{
			{"POST", "/identities"}, {"POST", "/services"}, {"POST", "/api-tokens"}, {"DELETE", "/api-tokens/" + adminID},
			{"DELETE", "/api-tokens/" + roID}, {"PATCH", "/identities/" + roID}, {"PUT", "/services/" + roID}, {"DELETE", "/current-api-session"},
		}
		for _, w := range writes {
			status, env := ro.do(w.method, w.path, map[string]any{"name": "x", "type": "Device", "isAdmin": true, "role": "admin", "expiresAt": hour.Format(time.RFC3339)})
			if status != 403 || errorCode(env) != "FORBIDDEN" {
				t.Fatalf("read-only %s %s (bearer %v): %d %v", w.method, w.path, bearer, status, env)
			}
		}
	}
	if status, env := admin.do("GET", "/api-tokens/"+adminID, nil); status != 200 {
		t.Fatalf("the refused delete removed the token: %d %v", status, env)
	}

	// An admin token writes; what it makes names it as the maker; it makes
	// no token that outlives it.
	at := tokenClient(ctl, t, adminToken, true)
	madeByToken := at.create("/services", map[string]any{"name": "made-by-token", "encryptionRequired": true})
	_, env = admin.do("GET", "/audit-events?filter="+urlQuery(`entityId = "`+madeByToken+`"`), nil)
	if recs := items(env); len(recs) != 1 {
		t.Fatalf("audit records of a write made with a token: %v", env)
	} else if actor, _ := recs[0]["actor"].(map[string]any); actor["type"] != "api-token" || actor["id"] != adminID || actor["name"] != "ci-deploy" {
		t.Fatalf("the audit record names %v, not the token", recs[0]["actor"])
	}
	childID, _ := makeAPIToken(t, at, "child", "read-only", hour.Add(-time.Minute))
	_, env = admin.do("GET", "/api-tokens/"+childID, nil)
	if by, _ := data(env)["createdBy"].(map[string]any); by["type"] != "api-token" || by["id"] != adminID || by["name"] != "ci-deploy" {
		t.Fatalf("a token made with a token: %v", env)
	}
	if status, env := at.do("POST", "/api-tokens", map[string]any{"name": "longer", "role": "admin", "expiresAt": hour.Add(time.Hour).Format(time.RFC3339)}); status != 403 || errorCode(env) != "FORBIDDEN" {
		t.Fatalf("a token made a token that outlives it: %d %v", status, env)
	}
	// A token has no API session or identity of its own.
	for _, path := range []string{"/current-identity", "/current-api-session"} {
		if status, env := at.do("GET", path, nil); status != 404 {
			t.Fatalf("GET %s with a token: %d %v", path, status, env)
		}
	}
	if status, _ := admin.do("GET", "/current-api-token", nil); status != 404 {
		t.Fatalf("current API token of an API session: %d", status)
	}
	// Its use shows at once on this node.
	if _, env := admin.do("GET", "/api-tokens/"+adminID, nil); data(env)["lastUsedAt"] == nil {
		t.Fatalf("no lastUsedAt after use: %v", env)
	}

	// Revoked: refused at once.
	if status, env := admin.do("DELETE", "/api-tokens/"+roID, nil); status != 200 {
		t.Fatalf("revoke: %d %v", status, env)
	}
	for _, bearer := range []bool{true, false} {
		if status, env := tokenClient(ctl, t, roToken, bearer).do("GET", "/identities", nil); status != 401 || errorCode(env) != "UNAUTHORIZED" {
			t.Fatalf("a revoked token (bearer %v): %d %v", bearer, status, env)
		}
	}
	if status, _ := admin.do("GET", "/api-tokens/"+roID, nil); status != 404 {
		t.Fatalf("a revoked token is still listed: %d", status)
	}
	// A forged secret, a malformed token and a token on the client API: 401.
	forged := adminToken[:strings.LastIndexByte(adminToken, '_')+1] + strings.Repeat("A", 43)
	for _, tok := range []string{forged, "ostium_at_", "ostium_at_" + adminID, "ostium_at_nope_nope", adminToken + "x"} {
		if status, _ := tokenClient(ctl, t, tok, true).do("GET", "/identities", nil); status != 401 {
			t.Fatalf("token %q: %d", tok, status)
		}
	}
	client := &apiClient{t: t, ctl: ctl, prefix: "/edge/client/v1", token: adminToken, bearer: true}
	if status, _ := client.do("GET", "/services", nil); status != 401 {
		t.Fatalf("an API token on the client API: %d", status)
	}
}

func TestAPITokenExpires(t *testing.T) {
	ctl := newTestController(t)
	admin := ctl.adminClient(t)
	expires := time.Now().Add(1500 * time.Millisecond)
	_, token := makeAPIToken(t, admin, "short", "admin", expires)
	tc := tokenClient(ctl, t, token, true)
	if status, env := tc.do("GET", "/identities", nil); status != 200 {
		t.Fatalf("a fresh token: %d %v", status, env)
	}
	time.Sleep(time.Until(expires) + 50*time.Millisecond)
	if status, env := tc.do("GET", "/identities", nil); status != 401 || errorCode(env) != "UNAUTHORIZED" {
		t.Fatalf("an expired token: %d %v", status, env)
	}
	if _, env := admin.do("GET", "/api-tokens?filter="+urlQuery(`name = "short"`), nil); len(items(env)) != 1 || items(env)[0]["expired"] != true {
		t.Fatalf("an expired token is listed as expired: %v", env)
	}
}

func TestAPITokenBadInput(t *testing.T) {
	ctl := newTestController(t)
	admin := ctl.adminClient(t)
	hour := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, body := range []any{
		`{"name":`, `[]`, map[string]any{}, map[string]any{"name": "x", "role": "admin"},
		map[string]any{"name": "x", "role": "root", "expiresAt": hour},
		map[string]any{"name": "", "role": "admin", "expiresAt": hour},
		map[string]any{"name": "  ", "role": "admin", "expiresAt": hour},
		map[string]any{"name": strings.Repeat("n", 256), "role": "admin", "expiresAt": hour},
		map[string]any{"name": 7, "role": "admin", "expiresAt": hour},
		map[string]any{"name": "x", "role": "admin", "expiresAt": "tomorrow"},
		map[string]any{"name": "x", "role": "admin", "expiresAt": "2001-01-01T00:00:00Z"},
		map[string]any{"name": "x", "role": "admin", "expiresAt": "2999-01-01T00:00:00Z"},
	} {
		if status, env := admin.do("POST", "/api-tokens", body); status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Fatalf("POST /api-tokens %v: %d %v", body, status, env)
		}
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api-tokens/nope", 404}, {"DELETE", "/api-tokens/nope", 404},
		{"GET", "/api-tokens?filter=" + urlQuery("secretHash = \"x\""), 400}, {"GET", "/api-tokens?filter=((", 400}, {"GET", "/api-tokens?limit=-1", 400},
	} {
		if status, env := admin.do(c.method, c.path, nil); status != c.want {
			t.Fatalf("%s %s: %d %v", c.method, c.path, status, env)
		}
	}
	// Without a credential: 401.
	if status, _ := ctl.managementClient(t).do("GET", "/api-tokens", nil); status != 401 {
		t.Fatalf("list without a credential: %d", status)
	}
}
