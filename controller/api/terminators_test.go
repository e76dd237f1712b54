package api_test

import (
	"fmt"
	"strings"
	"testing"
)

func testTerminatorCRUD(t *testing.T, admin *apiClient) {
	svc := admin.create("/services", map[string]any{"name": "term-web", "encryptionRequired": true})
	other := admin.create("/services", map[string]any{"name": "term-db", "encryptionRequired": true})
	router := admin.create("/edge-routers", map[string]any{"name": "term-r1"})

	id := admin.create("/terminators", map[string]any{"service": svc, "router": router, "binding": "transport", "address": "tcp:10.0.0.5:8080"})
	d := data(expectStatus(t, admin, "GET", "/terminators/"+id, nil, 200, ""))
	if d["serviceId"] != svc || d["routerId"] != router || d["binding"] != "transport" || d["address"] != "tcp:10.0.0.5:8080" ||
		fmt.Sprint(d["cost"]) != "0" || d["precedence"] != "default" || d["identity"] != "" ||
		d["service"].(map[string]any)["name"] != "term-web" || d["router"].(map[string]any)["name"] != "term-r1" {
		t.Fatalf("detail: %v", d)
	}
	id2 := admin.create("/terminators", map[string]any{"service": svc, "router": router, "binding": "edge", "address": "hosted:abc",
		"identity": "host-1", "cost": 100, "precedence": "required", "tags": map[string]any{"k": "v"}})
	d = data(expectStatus(t, admin, "GET", "/terminators/"+id2, nil, 200, ""))
	if d["identity"] != "host-1" || fmt.Sprint(d["cost"]) != "100" || d["precedence"] != "required" || d["tags"].(map[string]any)["k"] != "v" {
		t.Fatalf("second detail: %v", d)
	}

	if got := idsOf(expectStatus(t, admin, "GET", "/services/"+svc+"/terminators", nil, 200, "")); !sameIDs(got, id, id2) {
		t.Fatalf("service terminators: %v", got)
	}
	env := expectStatus(t, admin, "GET", `/terminators?filter=precedence="required"`, nil, 200, "")
	if !sameIDs(idsOf(env), id2) {
		t.Fatalf("filtered: %v", env)
	}

	// PATCH changes only what it names.
	expectStatus(t, admin, "PATCH", "/terminators/"+id2, map[string]any{"cost": 7}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/terminators/"+id2, nil, 200, ""))
	if fmt.Sprint(d["cost"]) != "7" || d["precedence"] != "required" || d["identity"] != "host-1" || d["tags"].(map[string]any)["k"] != "v" {
		t.Fatalf("after patch: %v", d)
	}
	// PUT replaces.
	expectStatus(t, admin, "PUT", "/terminators/"+id2, map[string]any{"service": other, "router": router, "binding": "edge", "address": "hosted:def"}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/terminators/"+id2, nil, 200, ""))
	if d["serviceId"] != other || d["address"] != "hosted:def" || fmt.Sprint(d["cost"]) != "0" || d["precedence"] != "default" ||
		d["identity"] != "" || len(d["tags"].(map[string]any)) != 0 {
		t.Fatalf("after put: %v", d)
	}

	// Deleting a service removes its terminators.
	expectStatus(t, admin, "DELETE", "/services/"+other, nil, 200, "")
	expectStatus(t, admin, "GET", "/terminators/"+id2, nil, 404, "NOT_FOUND")
	expectStatus(t, admin, "DELETE", "/terminators/"+id, nil, 200, "")
	expectStatus(t, admin, "GET", "/terminators/"+id, nil, 404, "NOT_FOUND")
	expectStatus(t, admin, "DELETE", "/terminators/"+id, nil, 404, "NOT_FOUND")
}

func testTerminatorBadInput(t *testing.T, admin *apiClient) {
	svc := admin.create("/services", map[string]any{"name": "tbad-web", "encryptionRequired": true})
	router := admin.create("/edge-routers", map[string]any{"name": "tbad-r1"})
	id := admin.create("/terminators", map[string]any{"service": svc, "router": router, "binding": "edge", "address": "a"})
	valid := func(k string, v any) map[string]any {
		m := map[string]any{"service": svc, "router": router, "binding": "edge", "address": "a"}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}

	bad := []struct {
		method, path string
		body         any
	}{
		{"POST", "/terminators", `{"service":`},
		{"POST", "/terminators", valid("service", nil)},
		{"POST", "/terminators", valid("router", nil)},
		{"POST", "/terminators", valid("address", nil)},
		{"POST", "/terminators", valid("service", "missing")},
		{"POST", "/terminators", valid("router", "missing")},
		{"POST", "/terminators", valid("cost", 65536)},
		{"POST", "/terminators", valid("cost", -1)},
		{"POST", "/terminators", valid("cost", "cheap")},
		{"POST", "/terminators", valid("precedence", "highest")},
		{"POST", "/terminators", valid("address", strings.Repeat("a", 1025))},
		{"POST", "/terminators", valid("binding", strings.Repeat("b", 256))},
		{"PUT", "/terminators/" + id, valid("router", "missing")},
		{"PUT", "/terminators/" + id, valid("precedence", "x")},
		{"PATCH", "/terminators/" + id, map[string]any{"cost": 70000}},
		{"PATCH", "/terminators/" + id, map[string]any{"service": "missing"}},
		{"PATCH", "/terminators/" + id, map[string]any{"precedence": "top"}},
		{"PATCH", "/terminators/" + id, map[string]any{"address": ""}},
		{"PATCH", "/terminators/" + id, `{"cost": [1]}`},
	}
	for _, b := range bad {
		if status, env := admin.do(b.method, b.path, b.body); !isBadRequest(status) || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Errorf("%s %s %v: want 400 COULD_NOT_VALIDATE, got %d %v", b.method, b.path, b.body, status, env)
		}
	}
	expectStatus(t, admin, "GET", "/terminators/missing", nil, 404, "NOT_FOUND")
	expectStatus(t, admin, "PUT", "/terminators/missing", valid("cost", 1), 404, "NOT_FOUND")
	expectStatus(t, admin, "PATCH", "/terminators/missing", map[string]any{"cost": 1}, 404, "NOT_FOUND")
	expectStatus(t, admin, "DELETE", "/terminators/missing", nil, 404, "NOT_FOUND")
	d := data(expectStatus(t, admin, "GET", "/terminators/"+id, nil, 200, ""))
	if d["address"] != "a" || fmt.Sprint(d["cost"]) != "0" {
		t.Fatalf("terminator changed by bad input: %v", d)
	}
}
