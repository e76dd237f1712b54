package api_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ostium-net/ostium/controller/api"
)

// expectStatus sends a request and fails unless the answer has the status
// (and, for errors, the envelope code when code is not empty).
func expectStatus(t *testing.T, c *apiClient, method, path string, body any, status int, code string) map[string]any {
	t.Helper()
	got, env := c.do(method, path, body)
	if got != status && !(status == 400 && isBadRequest(got)) {
		t.Fatalf("%s %s: want %d, got %d %v", method, path, status, got, env)
	}
	if code != "" && errorCode(env) != code {
		t.Fatalf("%s %s: want code %s, got %v", method, path, code, env)
	}
	return env
}

// isBadRequest reports whether status answers invalid input (always 400,
// never the runtime's 422 or 6xx).
func isBadRequest(status int) bool { return status == 400 }

// idsOf lists the ids of a list answer, sorted.
func idsOf(env map[string]any) []string {
	var out []string
	for _, it := range items(env) {
		out = append(out, fmt.Sprint(it["id"]))
	}
	slices.Sort(out)
	return out
}

func sameIDs(got []string, want ...string) bool {
	w := slices.Clone(want)
	slices.Sort(w)
	return slices.Equal(got, w)
}

// TestServicesConfigsAndTerminators runs the service, config and terminator
// cases against one controller; each case uses its own names.
func TestServicesConfigsAndTerminators(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *apiClient)
	}{
		{"ServiceCRUD", testServiceCRUD},
		{"ServiceBadInput", testServiceBadInput},
		{"ConfigTypesAndConfigs", testConfigTypesAndConfigs},
		{"BuiltinConfigTypeSchemas", testBuiltinConfigTypeSchemas},
		{"BuiltinConfigMissingFields", testBuiltinConfigMissingFields},
		{"UnknownFilterField", testUnknownFilterField},
		{"TerminatorCRUD", testTerminatorCRUD},
		{"TerminatorBadInput", testTerminatorBadInput},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, c.adminClient(t)) })
	}
}

