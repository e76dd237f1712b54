package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func testPostureCheckTypes(t *testing.T, admin *apiClient) {

	cases := []struct {
		typeID string
		body   map[string]any
		check  func(d map[string]any) bool
	}{
		{"OS", map[string]any{"operatingSystems": []any{map[string]any{"type": "Windows", "versions": []string{">=10.0.19041"}}, map[string]any{"type": "Linux"}}},
			func(d map[string]any) bool {
				oses := d["operatingSystems"].([]any)
				return len(oses) == 2 && oses[0].(map[string]any)["type"] == "Windows" && fmt.Sprint(oses[0].(map[string]any)["versions"]) == "[>=10.0.19041]"
			}},
		{"PROCESS", map[string]any{"process": map[string]any{"osType": "Windows", "path": `C:\av.exe`, "hashes": []string{"abc"}, "signerFingerprint": "ff"}},
			func(d map[string]any) bool {
				p := d["process"].(map[string]any)
				return p["path"] == `C:\av.exe` && p["osType"] == "Windows" && p["signerFingerprint"] == "ff" && fmt.Sprint(p["hashes"]) == "[abc]"
			}},
		{"PROCESS_MULTI", map[string]any{"semantic": "AnyOf", "processes": []any{map[string]any{"osType": "macOS", "path": "/bin/a", "signerFingerprints": []string{"x", "y"}}}},
			func(d map[string]any) bool {
				ps := d["processes"].([]any)
				return d["semantic"] == "AnyOf" && len(ps) == 1 && fmt.Sprint(ps[0].(map[string]any)["signerFingerprints"]) == "[x y]"
			}},
		{"DOMAIN", map[string]any{"domains": []string{"corp.example"}},
			func(d map[string]any) bool { return fmt.Sprint(d["domains"]) == "[corp.example]" }},
		{"MAC", map[string]any{"macAddresses": []string{"00:11:22:33:44:55"}},
			func(d map[string]any) bool { return fmt.Sprint(d["macAddresses"]) == "[00:11:22:33:44:55]" }},
		{"MFA", map[string]any{"timeoutSeconds": 300, "promptOnWake": true},
			func(d map[string]any) bool {
				return fmt.Sprint(d["timeoutSeconds"]) == "300" && d["promptOnWake"] == true && d["promptOnUnlock"] == false && d["ignoreLegacyEndpoints"] == false
			}},
	}
	ids := map[string]string{}
	for _, tc := range cases {
		body := map[string]any{"typeId": tc.typeID, "name": "check-" + tc.typeID, "roleAttributes": []string{"posture", tc.typeID}}
		for k, v := range tc.body {
			body[k] = v
		}
		id := admin.create("/posture-checks", body)
		ids[tc.typeID] = id
		d := data(expectStatus(t, admin, "GET", "/posture-checks/"+id, nil, 200, ""))
		if d["typeId"] != tc.typeID || d["name"] != "check-"+tc.typeID || fmt.Sprint(d["roleAttributes"]) != "[posture "+tc.typeID+"]" ||
			d["version"] == nil || d["createdAt"] == nil || !tc.check(d) {
			t.Errorf("%s detail: %v", tc.typeID, d)
		}
	}
	env := expectStatus(t, admin, "GET", "/posture-checks?filter="+url.QueryEscape(`name contains "check-"`), nil, 200, "")
	if len(items(env)) != len(cases) {
		t.Fatalf("list: %v", env)
	}
	env = expectStatus(t, admin, "GET", `/posture-checks?filter=typeId="MAC"`, nil, 200, "")
	if !sameIDs(idsOf(env), ids["MAC"]) {
		t.Fatalf("filtered list: %v", env)
	}

	// PATCH: only the named fields change; the version grows.
	before := data(expectStatus(t, admin, "GET", "/posture-checks/"+ids["MFA"], nil, 200, ""))
	expectStatus(t, admin, "PATCH", "/posture-checks/"+ids["MFA"], map[string]any{"typeId": "MFA", "promptOnUnlock": true}, 200, "")
	d := data(expectStatus(t, admin, "GET", "/posture-checks/"+ids["MFA"], nil, 200, ""))
	if d["promptOnUnlock"] != true || d["promptOnWake"] != true || fmt.Sprint(d["timeoutSeconds"]) != "300" || d["name"] != "check-MFA" {
		t.Fatalf("MFA after patch: %v", d)
	}
	if d["version"].(float64) <= before["version"].(float64) {
		t.Fatalf("version did not grow: %v -> %v", before["version"], d["version"])
	}
	expectStatus(t, admin, "PATCH", "/posture-checks/"+ids["PROCESS_MULTI"], map[string]any{"typeId": "PROCESS_MULTI", "semantic": "AllOf"}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/posture-checks/"+ids["PROCESS_MULTI"], nil, 200, ""))
	if d["semantic"] != "AllOf" || len(d["processes"].([]any)) != 1 {
		t.Fatalf("PROCESS_MULTI after patch: %v", d)
	}
	expectStatus(t, admin, "PATCH", "/posture-checks/"+ids["DOMAIN"], map[string]any{"typeId": "DOMAIN", "name": "domains"}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/posture-checks/"+ids["DOMAIN"], nil, 200, ""))
	if d["name"] != "domains" || fmt.Sprint(d["domains"]) != "[corp.example]" || len(d["roleAttributes"].([]any)) != 2 {
		t.Fatalf("DOMAIN after patch: %v", d)
	}

	// PUT replaces.
	expectStatus(t, admin, "PUT", "/posture-checks/"+ids["OS"], map[string]any{"typeId": "OS", "name": "os2",
		"operatingSystems": []any{map[string]any{"type": "Android"}}}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/posture-checks/"+ids["OS"], nil, 200, ""))
	oses := d["operatingSystems"].([]any)
	if d["name"] != "os2" || len(oses) != 1 || oses[0].(map[string]any)["type"] != "Android" || len(d["roleAttributes"].([]any)) != 0 {
		t.Fatalf("OS after put: %v", d)
	}
	expectStatus(t, admin, "PUT", "/posture-checks/"+ids["MFA"], map[string]any{"typeId": "MFA", "name": "mfa2"}, 200, "")
	d = data(expectStatus(t, admin, "GET", "/posture-checks/"+ids["MFA"], nil, 200, ""))
	if d["name"] != "mfa2" || d["promptOnWake"] != false || fmt.Sprint(d["timeoutSeconds"]) != "0" {
		t.Fatalf("MFA after put: %v", d)
	}

	// Service policies select checks by attribute.
	sp := admin.create("/service-policies", map[string]any{"name": "posture-sp", "type": "Dial", "semantic": "AllOf", "postureCheckRoles": []string{"#DOMAIN", "@" + ids["MAC"]}})
	if got := idsOf(expectStatus(t, admin, "GET", "/service-policies/"+sp+"/posture-checks", nil, 200, "")); !sameIDs(got, ids["DOMAIN"], ids["MAC"]) {
		t.Fatalf("policy checks: %v", got)
	}
	d = data(expectStatus(t, admin, "GET", "/service-policies/"+sp, nil, 200, ""))
	if namedRole(d, "postureCheckRolesDisplay", "@"+ids["MAC"]) != "@check-MAC" {
		t.Fatalf("posture display: %v", d)
	}

	expectStatus(t, admin, "DELETE", "/posture-checks/"+ids["MAC"], nil, 200, "")
	expectStatus(t, admin, "GET", "/posture-checks/"+ids["MAC"], nil, 404, "NOT_FOUND")
	if got := idsOf(expectStatus(t, admin, "GET", "/service-policies/"+sp+"/posture-checks", nil, 200, "")); !sameIDs(got, ids["DOMAIN"]) {
		t.Fatalf("policy checks after delete: %v", got)
	}
}

func testPostureCheckBadInput(t *testing.T, admin *apiClient) {
	mfa := admin.create("/posture-checks", map[string]any{"typeId": "MFA", "name": "mfa"})
	long := strings.Repeat("x", 256)

	bad := []struct {
		method, path string
		body         any
	}{
		{"POST", "/posture-checks", `{"typeId": "MFA", "name": `},
		{"POST", "/posture-checks", map[string]any{"name": "no-type"}},
		{"POST", "/posture-checks", map[string]any{"typeId": "FINGERPRINT", "name": "x"}},
		{"POST", "/posture-checks", map[string]any{"typeId": "postureCheckCreate", "name": "x"}},
		{"POST", "/posture-checks", map[string]any{"typeId": 5, "name": "x"}},
		{"POST", "/posture-checks", map[string]any{"typeId": "MFA"}},
		{"POST", "/posture-checks", map[string]any{"typeId": "MFA", "name": long}},
		{"POST", "/posture-checks", map[string]any{"typeId": "MFA", "name": "m", "timeoutSeconds": -2}},
		{"POST", "/posture-checks", map[string]any{"typeId": "OS", "name": "o"}},
		{"POST", "/posture-checks", map[string]any{"typeId": "OS", "name": "o", "operatingSystems": []any{}}},
		{"POST", "/posture-checks", map[string]any{"typeId": "OS", "name": "o", "operatingSystems": []any{nil}}},
		{"POST", "/posture-checks", map[string]any{"typeId": "OS", "name": "o", "operatingSystems": []any{map[string]any{"type": "BeOS"}}}},
		{"POST", "/posture-checks", map[string]any{"typeId": "PROCESS", "name": "p"}},
		{"POST", "/posture-checks", map[string]any{"typeId": "PROCESS", "name": "p", "process": map[string]any{"osType": "Linux"}}},
		{"POST", "/posture-checks", map[string]any{"typeId": "PROCESS_MULTI", "name": "p", "semantic": "AllOf", "processes": []any{}}},
		{"POST", "/posture-checks", map[string]any{"typeId": "PROCESS_MULTI", "name": "p", "semantic": "AllOf", "processes": []any{nil}}},
		{"POST", "/posture-checks", map[string]any{"typeId": "PROCESS_MULTI", "name": "p", "semantic": "Some", "processes": []any{map[string]any{"osType": "Linux", "path": "/a"}}}},
		{"POST", "/posture-checks", map[string]any{"typeId": "DOMAIN", "name": "d", "domains": []string{}}},
		{"POST", "/posture-checks", map[string]any{"typeId": "DOMAIN", "name": "d", "domains": "corp"}},
		{"POST", "/posture-checks", map[string]any{"typeId": "MAC", "name": "m", "macAddresses": []string{""}}},
		{"POST", "/posture-checks", map[string]any{"typeId": "MFA", "name": "m", "roleAttributes": "x"}},
		{"PUT", "/posture-checks/" + mfa, map[string]any{"typeId": "DOMAIN", "name": "d", "domains": []string{"x"}}},
		{"PUT", "/posture-checks/" + mfa, map[string]any{"typeId": "MFA", "name": ""}},
		{"PUT", "/posture-checks/" + mfa, map[string]any{"typeId": "NOPE", "name": "x"}},
		{"PATCH", "/posture-checks/" + mfa, map[string]any{"typeId": "OS", "operatingSystems": []any{map[string]any{"type": "Linux"}}}},
		{"PATCH", "/posture-checks/" + mfa, map[string]any{"name": "no-type"}},
		{"PATCH", "/posture-checks/" + mfa, map[string]any{"typeId": "MFA", "timeoutSeconds": -5}},
		{"PATCH", "/posture-checks/" + mfa, map[string]any{"typeId": "MFA", "name": long}},
		{"PATCH", "/posture-checks/" + mfa, `{"typeId": "MFA", "promptOnWake": "yes"}`},
	}
	for _, b := range bad {
		status, env := admin.do(b.method, b.path, b.body)
		if !isBadRequest(status) {
			t.Errorf("%s %s %v: want 400, got %d %v", b.method, b.path, b.body, status, env)
		}
	}
	expectStatus(t, admin, "GET", "/posture-checks/missing", nil, 404, "NOT_FOUND")
	expectStatus(t, admin, "PUT", "/posture-checks/missing", map[string]any{"typeId": "MFA", "name": "x"}, 404, "NOT_FOUND")
	expectStatus(t, admin, "PATCH", "/posture-checks/missing", map[string]any{"typeId": "MFA", "name": "x"}, 404, "NOT_FOUND")
	expectStatus(t, admin, "DELETE", "/posture-checks/missing", nil, 404, "NOT_FOUND")
	d := data(expectStatus(t, admin, "GET", "/posture-checks/"+mfa, nil, 200, ""))
	if d["typeId"] != "MFA" || d["name"] != "mfa" {
		t.Fatalf("check changed by bad input: %v", d)
	}
}
