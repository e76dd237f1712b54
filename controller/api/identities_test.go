package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestManagementAuthentication(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	m := c.managementClient(t)

	for _, tc := range []struct {
		name string
		path string
		body any
		want int
		code string
	}{
		{"wrong password", "/authenticate?method=password", map[string]any{"username": "admin", "password": "wrong-password"}, 401, "INVALID_AUTH"},
		{"unknown user", "/authenticate?method=password", map[string]any{"username": "nobody", "password": "whatever1"}, 401, "INVALID_AUTH"},
		{"no body", "/authenticate?method=password", nil, 401, "INVALID_AUTH"},
		{"bad method", "/authenticate?method=telepathy", map[string]any{"username": "admin", "password": "x"}, 400, "COULD_NOT_VALIDATE"},
		{"short username", "/authenticate?method=password", map[string]any{"username": "ad", "password": testAdminPassword}, 401, "INVALID_AUTH"},
		{"short password", "/authenticate?method=password", map[string]any{"username": "admin", "password": "ad"}, 401, "INVALID_AUTH"},
		{"username of the wrong type", "/authenticate?method=password", map[string]any{"username": 4, "password": testAdminPassword}, 400, "COULD_NOT_VALIDATE"},
		{"malformed JSON", "/authenticate?method=password", `{"username": `, 400, "COULD_NOT_VALIDATE"},
		{"cert without certificate", "/authenticate?method=cert", map[string]any{}, 401, "INVALID_AUTH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, env := m.do("POST", tc.path, tc.body)
			if status != tc.want || errorCode(env) != tc.code {
				t.Fatalf("got %d %s, want %d %s (%v)", status, errorCode(env), tc.want, tc.code, env)
			}
		})
	}

	// Without a session every operation is refused with the envelope.
	status, env := m.do("GET", "/identities", nil)
	if status != 401 || errorCode(env) != "UNAUTHORIZED" {
		t.Fatalf("anonymous list: %d %v", status, env)
	}
	m.token = "not-a-token"
	if status, _ := m.do("GET", "/identities", nil); status != 401 {
		t.Fatalf("bad token: %d", status)
	}

	admin := c.adminClient(t)
	status, env = admin.do("GET", "/current-api-session", nil)
	if status != 200 || data(env)["identity"].(map[string]any)["name"] != "Default Admin" {
		t.Fatalf("current api session: %d %v", status, env)
	}
	// As OpenZiti does: its C SDK reads the token back from here.
	if data(env)["token"] != admin.token {
		t.Fatalf("GET /current-api-session token = %v, want the caller's", data(env)["token"])
	}
	if data(env)["isCertExtendable"] != false {
		t.Fatal("a password session reports a certificate to extend")
	}
	if status, env = admin.do("GET", "/current-identity", nil); status != 200 || data(env)["isAdmin"] != true {
		t.Fatalf("current identity: %d %v", status, env)
	}
	if status, _ = admin.do("DELETE", "/current-api-session", nil); status != 200 {
		t.Fatalf("logout: %d", status)
	}
	if status, _ = admin.do("GET", "/identities", nil); status != 401 {
		t.Fatalf("token still valid after logout: %d", status)
	}
}

func TestVersionAndUnknownPaths(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	m := c.managementClient(t)
	status, env := m.do("GET", "/version", nil)
	if status != 200 {
		t.Fatalf("version: %d", status)
	}
	apis := data(env)["apiVersions"].(map[string]any)
	if _, ok := apis["edge-management"]; !ok {
		t.Fatalf("apiVersions: %v", apis)
	}
	admin := c.adminClient(t)
	if status, env := admin.do("GET", "/no-such-thing", nil); status != 404 || errorCode(env) != "NOT_FOUND" {
		t.Fatalf("unknown path: %d %v", status, env)
	}
	if status, env := admin.do("GET", "/edge/nothing/here", nil); status != 404 || errorCode(env) != "NOT_FOUND" {
		t.Fatalf("unknown root path: %d %v", status, env)
	}
	if status, env := admin.do("PATCH", "/identities", map[string]any{}); status != 405 || errorCode(env) == "" {
		t.Fatalf("wrong method: %d %v", status, env)
	}
}