func testServiceCRUD(t *testing.T, admin *apiClient) {

	id := admin.create("/services", map[string]any{"name": "web", "encryptionRequired": true,
		"roleAttributes": []string{"web", "public"}, "tags": map[string]any{"team": "blue"}})
	d := data(expectStatus(t, admin, "GET", "/services/"+id, nil, 200, ""))
	if d["name"] != "web" || d["encryptionRequired"] != true || d["terminatorStrategy"] != "smartrouting" ||
		fmt.Sprint(d["maxIdleTimeMillis"]) != "0" || fmt.Sprint(d["roleAttributes"]) != "[web public]" ||
		fmt.Sprint(d["configs"]) != "[]" || d["tags"].(map[string]any)["team"] != "blue" {
		t.Fatalf("detail: %v", d)
	}
	if links, _ := d["_links"].(map[string]any); links["self"] == nil {
		t.Fatalf("no self link: %v", d)
	}

	// A false encryptionRequired is kept as given.
	id2 := admin.create("/services", map[string]any{"name": "plain", "encryptionRequired": false,
		"terminatorStrategy": "weighted", "maxIdleTimeMillis": 5000})
	d = data(expectStatus(t, admin, "GET", "/services/"+id2, nil, 200, ""))
	if d["encryptionRequired"] != false || d["terminatorStrategy"] != "weighted" || fmt.Sprint(d["maxIdleTimeMillis"]) != "5000" {
		t.Fatalf("second detail: %v", d)
	}

	// Duplicate names conflict.
	expectStatus(t, admin, "POST", "/services", map[string]any{"name": "web", "encryptionRequired": true}, 409, "CONFLICT")

	// List, filtered.
	env := expectStatus(t, admin, "GET", `/services?filter=name="plain"`, nil, 200, "")
	if !sameIDs(idsOf(env), id2) {
		t.Fatalf("filtered list: %v", env)
	}
	env = expectStatus(t, admin, "GET", "/services?filter="+url.QueryEscape(`name in ["web", "plain"]`)+"&sort=name%20desc&limit=1", nil, 200, "")
	if !sameIDs(idsOf(env), id) || fmt.Sprint(env["meta"].(map[string]any)["pagination"].(map[string]any)["totalCount"]) != "2" {
		t.Fatalf("sorted page: %v", env)
	}

	// PATCH changes only what it names.
	expectStatus(t, admin, "PATCH", "/services/"+id, map[string]any{"name": "web2"}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/services/"+id, nil, 200, ""))
	if d["name"] != "web2" || fmt.Sprint(d["roleAttributes"]) != "[web public]" || d["tags"].(map[string]any)["team"] != "blue" {
		t.Fatalf("after patch: %v", d)
	}
	expectStatus(t, admin, "PATCH", "/services/"+id, map[string]any{"roleAttributes": []string{}, "terminatorStrategy": "random"}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/services/"+id, nil, 200, ""))
	if d["name"] != "web2" || fmt.Sprint(d["roleAttributes"]) != "[]" || d["terminatorStrategy"] != "random" {
		t.Fatalf("after second patch: %v", d)
	}

	// PUT replaces every mutable field; encryptionRequired is fixed at creation.
	expectStatus(t, admin, "PUT", "/services/"+id, map[string]any{"name": "web3", "encryptionRequired": false,
		"roleAttributes": []string{"x"}}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/services/"+id, nil, 200, ""))
	if d["name"] != "web3" || fmt.Sprint(d["roleAttributes"]) != "[x]" || d["terminatorStrategy"] != "smartrouting" ||
		len(d["tags"].(map[string]any)) != 0 || d["encryptionRequired"] != true {
		t.Fatalf("after put: %v", d)
	}

	expectStatus(t, admin, "DELETE", "/services/"+id, nil, 200, "")
	expectStatus(t, admin, "GET", "/services/"+id, nil, 404, "NOT_FOUND")
	expectStatus(t, admin, "DELETE", "/services/"+id, nil, 404, "NOT_FOUND")
}

func testServiceBadInput(t *testing.T, admin *apiClient) {
	id := admin.create("/services", map[string]any{"name": "bad-svc", "encryptionRequired": true})
	long := strings.Repeat("n", 256)

	bad := []struct {
		name, method, path string
		body               any
	}{
		{"malformed JSON", "POST", "/services", `{"name": "x",`},
		{"wrong type", "POST", "/services", `{"name": 5, "encryptionRequired": true}`},
		{"missing name", "POST", "/services", map[string]any{"encryptionRequired": true}},
		{"over-long name", "POST", "/services", map[string]any{"name": long, "encryptionRequired": true}},
		{"unknown strategy", "POST", "/services", map[string]any{"name": "a", "encryptionRequired": true, "terminatorStrategy": "ha"}},
		{"negative idle", "POST", "/services", map[string]any{"name": "a", "encryptionRequired": true, "maxIdleTimeMillis": -1}},
		{"unknown config", "POST", "/services", map[string]any{"name": "a", "encryptionRequired": true, "configs": []string{"nope"}}},
		{"roles not a list", "POST", "/services", `{"name": "a", "encryptionRequired": true, "roleAttributes": "x"}`},
		{"put over-long name", "PUT", "/services/" + id, map[string]any{"name": long}},
		{"put empty name", "PUT", "/services/" + id, map[string]any{"name": ""}},
		{"put bad strategy", "PUT", "/services/" + id, map[string]any{"name": "bad-svc", "terminatorStrategy": "nope"}},
		{"put negative idle", "PUT", "/services/" + id, map[string]any{"name": "bad-svc", "maxIdleTimeMillis": -5}},
		{"patch over-long name", "PATCH", "/services/" + id, map[string]any{"name": long}},
		{"patch bad strategy", "PATCH", "/services/" + id, map[string]any{"terminatorStrategy": "nope"}},
		{"patch unknown config", "PATCH", "/services/" + id, map[string]any{"configs": []string{"nope"}}},
		{"patch malformed", "PATCH", "/services/" + id, `[1,2`},
	}
	for _, b := range bad {
		if status, env := admin.do(b.method, b.path, b.body); !isBadRequest(status) {
			t.Errorf("%s: want 400, got %d %v", b.name, status, env)
		}
	}
	for _, p := range []string{"", "/identities", "/edge-routers", "/configs", "/service-policies", "/terminators"} {
		expectStatus(t, admin, "GET", "/services/missing"+p, nil, 404, "NOT_FOUND")
	}
	expectStatus(t, admin, "PUT", "/services/missing", map[string]any{"name": "x"}, 404, "NOT_FOUND")
	expectStatus(t, admin, "PATCH", "/services/missing", map[string]any{"name": "x"}, 404, "NOT_FOUND")
	expectStatus(t, admin, "GET", "/services?filter=name%3D", nil, 400, "INVALID_FILTER")
}

func testConfigTypesAndConfigs(t *testing.T, admin *apiClient) {

	schema := map[string]any{
		"type":     "object",
		"required": []string{"port"},
		"properties": map[string]any{
			"port": map[string]any{"type": "integer", "minimum": 1, "maximum": 65535},
			"host": map[string]any{"type": "string"},
		},
	}
	typeID := admin.create("/config-types", map[string]any{"name": "test.v1", "schema": schema})
	d := data(expectStatus(t, admin, "GET", "/config-types/"+typeID, nil, 200, ""))
	if d["name"] != "test.v1" || d["schema"].(map[string]any)["type"] != "object" {
		t.Fatalf("config type detail: %v", d)
	}

	// An invalid schema is refused.
	env := expectStatus(t, admin, "POST", "/config-types", map[string]any{"name": "broken", "schema": map[string]any{"type": 12}}, 400, "COULD_NOT_VALIDATE")
	if cause, _ := env["error"].(map[string]any)["cause"].(map[string]any); cause["field"] != "schema" {
		t.Fatalf("invalid schema cause: %v", env)
	}
	expectStatus(t, admin, "POST", "/config-types", map[string]any{"name": "remote", "schema": map[string]any{"$ref": "file:///etc/passwd"}}, 400, "COULD_NOT_VALIDATE")
	expectStatus(t, admin, "PATCH", "/config-types/"+typeID, map[string]any{"schema": map[string]any{"minimum": "x"}}, 400, "COULD_NOT_VALIDATE")

	// Good data passes; the type may be named by id or by name.
	cfgID := admin.create("/configs", map[string]any{"name": "web-cfg", "configTypeId": typeID, "data": map[string]any{"port": 443, "host": "a"}})
	cfg2 := admin.create("/configs", map[string]any{"name": "web-cfg2", "configTypeId": "test.v1", "data": map[string]any{"port": 80}})
	d = data(expectStatus(t, admin, "GET", "/configs/"+cfgID, nil, 200, ""))
	if d["configTypeId"] != typeID || d["configType"].(map[string]any)["name"] != "test.v1" || fmt.Sprint(d["data"].(map[string]any)["port"]) != "443" {
		t.Fatalf("config detail: %v", d)
	}

	// Bad data fails, naming the failing field.
	env = expectStatus(t, admin, "POST", "/configs", map[string]any{"name": "bad", "configTypeId": typeID, "data": map[string]any{"port": 70000}}, 400, "COULD_NOT_VALIDATE")
	if cause, _ := env["error"].(map[string]any)["cause"].(map[string]any); cause["field"] != "data.port" {
		t.Fatalf("bad data cause: %v", env)
	}
	expectStatus(t, admin, "POST", "/configs", map[string]any{"name": "bad", "configTypeId": typeID, "data": map[string]any{"host": "x"}}, 400, "COULD_NOT_VALIDATE")
	expectStatus(t, admin, "POST", "/configs", map[string]any{"name": "bad", "configTypeId": typeID, "data": []int{1}}, 400, "COULD_NOT_VALIDATE")
	expectStatus(t, admin, "POST", "/configs", map[string]any{"name": "bad", "configTypeId": "missing", "data": map[string]any{"port": 1}}, 400, "COULD_NOT_VALIDATE")
	expectStatus(t, admin, "POST", "/configs", map[string]any{"name": "bad", "configTypeId": typeID}, 400, "COULD_NOT_VALIDATE")
	expectStatus(t, admin, "POST", "/configs", map[string]any{"name": strings.Repeat("c", 256), "configTypeId": typeID, "data": map[string]any{"port": 1}}, 400, "COULD_NOT_VALIDATE")
	expectStatus(t, admin, "PUT", "/configs/"+cfgID, map[string]any{"name": "web-cfg", "data": map[string]any{"port": "443"}}, 400, "COULD_NOT_VALIDATE")
	expectStatus(t, admin, "PATCH", "/configs/"+cfgID, map[string]any{"data": map[string]any{"port": 0}}, 400, "COULD_NOT_VALIDATE")
	expectStatus(t, admin, "PATCH", "/configs/"+cfgID, `{"data": 5}`, 400, "")

	// PATCH keeps the data; PUT replaces it and the tags.
	expectStatus(t, admin, "PATCH", "/configs/"+cfgID, map[string]any{"name": "web-cfg-renamed", "tags": map[string]any{"k": "v"}}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/configs/"+cfgID, nil, 200, ""))
	if d["name"] != "web-cfg-renamed" || d["data"].(map[string]any)["host"] != "a" || d["tags"].(map[string]any)["k"] != "v" {
		t.Fatalf("after config patch: %v", d)
	}
	expectStatus(t, admin, "PUT", "/configs/"+cfgID, map[string]any{"name": "web-cfg", "data": map[string]any{"port": 8443}}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/configs/"+cfgID, nil, 200, ""))
	if d["data"].(map[string]any)["host"] != nil || fmt.Sprint(d["data"].(map[string]any)["port"]) != "8443" || len(d["tags"].(map[string]any)) != 0 {
		t.Fatalf("after config put: %v", d)
	}

	// The configs of a type.
	env = expectStatus(t, admin, "GET", "/config-types/"+typeID+"/configs", nil, 200, "")
	if !sameIDs(idsOf(env), cfgID, cfg2) {
		t.Fatalf("configs of type: %v", env)
	}
	expectStatus(t, admin, "GET", "/config-types/missing/configs", nil, 404, "NOT_FOUND")

	// A service holds at most one config per type.
	expectStatus(t, admin, "POST", "/services", map[string]any{"name": "two", "encryptionRequired": true, "configs": []string{cfgID, cfg2}}, 400, "COULD_NOT_VALIDATE")
	svc := admin.create("/services", map[string]any{"name": "cfg-svc", "encryptionRequired": true, "configs": []string{cfgID}})
	d = data(expectStatus(t, admin, "GET", "/services/"+svc, nil, 200, ""))
	if fmt.Sprint(d["configs"]) != "["+cfgID+"]" || fmt.Sprint(d["config"].(map[string]any)["test.v1"].(map[string]any)["port"]) != "8443" {
		t.Fatalf("service with config: %v", d)
	}
	env = expectStatus(t, admin, "GET", "/services/"+svc+"/configs", nil, 200, "")
	if !sameIDs(idsOf(env), cfgID) {
		t.Fatalf("service configs: %v", env)
	}
	expectStatus(t, admin, "PATCH", "/services/"+svc, map[string]any{"configs": []string{cfgID, cfg2}}, 400, "COULD_NOT_VALIDATE")
	// Configs may be named by name too.
	expectStatus(t, admin, "PATCH", "/services/"+svc, map[string]any{"configs": []string{"web-cfg2"}}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/services/"+svc, nil, 200, ""))
	if fmt.Sprint(d["configs"]) != "["+cfg2+"]" {
		t.Fatalf("service configs by name: %v", d)
	}

	// Referenced configs and types cannot be deleted.
	expectStatus(t, admin, "DELETE", "/configs/"+cfg2, nil, 409, "REFERENCED")
	expectStatus(t, admin, "DELETE", "/config-types/"+typeID, nil, 409, "REFERENCED")
	expectStatus(t, admin, "DELETE", "/configs/"+cfgID, nil, 200, "")
	expectStatus(t, admin, "GET", "/configs/"+cfgID, nil, 404, "NOT_FOUND")

	// Config type PUT and PATCH.
	expectStatus(t, admin, "PATCH", "/config-types/"+typeID, map[string]any{"tags": map[string]any{"a": "b"}}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/config-types/"+typeID, nil, 200, ""))
	if d["name"] != "test.v1" || d["tags"].(map[string]any)["a"] != "b" || d["schema"].(map[string]any)["required"] == nil {
		t.Fatalf("after type patch: %v", d)
	}
	expectStatus(t, admin, "PUT", "/config-types/"+typeID, map[string]any{"name": "test.v2"}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/config-types/"+typeID, nil, 200, ""))
	if d["name"] != "test.v2" || len(d["schema"].(map[string]any)) != 0 || len(d["tags"].(map[string]any)) != 0 {
		t.Fatalf("after type put: %v", d)
	}
	// Without a schema, any object is accepted.
	admin.create("/configs", map[string]any{"name": "free", "configTypeId": typeID, "data": map[string]any{"anything": []any{1, "x"}}})

	for _, p := range []string{"/configs/missing", "/config-types/missing"} {
		expectStatus(t, admin, "GET", p, nil, 404, "NOT_FOUND")
		expectStatus(t, admin, "PATCH", p, map[string]any{"name": "x"}, 404, "NOT_FOUND")
		expectStatus(t, admin, "DELETE", p, nil, 404, "NOT_FOUND")
	}
	expectStatus(t, admin, "PUT", "/configs/missing", map[string]any{"name": "x", "data": map[string]any{}}, 404, "NOT_FOUND")
	expectStatus(t, admin, "PUT", "/config-types/missing", map[string]any{"name": "x"}, 404, "NOT_FOUND")
	expectStatus(t, admin, "POST", "/config-types", `{"name": [1]}`, 400, "COULD_NOT_VALIDATE")
	expectStatus(t, admin, "POST", "/config-types", map[string]any{"name": strings.Repeat("t", 256)}, 400, "COULD_NOT_VALIDATE")
	expectStatus(t, admin, "POST", "/config-types", map[string]any{"name": "list-schema", "schema": []int{1}}, 400, "COULD_NOT_VALIDATE")
	expectStatus(t, admin, "POST", "/configs", `{"name":`, 400, "")
}

// testBuiltinConfigTypeSchemas registers the built-in schemas under other
// names and checks tunneler configs against them.
func testBuiltinConfigTypeSchemas(t *testing.T, admin *apiClient) {
	types := map[string]string{}
	for _, ct := range api.BuiltinConfigTypes() {
		if ct.ID != ct.Name {
			t.Fatalf("built-in %s has id %s", ct.Name, ct.ID)
		}
		types[ct.Name] = admin.create("/config-types", map[string]any{"name": "copy-of-" + ct.Name, "schema": ct.Schema})
	}
	intercept, host := types[api.ConfigTypeInterceptV1], types[api.ConfigTypeHostV1]
	if intercept == "" || host == "" {
		t.Fatalf("built-in types: %v", types)
	}

	cases := []struct {
		name   string
		typeID string
		data   map[string]any
		ok     bool
	}{
		{"intercept", intercept, map[string]any{"protocols": []string{"tcp", "udp"}, "addresses": []string{"10.0.0.0/24", "*.example.com", "web.local"},
			"portRanges": []any{map[string]any{"low": 80, "high": 443}}, "dialOptions": map[string]any{"identity": "h1", "connectTimeoutSeconds": 5}}, true},
		{"intercept without addresses", intercept, map[string]any{"protocols": []string{"tcp"}, "portRanges": []any{map[string]any{"low": 1, "high": 2}}}, false},
		{"intercept bad protocol", intercept, map[string]any{"protocols": []string{"sctp"}, "addresses": []string{"a"}, "portRanges": []any{map[string]any{"low": 1, "high": 2}}}, false},
		{"intercept port too high", intercept, map[string]any{"protocols": []string{"tcp"}, "addresses": []string{"a"}, "portRanges": []any{map[string]any{"low": 1, "high": 65536}}}, false},
		{"intercept range without high", intercept, map[string]any{"protocols": []string{"tcp"}, "addresses": []string{"a"}, "portRanges": []any{map[string]any{"low": 1}}}, false},
		{"host fixed", host, map[string]any{"protocol": "tcp", "address": "127.0.0.1", "port": 8080,
			"listenOptions": map[string]any{"bindUsingEdgeIdentity": true, "precedence": "required", "cost": 10}}, true},
		{"host forwarded", host, map[string]any{"forwardProtocol": true, "allowedProtocols": []string{"tcp"}, "forwardAddress": true,
			"allowedAddresses": []string{"10.0.0.0/8"}, "forwardPort": true, "allowedPortRanges": []any{map[string]any{"low": 1, "high": 1024}}}, true},
		{"host with checks", host, map[string]any{"protocol": "udp", "address": "dns", "port": 53,
			"portChecks": []any{map[string]any{"address": "dns:53", "interval": "5s", "timeout": "500ms"}}}, true},
		{"host without port", host, map[string]any{"protocol": "tcp", "address": "127.0.0.1"}, false},
		{"host forward without allowed", host, map[string]any{"protocol": "tcp", "forwardAddress": true, "port": 80}, false},
		{"host bad precedence", host, map[string]any{"protocol": "tcp", "address": "a", "port": 80, "listenOptions": map[string]any{"precedence": "top"}}, false},
	}
	for i, tc := range cases {
		status, env := admin.do("POST", "/configs", map[string]any{"name": fmt.Sprintf("cfg-%d", i), "configTypeId": tc.typeID, "data": tc.data})
		if tc.ok && status != 201 || !tc.ok && (!isBadRequest(status) || errorCode(env) != "COULD_NOT_VALIDATE") {
			t.Errorf("%s: got %d %v", tc.name, status, env)
		}
	}
}

// testBuiltinConfigMissingFields checks that a host.v1 or intercept.v1 config
// missing a field is answered with that field's name, not with the forwarding
// alternative the schema also tried.
func testBuiltinConfigMissingFields(t *testing.T, admin *apiClient) {
	cases := []struct {
		name, typeID string
		data         map[string]any
		field, words string
	}{
		{"host without port", api.ConfigTypeHostV1, map[string]any{"protocol": "tcp", "address": "localhost"}, "data.port", "port is missing"},
		{"host without address", api.ConfigTypeHostV1, map[string]any{"protocol": "tcp", "port": 80}, "data.address", "address is missing"},
		{"host without protocol", api.ConfigTypeHostV1, map[string]any{"address": "localhost", "port": 80}, "data.protocol", "protocol is missing"},
		{"host forwarding ports without ranges", api.ConfigTypeHostV1, map[string]any{"protocol": "tcp", "address": "a", "forwardPort": true},
			"data.allowedPortRanges", "allowedPortRanges is missing"},
		{"intercept without ports", api.ConfigTypeInterceptV1, map[string]any{"protocols": []string{"tcp"}, "addresses": []string{"app.ostium"}},
			"data.portRanges", "portRanges is missing"},
	}
	for i, tc := range cases {
		env := expectStatus(t, admin, "POST", "/configs", map[string]any{"name": fmt.Sprintf("missing-%d", i), "configTypeId": tc.typeID, "data": tc.data},
			400, "COULD_NOT_VALIDATE")
		cause, _ := env["error"].(map[string]any)["cause"].(map[string]any)
		reason, _ := cause["reason"].(string)
		if cause["field"] != tc.field || !strings.HasPrefix(reason, tc.words) {
			t.Errorf("%s: cause %v, want field %s and %q", tc.name, cause, tc.field, tc.words)
		}
	}
	// A patch that removes the port is answered the same way.
	id := admin.create("/configs", map[string]any{"name": "patched-host", "configTypeId": api.ConfigTypeHostV1,
		"data": map[string]any{"protocol": "tcp", "address": "localhost", "port": 80}})
	env := expectStatus(t, admin, "PATCH", "/configs/"+id, map[string]any{"data": map[string]any{"protocol": "tcp", "address": "localhost"}}, 400, "COULD_NOT_VALIDATE")
	if cause, _ := env["error"].(map[string]any)["cause"].(map[string]any); cause["field"] != "data.port" {
		t.Errorf("patch without port: %v", env)
	}
}

// testUnknownFilterField checks that a filter or sort naming a field the
// entity does not have is refused, with the closest field suggested, instead
// of matching nothing.
func testUnknownFilterField(t *testing.T, admin *apiClient) {
	for _, tc := range []struct{ path, words string }{
		{"/services?filter=" + url.QueryEscape(`nme = "web"`), `unknown field "nme"; did you mean "name"?`},
		{"/identities?filter=" + url.QueryEscape(`roleAttribute = "x"`), `did you mean "roleAttributes"?`},
		{"/configs?sort=colour", `unknown sort field "colour"`},
		{"/authenticators?filter=" + url.QueryEscape(`passwordHash = "x"`), `unknown field "passwordHash"`},
	} {
		env := expectStatus(t, admin, "GET", tc.path, nil, 400, "INVALID_FILTER")
		e, _ := env["error"].(map[string]any)
		if text := fmt.Sprint(e["message"], " ", e["cause"]); !strings.Contains(text, tc.words) {
			t.Errorf("GET %s: %v does not say %s", tc.path, e, tc.words)
		}
	}
	// Fields the API names differently from the store still filter.
	expectStatus(t, admin, "GET", "/identities?filter="+url.QueryEscape(`typeId = "User"`)+"&sort=typeId", nil, 200, "")
	expectStatus(t, admin, "GET", "/services?filter="+url.QueryEscape(`tags.team = "blue" and anyOf(roleAttributes) = "x"`), nil, 200, "")
}
