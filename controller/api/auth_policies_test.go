package api_test

import (
	"strings"
	"testing"
)

func fullAuthPolicy(name string) map[string]any {
	return map[string]any{
		"name": name,
		"primary": map[string]any{
			"cert": map[string]any{"allowed": true, "allowExpiredCerts": false},
			"updb": map[string]any{"allowed": true, "minPasswordLength": 8, "requireSpecialChar": true, "requireNumberChar": false,
				"requireMixedCase": true, "maxAttempts": 5, "lockoutDurationMinutes": 10},
			"extJwt": map[string]any{"allowed": false, "allowedSigners": []string{}},
		},
		"secondary": map[string]any{"requireTotp": false},
	}
}

func TestAuthPolicyCRUD(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)

	id := admin.create("/auth-policies", fullAuthPolicy("strict"))
	status, env := admin.do("GET", "/auth-policies/"+id, nil)
	d := data(env)
	if status != 200 || d["name"] != "strict" {
		t.Fatalf("detail: %d %v", status, env)
	}
	updb := d["primary"].(map[string]any)["updb"].(map[string]any)
	if updb["minPasswordLength"] != float64(8) || updb["requireMixedCase"] != true || updb["maxAttempts"] != float64(5) || updb["lockoutDurationMinutes"] != float64(10) {
		t.Fatalf("updb rules: %v", updb)
	}
	if d["primary"].(map[string]any)["extJwt"].(map[string]any)["allowed"] != false || d["secondary"].(map[string]any)["requireTotp"] != false {
		t.Fatalf("detail: %v", d)
	}
	if status, env := admin.do("POST", "/auth-policies", fullAuthPolicy("strict")); status != 409 {
		t.Fatalf("duplicate name: %d %v", status, env)
	}

	// PATCH reaches into the nested documents and keeps the rest.
	patch := map[string]any{"primary": map[string]any{"updb": map[string]any{"maxAttempts": 3}}, "secondary": map[string]any{"requireTotp": true}}
	if status, env := admin.do("PATCH", "/auth-policies/"+id, patch); status != 200 {
		t.Fatalf("patch: %d %v", status, env)
	}
	_, env = admin.do("GET", "/auth-policies/"+id, nil)
	d = data(env)
	updb = d["primary"].(map[string]any)["updb"].(map[string]any)
	if updb["maxAttempts"] != float64(3) || updb["minPasswordLength"] != float64(8) || d["secondary"].(map[string]any)["requireTotp"] != true || d["name"] != "strict" {
		t.Fatalf("after patch: %v", d)
	}
	// PUT replaces the whole document.
	put := fullAuthPolicy("relaxed")
	put["primary"].(map[string]any)["cert"] = map[string]any{"allowed": false, "allowExpiredCerts": true}
	if status, env := admin.do("PUT", "/auth-policies/"+id, put); status != 200 {
		t.Fatalf("put: %d %v", status, env)
	}
	_, env = admin.do("GET", "/auth-policies/"+id, nil)
	d = data(env)
	if cert := d["primary"].(map[string]any)["cert"].(map[string]any); cert["allowed"] != false || cert["allowExpiredCerts"] != true ||
		d["name"] != "relaxed" || d["secondary"].(map[string]any)["requireTotp"] != false {
		t.Fatalf("after put: %v", d)
	}

	// A policy named by an identity cannot be deleted until it is no longer named.
	ident := admin.create("/identities", map[string]any{"name": "ivan", "type": "User", "isAdmin": false, "authPolicyId": id})
	if status, env := admin.do("DELETE", "/auth-policies/"+id, nil); status != 409 {
		t.Fatalf("delete of a policy in use: %d %v", status, env)
	}
	if status, _ := admin.do("DELETE", "/identities/"+ident, nil); status != 200 {
		t.Fatalf("delete identity: %d", status)
	}
	if status, _ := admin.do("DELETE", "/auth-policies/"+id, nil); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	if status, env := admin.do("GET", "/auth-policies/"+id, nil); status != 404 || errorCode(env) != "NOT_FOUND" {
		t.Fatalf("after delete: %d %v", status, env)
	}
	// The built-in policy stays.
	if status, env := admin.do("DELETE", "/auth-policies/default", nil); status != 409 || errorCode(env) != "CONFLICT" {
		t.Fatalf("delete default: %d %v", status, env)
	}

	// Bad input, on the same controller.
	t.Run("bad input", func(t *testing.T) { authPolicyBadInput(t, c) })
}

// authPolicyBadInput sends bad input to every operation of the entity.
func authPolicyBadInput(t *testing.T, c *testCtl) {
	admin := c.adminClient(t)
	id := admin.create("/auth-policies", fullAuthPolicy("p"))
	withUpdb := func(k string, v any) map[string]any {
		p := fullAuthPolicy("q")
		p["primary"].(map[string]any)["updb"].(map[string]any)[k] = v
		return p
	}
	unknownSigner := fullAuthPolicy("q")
	unknownSigner["primary"].(map[string]any)["extJwt"] = map[string]any{"allowed": true, "allowedSigners": []string{"nope"}}
	noPrimary := fullAuthPolicy("q")
	delete(noPrimary, "primary")
	for name, body := range map[string]any{
		"malformed JSON":      `{"name": `,
		"wrong type":          withUpdb("maxAttempts", "many"),
		"missing primary":     noPrimary,
		"short min length":    withUpdb("minPasswordLength", 2),
		"negative attempts":   withUpdb("maxAttempts", -1),
		"over-long name":      fullAuthPolicy(strings.Repeat("n", 256)),
		"unknown signer":      unknownSigner,
		"missing updb fields": map[string]any{"name": "q", "primary": map[string]any{"cert": map[string]any{"allowed": true, "allowExpiredCerts": false}}, "secondary": map[string]any{"requireTotp": false}},
	} {
		if status, env := admin.do("POST", "/auth-policies", body); status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Errorf("create, %s: %d %v", name, status, env)
		}
	}
	if status, env := admin.do("PATCH", "/auth-policies/"+id, map[string]any{"secondary": map[string]any{"requireExtJwtSigner": "nope"}}); status != 400 {
		t.Errorf("patch unknown signer: %d %v", status, env)
	}
	if status, env := admin.do("PUT", "/auth-policies/"+id, map[string]any{"name": "x"}); status != 400 {
		t.Errorf("put without rules: %d %v", status, env)
	}
	for _, op := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/auth-policies/nope", nil},
		{"DELETE", "/auth-policies/nope", nil},
		{"PUT", "/auth-policies/nope", fullAuthPolicy("x")},
		{"PATCH", "/auth-policies/nope", map[string]any{"name": "x"}},
	} {
		if status, env := admin.do(op.method, op.path, op.body); status != 404 || errorCode(env) != "NOT_FOUND" {
			t.Errorf("%s %s: %d %v", op.method, op.path, status, env)
		}
	}
}
