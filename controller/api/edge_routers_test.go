package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// routerEnrollments lists the enrollments of one router.
func routerEnrollments(t *testing.T, admin *apiClient, routerID string) []map[string]any {
	t.Helper()
	status, env := admin.do("GET", "/enrollments?filter="+urlQuery(fmt.Sprintf("edgeRouterId=%q", routerID)), nil)
	if status != 200 {
		t.Fatalf("list enrollments: %d %v", status, env)
	}
	return items(env)
}

func TestEdgeRouterCRUDAndEnrollment(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)

	id := admin.create("/edge-routers", map[string]any{"name": "er1", "roleAttributes": []string{"public"},
		"isTunnelerEnabled": true, "cost": 10, "tags": map[string]any{"site": "a"}, "appData": map[string]any{"k": "v"}})
	status, env := admin.do("GET", "/edge-routers/"+id, nil)
	d := data(env)
	if status != 200 || d["name"] != "er1" || d["cost"] != float64(10) || d["isTunnelerEnabled"] != true ||
		d["isVerified"] != false || d["isOnline"] != false || d["disabled"] != false || d["noTraversal"] != false ||
		fmt.Sprint(d["roleAttributes"]) != "[public]" || d["tags"].(map[string]any)["site"] != "a" || d["appData"].(map[string]any)["k"] != "v" {
		t.Fatalf("detail: %d %v", status, env)
	}
	if d["enrollmentExpiresAt"] == nil || d["enrollmentCreatedAt"] == nil {
		t.Fatalf("pending enrollment not shown: %v", d)
	}
	if tok, _ := d["enrollmentToken"].(string); tok == "" || jwtToken(t, d["enrollmentJwt"].(string)) != tok {
		t.Fatalf("enrollment token %v does not match the JWT %v", d["enrollmentToken"], d["enrollmentJwt"])
	}
	enrollments := routerEnrollments(t, admin, id)
	if len(enrollments) != 1 || enrollments[0]["method"] != "erott" || enrollments[0]["edgeRouterId"] != id {
		t.Fatalf("router enrollment: %v", enrollments)
	}
	first := enrollments[0]["id"]

	// Duplicate names conflict, and nothing of the refused router remains.
	if status, env := admin.do("POST", "/edge-routers", map[string]any{"name": "er1"}); status != 409 || errorCode(env) != "CONFLICT" {
		t.Fatalf("duplicate: %d %v", status, env)
	}
	if _, env := admin.do("GET", "/enrollments?filter="+urlQuery(`method="erott"`), nil); len(items(env)) != 1 {
		t.Fatalf("a refused router left an enrollment: %v", items(env))
	}

	// PATCH changes only what it names.
	if status, env := admin.do("PATCH", "/edge-routers/"+id, map[string]any{"cost": 20, "noTraversal": true}); status != 200 {
		t.Fatalf("patch: %d %v", status, env)
	}
	_, env = admin.do("GET", "/edge-routers/"+id, nil)
	d = data(env)
	if d["cost"] != float64(20) || d["noTraversal"] != true || d["name"] != "er1" || fmt.Sprint(d["roleAttributes"]) != "[public]" || d["isTunnelerEnabled"] != true {
		t.Fatalf("after patch: %v", d)
	}
	// PUT replaces every mutable field.
	if status, env := admin.do("PUT", "/edge-routers/"+id, map[string]any{"name": "er1b"}); status != 200 {
		t.Fatalf("put: %d %v", status, env)
	}
	_, env = admin.do("GET", "/edge-routers/"+id, nil)
	d = data(env)
	if d["name"] != "er1b" || d["cost"] != float64(0) || d["noTraversal"] != false || d["isTunnelerEnabled"] != false ||
		len(d["roleAttributes"].([]any)) != 0 || len(d["tags"].(map[string]any)) != 0 {
		t.Fatalf("after put: %v", d)
	}

	// Re-enrolling replaces the pending enrollment.
	if status, env := admin.do("POST", "/edge-routers/"+id+"/re-enroll", nil); status != 200 {
		t.Fatalf("re-enroll: %d %v", status, env)
	}
	enrollments = routerEnrollments(t, admin, id)
	if len(enrollments) != 1 || enrollments[0]["id"] == first || enrollments[0]["method"] != "erott" {
		t.Fatalf("after re-enroll: %v", enrollments)
	}

	// Related lists: an edge-router policy naming the router, and an identity it grants.
	ident := admin.create("/identities", map[string]any{"name": "bob", "type": "User", "isAdmin": false, "roleAttributes": []string{"staff"}})
	pol := admin.create("/edge-router-policies", map[string]any{"name": "erp", "semantic": "AnyOf",
		"identityRoles": []string{"#staff"}, "edgeRouterRoles": []string{"@" + id}})
	if status, env := admin.do("GET", "/edge-routers/"+id+"/edge-router-policies", nil); status != 200 || len(items(env)) != 1 || items(env)[0]["id"] != pol {
		t.Fatalf("router policies: %d %v", status, env)
	}
	if status, env := admin.do("GET", "/edge-routers/"+id+"/identities", nil); status != 200 || len(items(env)) != 1 || items(env)[0]["id"] != ident {
		t.Fatalf("router identities: %d %v", status, env)
	}
	if status, env := admin.do("GET", "/edge-routers/"+id+"/services", nil); status != 200 || len(items(env)) != 0 {
		t.Fatalf("router services before any policy: %d %v", status, env)
	}
	svc := admin.create("/services", map[string]any{"name": "web", "encryptionRequired": true, "roleAttributes": []string{"web"}})
	admin.create("/service-edge-router-policies", map[string]any{"name": "serp", "semantic": "AllOf",
		"serviceRoles": []string{"#web"}, "edgeRouterRoles": []string{"#all"}})
	if status, env := admin.do("GET", "/edge-routers/"+id+"/services", nil); status != 200 || len(items(env)) != 1 || items(env)[0]["id"] != svc {
		t.Fatalf("router services: %d %v", status, env)
	}
	if status, env := admin.do("GET", "/identities/"+ident+"/edge-routers", nil); status != 200 || len(items(env)) != 1 || items(env)[0]["name"] != "er1b" {
		t.Fatalf("identity routers: %d %v", status, env)
	}

	// Deleting the router removes its enrollment too.
	if status, _ := admin.do("DELETE", "/edge-routers/"+id, nil); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	if status, env := admin.do("GET", "/edge-routers/"+id, nil); status != 404 || errorCode(env) != "NOT_FOUND" {
		t.Fatalf("after delete: %d %v", status, env)
	}
	if got := routerEnrollments(t, admin, id); len(got) != 0 {
		t.Fatalf("enrollments of a deleted router: %v", got)
	}

	// Bad input, on the same controller.
	t.Run("bad input", func(t *testing.T) { edgeRouterBadInput(t, c) })
}

