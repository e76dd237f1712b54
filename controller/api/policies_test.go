package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// namedRole finds the display entry of role in a policy detail's list.
func namedRole(d map[string]any, field, role string) string {
	list, _ := d[field].([]any)
	for _, x := range list {
		m, _ := x.(map[string]any)
		if m["role"] == role {
			return fmt.Sprint(m["name"])
		}
	}
	return ""
}

// TestPoliciesAndPostureChecks runs the policy and posture-check cases
// against one controller, in order; each case uses its own names and
// attributes.
func TestPoliciesAndPostureChecks(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *apiClient)
	}{
		{"ServicePolicySemantics", testServicePolicySemantics},
		{"RouterPolicies", testRouterPolicies},
		{"PolicyBadInput", testPolicyBadInput},
		{"PostureCheckTypes", testPostureCheckTypes},
		{"PostureCheckBadInput", testPostureCheckBadInput},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, c.adminClient(t)) })
	}
}

func testServicePolicySemantics(t *testing.T, admin *apiClient) {

	alice := admin.create("/identities", map[string]any{"name": "alice", "type": "User", "isAdmin": false, "roleAttributes": []string{"eng", "web-users"}})
	bob := admin.create("/identities", map[string]any{"name": "bob", "type": "User", "isAdmin": false, "roleAttributes": []string{"eng"}})
	web := admin.create("/services", map[string]any{"name": "web", "encryptionRequired": true, "roleAttributes": []string{"web"}})
	db := admin.create("/services", map[string]any{"name": "db", "encryptionRequired": true})

	// AllOf: only alice has both attributes.
	dial := admin.create("/service-policies", map[string]any{"name": "web-dial", "type": "Dial", "semantic": "AllOf",
		"identityRoles": []string{"#eng", "#web-users"}, "serviceRoles": []string{"#web"}})
	if got := idsOf(expectStatus(t, admin, "GET", "/identities/"+alice+"/services", nil, 200, "")); !sameIDs(got, web) {
		t.Fatalf("alice's services: %v", got)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/identities/"+bob+"/services", nil, 200, "")); len(got) != 0 {
		t.Fatalf("bob's services: %v", got)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/services/"+web+"/identities", nil, 200, "")); !sameIDs(got, alice) {
		t.Fatalf("web's identities: %v", got)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/service-policies/"+dial+"/identities", nil, 200, "")); !sameIDs(got, alice) {
		t.Fatalf("policy identities: %v", got)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/service-policies/"+dial+"/services", nil, 200, "")); !sameIDs(got, web) {
		t.Fatalf("policy services: %v", got)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/services/"+web+"/service-policies", nil, 200, "")); !sameIDs(got, dial) {
		t.Fatalf("web's policies: %v", got)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/identities/"+alice+"/service-policies", nil, 200, "")); !sameIDs(got, dial) {
		t.Fatalf("alice's policies: %v", got)
	}

	// PATCH to AnyOf selects bob too; the other fields stay.
	expectStatus(t, admin, "PATCH", "/service-policies/"+dial, map[string]any{"semantic": "AnyOf"}, 200, "")
	if got := idsOf(expectStatus(t, admin, "GET", "/services/"+web+"/identities", nil, 200, "")); !sameIDs(got, alice, bob) {
		t.Fatalf("web's identities under AnyOf: %v", got)
	}
	d := data(expectStatus(t, admin, "GET", "/service-policies/"+dial, nil, 200, ""))
	if d["name"] != "web-dial" || d["type"] != "Dial" || d["semantic"] != "AnyOf" || fmt.Sprint(d["serviceRoles"]) != "[#web]" {
		t.Fatalf("after patch: %v", d)
	}

	// Named ids: the display shows the entity's name.
	expectStatus(t, admin, "PATCH", "/service-policies/"+dial, map[string]any{"serviceRoles": []string{"@" + db, "#web"}, "identityRoles": []string{"@" + bob}}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/service-policies/"+dial, nil, 200, ""))
	if namedRole(d, "serviceRolesDisplay", "@"+db) != "@db" || namedRole(d, "serviceRolesDisplay", "#web") != "#web" ||
		namedRole(d, "identityRolesDisplay", "@"+bob) != "@bob" || fmt.Sprint(d["postureCheckRolesDisplay"]) != "[]" {
		t.Fatalf("display roles: %v", d)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/identities/"+bob+"/services", nil, 200, "")); !sameIDs(got, web, db) {
		t.Fatalf("bob's services by id: %v", got)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/identities/"+alice+"/services", nil, 200, "")); len(got) != 0 {
		t.Fatalf("alice lost access: %v", got)
	}

	// An identity's new attribute brings it in.
	expectStatus(t, admin, "PATCH", "/service-policies/"+dial, map[string]any{"identityRoles": []string{"#all"}}, 200, "")
	carol := admin.create("/identities", map[string]any{"name": "carol", "type": "Device", "isAdmin": false})
	if got := idsOf(expectStatus(t, admin, "GET", "/identities/"+carol+"/services", nil, 200, "")); !sameIDs(got, web, db) {
		t.Fatalf("carol through #all: %v", got)
	}

	// PUT replaces: no role lists left, nothing selected.
	expectStatus(t, admin, "PUT", "/service-policies/"+dial, map[string]any{"name": "renamed", "type": "Bind", "semantic": "AllOf"}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/service-policies/"+dial, nil, 200, ""))
	if d["name"] != "renamed" || d["type"] != "Bind" || fmt.Sprint(d["identityRoles"]) != "[]" || fmt.Sprint(d["serviceRoles"]) != "[]" {
		t.Fatalf("after put: %v", d)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/services/"+web+"/identities", nil, 200, "")); len(got) != 0 {
		t.Fatalf("web's identities after put: %v", got)
	}

	// List and delete.
	env := expectStatus(t, admin, "GET", `/service-policies?filter=type="Bind"`, nil, 200, "")
	if !sameIDs(idsOf(env), dial) {
		t.Fatalf("filtered policies: %v", env)
	}
	expectStatus(t, admin, "DELETE", "/service-policies/"+dial, nil, 200, "")
	expectStatus(t, admin, "GET", "/service-policies/"+dial, nil, 404, "NOT_FOUND")
	expectStatus(t, admin, "DELETE", "/service-policies/"+dial, nil, 404, "NOT_FOUND")
}

func testRouterPolicies(t *testing.T, admin *apiClient) {
	alice := admin.create("/identities", map[string]any{"name": "ralice", "type": "User", "isAdmin": false, "roleAttributes": []string{"reng"}})
	r1 := admin.create("/edge-routers", map[string]any{"name": "r1", "roleAttributes": []string{"east"}})
	r2 := admin.create("/edge-routers", map[string]any{"name": "r2", "roleAttributes": []string{"west"}})
	web := admin.create("/services", map[string]any{"name": "rweb", "encryptionRequired": true, "roleAttributes": []string{"rweb"}})

	erp := admin.create("/edge-router-policies", map[string]any{"name": "eng-east", "semantic": "AllOf",
		"identityRoles": []string{"#reng"}, "edgeRouterRoles": []string{"#east"}})
	if got := idsOf(expectStatus(t, admin, "GET", "/edge-router-policies/"+erp+"/identities", nil, 200, "")); !sameIDs(got, alice) {
		t.Fatalf("erp identities: %v", got)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/edge-router-policies/"+erp+"/edge-routers", nil, 200, "")); !sameIDs(got, r1) {
		t.Fatalf("erp routers: %v", got)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/identities/"+alice+"/edge-routers", nil, 200, "")); !sameIDs(got, r1) {
		t.Fatalf("alice's routers: %v", got)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/identities/"+alice+"/edge-router-policies", nil, 200, "")); !sameIDs(got, erp) {
		t.Fatalf("alice's router policies: %v", got)
	}
	expectStatus(t, admin, "PATCH", "/edge-router-policies/"+erp, map[string]any{"edgeRouterRoles": []string{"@" + r2}}, 200, "")
	d := data(expectStatus(t, admin, "GET", "/edge-router-policies/"+erp, nil, 200, ""))
	if d["name"] != "eng-east" || namedRole(d, "edgeRouterRolesDisplay", "@"+r2) != "@r2" || namedRole(d, "identityRolesDisplay", "#reng") != "#reng" {
		t.Fatalf("erp after patch: %v", d)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/identities/"+alice+"/edge-routers", nil, 200, "")); !sameIDs(got, r2) {
		t.Fatalf("alice's routers after patch: %v", got)
	}
	expectStatus(t, admin, "PUT", "/edge-router-policies/"+erp, map[string]any{"name": "none", "semantic": "AnyOf"}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/edge-router-policies/"+erp, nil, 200, ""))
	if d["name"] != "none" || d["semantic"] != "AnyOf" || fmt.Sprint(d["identityRoles"]) != "[]" {
		t.Fatalf("erp after put: %v", d)
	}
	expectStatus(t, admin, "GET", "/edge-router-policies?filter=name%3D%22none%22", nil, 200, "")

	serp := admin.create("/service-edge-router-policies", map[string]any{"name": "web-west", "semantic": "AnyOf",
		"serviceRoles": []string{"#rweb"}, "edgeRouterRoles": []string{"#west", "#east"}})
	if got := idsOf(expectStatus(t, admin, "GET", "/service-edge-router-policies/"+serp+"/services", nil, 200, "")); !sameIDs(got, web) {
		t.Fatalf("serp services: %v", got)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/service-edge-router-policies/"+serp+"/edge-routers", nil, 200, "")); !sameIDs(got, r1, r2) {
		t.Fatalf("serp routers: %v", got)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/services/"+web+"/edge-routers", nil, 200, "")); !sameIDs(got, r1, r2) {
		t.Fatalf("web's routers: %v", got)
	}
	expectStatus(t, admin, "PATCH", "/service-edge-router-policies/"+serp, map[string]any{"semantic": "AllOf"}, 200, "")
	if got := idsOf(expectStatus(t, admin, "GET", "/services/"+web+"/edge-routers", nil, 200, "")); len(got) != 0 {
		t.Fatalf("web's routers under AllOf: %v", got)
	}
	d = data(expectStatus(t, admin, "GET", "/service-edge-router-policies/"+serp, nil, 200, ""))
	if d["name"] != "web-west" || namedRole(d, "serviceRolesDisplay", "#rweb") != "#rweb" || len(d["edgeRouterRoles"].([]any)) != 2 {
		t.Fatalf("serp after patch: %v", d)
	}
	expectStatus(t, admin, "PUT", "/service-edge-router-policies/"+serp, map[string]any{"name": "all", "semantic": "AllOf",
		"serviceRoles": []string{"@" + web}, "edgeRouterRoles": []string{"#all"}}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/service-edge-router-policies/"+serp, nil, 200, ""))
	if namedRole(d, "serviceRolesDisplay", "@"+web) != "@rweb" {
		t.Fatalf("serp after put: %v", d)
	}
	if got := idsOf(expectStatus(t, admin, "GET", "/services/"+web+"/edge-routers", nil, 200, "")); !sameIDs(got, r1, r2) {
		t.Fatalf("web's routers after put: %v", got)
	}
	expectStatus(t, admin, "GET", "/service-edge-router-policies?limit=1", nil, 200, "")

	expectStatus(t, admin, "DELETE", "/edge-router-policies/"+erp, nil, 200, "")
	expectStatus(t, admin, "DELETE", "/service-edge-router-policies/"+serp, nil, 200, "")
	expectStatus(t, admin, "GET", "/edge-router-policies/"+erp, nil, 404, "NOT_FOUND")
	expectStatus(t, admin, "GET", "/service-edge-router-policies/"+serp, nil, 404, "NOT_FOUND")
}

func testPolicyBadInput(t *testing.T, admin *apiClient) {
	sp := admin.create("/service-policies", map[string]any{"name": "sp", "type": "Dial", "semantic": "AllOf"})
	erp := admin.create("/edge-router-policies", map[string]any{"name": "erp", "semantic": "AllOf"})
	serp := admin.create("/service-edge-router-policies", map[string]any{"name": "serp", "semantic": "AllOf"})
	long := strings.Repeat("p", 256)

	type req struct {
		method, path string
		body         any
	}
	var bad []req
	for _, k := range []struct {
		path, id, roleField string
		base                map[string]any
	}{
		{"/service-policies", sp, "identityRoles", map[string]any{"name": "n", "type": "Dial", "semantic": "AllOf"}},
		{"/edge-router-policies", erp, "edgeRouterRoles", map[string]any{"name": "n", "semantic": "AllOf"}},
		{"/service-edge-router-policies", serp, "serviceRoles", map[string]any{"name": "n", "semantic": "AllOf"}},
	} {
		with := func(key string, v any) map[string]any {
			m := map[string]any{}
			for a, b := range k.base {
				m[a] = b
			}
			m[key] = v
			return m
		}
		bad = append(bad,
			req{"POST", k.path, `{"name":`},
			req{"POST", k.path, with("name", 7)},
			req{"POST", k.path, with("name", long)},
			req{"POST", k.path, with("semantic", "OneOf")},
			req{"POST", k.path, with(k.roleField, []string{"plain"})},
			req{"POST", k.path, with(k.roleField, []string{"#all", "#x"})},
			req{"POST", k.path, with(k.roleField, []string{"@missing-id"})},
			req{"POST", k.path, with(k.roleField, "#x")},
			req{"PUT", k.path + "/" + k.id, with("name", "")},
			req{"PUT", k.path + "/" + k.id, with(k.roleField, []string{"x"})},
			req{"PATCH", k.path + "/" + k.id, map[string]any{"semantic": "Most"}},
			req{"PATCH", k.path + "/" + k.id, map[string]any{k.roleField: []string{"@nobody"}}},
			req{"PATCH", k.path + "/" + k.id, map[string]any{"name": long}},
			req{"PATCH", k.path + "/" + k.id, `{"name": {}}`},
		)
		missingName := with("name", nil)
		delete(missingName, "name")
		bad = append(bad, req{"POST", k.path, missingName})
		for _, p := range []string{"", "/identities", "/services", "/edge-routers", "/posture-checks"} {
			status, env := admin.do("GET", k.path+"/missing"+p, nil)
			if status != 404 && status != 405 {
				t.Errorf("GET %s/missing%s: %d %v", k.path, p, status, env)
			}
		}
		expectStatus(t, admin, "PUT", k.path+"/missing", k.base, 404, "NOT_FOUND")
		expectStatus(t, admin, "PATCH", k.path+"/missing", map[string]any{"name": "x"}, 404, "NOT_FOUND")
		expectStatus(t, admin, "DELETE", k.path+"/missing", nil, 404, "NOT_FOUND")
	}
	bad = append(bad,
		req{"POST", "/service-policies", map[string]any{"name": "n", "type": "Connect", "semantic": "AllOf"}},
		req{"POST", "/service-policies", map[string]any{"name": "n", "semantic": "AllOf"}},
		req{"PATCH", "/service-policies/" + sp, map[string]any{"type": "Host"}},
		req{"POST", "/service-policies", map[string]any{"name": "n", "type": "Dial", "semantic": "AllOf", "postureCheckRoles": []string{"@nope"}}},
	)
	for _, b := range bad {
		if status, env := admin.do(b.method, b.path, b.body); !isBadRequest(status) || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Errorf("%s %s %v: want 400 COULD_NOT_VALIDATE, got %d %v", b.method, b.path, b.body, status, env)
		}
	}
	// Nothing changed on the stored policies.
	d := data(expectStatus(t, admin, "GET", "/service-policies/"+sp, nil, 200, ""))
	if d["name"] != "sp" || d["type"] != "Dial" || fmt.Sprint(d["identityRoles"]) != "[]" {
		t.Fatalf("policy changed by bad input: %v", d)
	}
}