func TestIdentityCRUD(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)

	id := admin.create("/identities", map[string]any{"name": "alice", "type": "User", "isAdmin": false,
		"roleAttributes": []string{"eng"}, "enrollment": map[string]any{"ott": true}, "tags": map[string]any{"team": "blue"}})
	status, env := admin.do("GET", "/identities/"+id, nil)
	d := data(env)
	if status != 200 || d["name"] != "alice" || d["typeId"] != "User" || d["tags"].(map[string]any)["team"] != "blue" {
		t.Fatalf("detail: %d %v", status, env)
	}
	if enr := d["enrollment"].(map[string]any); enr["ott"] == nil {
		t.Fatalf("pending ott enrollment missing: %v", enr)
	}

	// Duplicate names conflict.
	if status, env := admin.do("POST", "/identities", map[string]any{"name": "alice", "type": "User", "isAdmin": false}); status != 409 {
		t.Fatalf("duplicate: %d %v", status, env)
	}

	// PATCH changes only what it names.
	if status, env := admin.do("PATCH", "/identities/"+id, map[string]any{"roleAttributes": []string{"ops"}}); status != 200 {
		t.Fatalf("patch: %d %v", status, env)
	}
	_, env = admin.do("GET", "/identities/"+id, nil)
	d = data(env)
	if d["name"] != "alice" || fmt.Sprint(d["roleAttributes"]) != "[ops]" || d["tags"].(map[string]any)["team"] != "blue" {
		t.Fatalf("after patch: %v", d)
	}
	// PUT replaces everything mutable.
	if status, env := admin.do("PUT", "/identities/"+id, map[string]any{"name": "alice2", "type": "Device", "isAdmin": false}); status != 200 {
		t.Fatalf("put: %d %v", status, env)
	}
	_, env = admin.do("GET", "/identities/"+id, nil)
	d = data(env)
	if d["name"] != "alice2" || d["typeId"] != "Device" || len(d["roleAttributes"].([]any)) != 0 || len(d["tags"].(map[string]any)) != 0 {
		t.Fatalf("after put: %v", d)
	}

	// Disable and enable.
	if status, _ := admin.do("POST", "/identities/"+id+"/disable", map[string]any{"durationMinutes": 5}); status != 200 {
		t.Fatalf("disable: %d", status)
	}
	_, env = admin.do("GET", "/identities/"+id, nil)
	if data(env)["disabled"] != true || data(env)["disabledUntil"] == nil {
		t.Fatalf("not disabled: %v", data(env))
	}
	if status, _ := admin.do("POST", "/identities/"+id+"/enable", nil); status != 200 {
		t.Fatalf("enable: %d", status)
	}

	if status, _ := admin.do("DELETE", "/identities/"+id, nil); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	if status, env := admin.do("GET", "/identities/"+id, nil); status != 404 || errorCode(env) != "NOT_FOUND" {
		t.Fatalf("after delete: %d %v", status, env)
	}
	if status, _ := admin.do("DELETE", "/identities/"+id, nil); status != 404 {
		t.Fatalf("second delete: %d", status)
	}
	// The default admin cannot be deleted.
	_, env = admin.do("GET", "/current-identity", nil)
	if status, _ := admin.do("DELETE", "/identities/"+data(env)["id"].(string), nil); status != 409 {
		t.Fatalf("deleting the default admin: %d", status)
	}
}

func TestListsFilterSortAndPage(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	for i := 0; i < 25; i++ {
		typ := "User"
		if i%2 == 1 {
			typ = "Device"
		}
		admin.create("/identities", map[string]any{"name": fmt.Sprintf("id-%02d", i), "type": typ, "isAdmin": false,
			"roleAttributes": []string{fmt.Sprintf("group-%d", i%3)}})
	}
	// Default page is 10, totalCount counts all matches (25 + the admin).
	_, env := admin.do("GET", "/identities", nil)
	p := env["meta"].(map[string]any)["pagination"].(map[string]any)
	if len(items(env)) != 10 || p["limit"].(float64) != 10 || p["totalCount"].(float64) != 26 {
		t.Fatalf("default page: %d items, %v", len(items(env)), p)
	}
	q := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, " ", "%20"), `"`, "%22") }
	_, env = admin.do("GET", "/identities?filter="+q(`name contains "id-1" and type = "Device"`)+"&sort=name%20desc&limit=3", nil)
	got := []string{}
	for _, it := range items(env) {
		got = append(got, it["name"].(string))
	}
	if fmt.Sprint(got) != "[id-19 id-17 id-15]" {
		t.Fatalf("filtered page: %v", got)
	}
	_, env = admin.do("GET", "/identities?filter="+q(`anyOf(roleAttributes) = "group-0"`)+"&limit=500", nil)
	if len(items(env)) != 9 {
		t.Fatalf("anyOf filter: %d", len(items(env)))
	}
	_, env = admin.do("GET", "/identities?offset=20&limit=10", nil)
	if len(items(env)) != 6 {
		t.Fatalf("last page: %d", len(items(env)))
	}
	for _, bad := range []struct{ query, code string }{
		{"filter=" + q(`name = `), "INVALID_FILTER"},
		{"filter=" + q(`name ~ "x"`), "INVALID_FILTER"},
		{"limit=501", "INVALID_PAGINATION"},
		{"limit=0", "INVALID_PAGINATION"},
		{"offset=-1", "INVALID_PAGINATION"},
		{"limit=abc", "COULD_NOT_VALIDATE"},
	} {
		status, env := admin.do("GET", "/identities?"+bad.query, nil)
		if status != 400 || errorCode(env) != bad.code {
			t.Errorf("%s: got %d %s, want 400 %s", bad.query, status, errorCode(env), bad.code)
		}
	}
}