// edgeRouterBadInput sends bad input to every operation of the entity.
func edgeRouterBadInput(t *testing.T, c *testCtl) {
	admin := c.adminClient(t)
	id := admin.create("/edge-routers", map[string]any{"name": "er"})
	for name, body := range map[string]any{
		"malformed JSON":   `{"name": `,
		"wrong type":       map[string]any{"name": 5},
		"missing name":     map[string]any{"cost": 1},
		"empty name":       map[string]any{"name": ""},
		"over-long name":   map[string]any{"name": strings.Repeat("r", 256)},
		"negative cost":    map[string]any{"name": "x", "cost": -1},
		"cost too high":    map[string]any{"name": "x", "cost": 65536},
		"bad role list":    map[string]any{"name": "x", "roleAttributes": "nope"},
		"non-integer cost": map[string]any{"name": "x", "cost": 1.5},
	} {
		if status, env := admin.do("POST", "/edge-routers", body); status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Errorf("create, %s: %d %v", name, status, env)
		}
		if name == "missing name" || name == "empty name" {
			continue
		}
		if status, env := admin.do("PATCH", "/edge-routers/"+id, body); status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Errorf("patch, %s: %d %v", name, status, env)
		}
	}
	for _, op := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/edge-routers/nope", nil},
		{"DELETE", "/edge-routers/nope", nil},
		{"PUT", "/edge-routers/nope", map[string]any{"name": "x"}},
		{"PATCH", "/edge-routers/nope", map[string]any{"cost": 3}},
		{"POST", "/edge-routers/nope/re-enroll", nil},
		{"GET", "/edge-routers/nope/identities", nil},
		{"GET", "/edge-routers/nope/services", nil},
		{"GET", "/edge-routers/nope/edge-router-policies", nil},
	} {
		if status, env := admin.do(op.method, op.path, op.body); status != 404 || errorCode(env) != "NOT_FOUND" {
			t.Errorf("%s %s: %d %v", op.method, op.path, status, env)
		}
	}
	if status, env := admin.do("GET", "/edge-routers?filter="+urlQuery("name = = 1"), nil); status != 400 || errorCode(env) != "INVALID_FILTER" {
		t.Errorf("bad filter: %d %v", status, env)
	}
	if status, env := admin.do("GET", "/edge-routers/"+id+"/identities?limit=-4", nil); status != 400 {
		t.Errorf("bad limit: %d %v", status, env)
	}
}