func TestIdentityBadInput(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		want   int
	}{
		{"malformed JSON", "POST", "/identities", `{"name": "x", `, 400},
		{"not an object", "POST", "/identities", `[1,2,3]`, 400},
		{"wrong type", "POST", "/identities", map[string]any{"name": 42, "type": "User", "isAdmin": false}, 400},
		{"missing name", "POST", "/identities", map[string]any{"type": "User", "isAdmin": false}, 400},
		{"missing type", "POST", "/identities", map[string]any{"name": "x", "isAdmin": false}, 400},
		{"bad enum", "POST", "/identities", map[string]any{"name": "x", "type": "Robot", "isAdmin": false}, 400},
		{"over-long name", "POST", "/identities", map[string]any{"name": long, "type": "User", "isAdmin": false}, 400},
		{"over-long attribute", "POST", "/identities", map[string]any{"name": "x", "type": "User", "isAdmin": false, "roleAttributes": []string{long}}, 400},
		{"unknown auth policy", "POST", "/identities", map[string]any{"name": "x", "type": "User", "isAdmin": false, "authPolicyId": "nope"}, 400},
		{"two enrollments", "POST", "/identities", map[string]any{"name": "x", "type": "User", "isAdmin": false, "enrollment": map[string]any{"ott": true, "updb": "someone"}}, 400},
		{"unknown id get", "GET", "/identities/does-not-exist", nil, 404},
		{"unknown id put", "PUT", "/identities/does-not-exist", map[string]any{"name": "x", "type": "User", "isAdmin": false}, 404},
		{"unknown id patch", "PATCH", "/identities/does-not-exist", map[string]any{"name": "x"}, 404},
		{"unknown id delete", "DELETE", "/identities/does-not-exist", nil, 404},
		{"unknown id services", "GET", "/identities/does-not-exist/services", nil, 404},
		{"patch wrong type", "PATCH", "/identities/does-not-exist", map[string]any{"isAdmin": "yes"}, 400},
		{"negative disable", "POST", "/identities/does-not-exist/disable", map[string]any{"durationMinutes": -5}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, env := admin.do(tc.method, tc.path, tc.body)
			if status != tc.want {
				t.Fatalf("got %d, want %d: %v", status, tc.want, env)
			}
		})
	}
	// A body with the wrong content type is refused, not misread.
	status, _, _ := admin.raw("POST", "/identities", "text/plain", []byte("name=x"))
	if status < 400 || status >= 500 {
		t.Fatalf("text/plain body: %d", status)
	}
	if status, _, _ := admin.raw(http.MethodPost, "/identities", "application/json", []byte(strings.Repeat(`{"a":`, 10000))); status != 400 {
		t.Fatalf("deeply nested JSON: %d", status)
	}
}

func TestInitSeedsBuiltins(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	for _, path := range []string{"/config-types/intercept.v1", "/config-types/host.v1", "/auth-policies/default"} {
		if status, env := admin.do("GET", path, nil); status != 200 {
			t.Errorf("%s: %d %v", path, status, env)
		}
	}
	// Running init again on the same directory changes nothing and does not fail.
	if err := controllerInitAgain(c); err != nil {
		t.Fatalf("second init: %v", err)
	}
}
