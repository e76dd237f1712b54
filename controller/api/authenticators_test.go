package api_test

import (
	"strings"
	"testing"
)

// loginStatus tries a password login on the management API.
func loginStatus(t *testing.T, c *testCtl, username, password string) int {
	t.Helper()
	status, _ := c.managementClient(t).do("POST", "/authenticate?method=password", map[string]any{"username": username, "password": password})
	return status
}

// noSecrets fetches path and fails if any secret appears in the raw answer.
func noSecrets(t *testing.T, admin *apiClient, path string, secrets ...string) map[string]any {
	t.Helper()
	status, _, body := admin.raw("GET", path, "", nil)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	for _, s := range secrets {
		if strings.Contains(string(body), s) {
			t.Fatalf("GET %s exposes a secret: %s", path, body)
		}
	}
	if strings.Contains(string(body), "passwordHash") || strings.Contains(string(body), "argon2") {
		t.Fatalf("GET %s exposes a password hash: %s", path, body)
	}
	return decodeEnvelope(t, body)
}

func TestAuthenticatorCRUD(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	const pw1, pw2, pw3 = "first-Secret-1", "second-Secret-2", "third-Secret-3"

	ident := admin.create("/identities", map[string]any{"name": "carol", "type": "User", "isAdmin": true})
	updb := admin.create("/authenticators", map[string]any{"method": "updb", "identityId": ident, "username": "carol", "password": pw1})
	env := noSecrets(t, admin, "/authenticators/"+updb, pw1)
	d := data(env)
	if d["method"] != "updb" || d["username"] != "carol" || d["identityId"] != ident || d["identity"].(map[string]any)["name"] != "carol" {
		t.Fatalf("updb detail: %v", d)
	}
	noSecrets(t, admin, "/authenticators", pw1)
	noSecrets(t, admin, "/identities/"+ident+"/authenticators", pw1)
	noSecrets(t, admin, "/identities/"+ident, pw1)
	if got := loginStatus(t, c, "carol", pw1); got != 200 {
		t.Fatalf("login with the new authenticator: %d", got)
	}

	// One authenticator per method and identity; usernames are unique.
	if status, env := admin.do("POST", "/authenticators", map[string]any{"method": "updb", "identityId": ident, "username": "carol2", "password": pw1}); status != 409 || errorCode(env) != "CONFLICT" {
		t.Fatalf("second updb: %d %v", status, env)
	}
	other := admin.create("/identities", map[string]any{"name": "dave", "type": "User", "isAdmin": false})
	if status, env := admin.do("POST", "/authenticators", map[string]any{"method": "updb", "identityId": other, "username": "carol", "password": pw1}); status != 409 || errorCode(env) != "CONFLICT" {
		t.Fatalf("taken username: %d %v", status, env)
	}

	// PATCH of the username keeps the password; PUT replaces both.
	if status, env := admin.do("PATCH", "/authenticators/"+updb, map[string]any{"username": "carol-b", "tags": map[string]any{"x": "y"}}); status != 200 {
		t.Fatalf("patch: %d %v", status, env)
	}
	d = data(noSecrets(t, admin, "/authenticators/"+updb, pw1))
	if d["username"] != "carol-b" || d["tags"].(map[string]any)["x"] != "y" {
		t.Fatalf("after patch: %v", d)
	}
	if got := loginStatus(t, c, "carol-b", pw1); got != 200 {
		t.Fatalf("login after username patch: %d", got)
	}
	if status, env := admin.do("PATCH", "/authenticators/"+updb, map[string]any{"password": pw2}); status != 200 {
		t.Fatalf("patch password: %d %v", status, env)
	}
	if got := loginStatus(t, c, "carol-b", pw1); got != 401 {
		t.Fatalf("the old password still works: %d", got)
	}
	if status, env := admin.do("PUT", "/authenticators/"+updb, map[string]any{"username": "carol-c", "password": pw3}); status != 200 {
		t.Fatalf("put: %d %v", status, env)
	}
	d = data(noSecrets(t, admin, "/authenticators/"+updb, pw1, pw2, pw3))
	if d["username"] != "carol-c" || len(d["tags"].(map[string]any)) != 0 {
		t.Fatalf("after put: %v", d)
	}
	if got := loginStatus(t, c, "carol-c", pw3); got != 200 {
		t.Fatalf("login after put: %d", got)
	}

	// A certificate of this network is accepted, one of another CA is not.
	certPEM, fingerprint := networkClientCert(t, c, "carol")
	cert := admin.create("/authenticators", map[string]any{"method": "cert", "identityId": ident, "certPem": certPEM})
	d = data(noSecrets(t, admin, "/authenticators/"+cert))
	if d["method"] != "cert" || d["fingerprint"] != fingerprint || d["isIssuedByNetwork"] != true || d["username"] != nil {
		t.Fatalf("cert detail: %v", d)
	}
	foreign := newThirdPartyCA(t, "Foreign").issue(t, "dave")
	if status, env := admin.do("POST", "/authenticators", map[string]any{"method": "cert", "identityId": other, "certPem": foreign}); status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
		t.Fatalf("foreign certificate: %d %v", status, env)
	}
	if status, env := admin.do("POST", "/authenticators", map[string]any{"method": "cert", "identityId": other, "certPem": certPEM}); status != 409 {
		t.Fatalf("certificate in use: %d %v", status, env)
	}
	if status, env := admin.do("PATCH", "/authenticators/"+cert, map[string]any{"password": pw1}); status != 400 {
		t.Fatalf("password on a cert authenticator: %d %v", status, env)
	}
	_, env = admin.do("GET", "/identities/"+ident, nil)
	if auths := data(env)["authenticators"].(map[string]any); auths["cert"] == nil || auths["updb"] == nil {
		t.Fatalf("identity authenticators: %v", auths)
	}

	// Deleting the identity removes its authenticators.
	if status, _ := admin.do("DELETE", "/identities/"+ident, nil); status != 200 {
		t.Fatalf("delete identity: %d", status)
	}
	for _, id := range []string{updb, cert} {
		if status, env := admin.do("GET", "/authenticators/"+id, nil); status != 404 {
			t.Fatalf("authenticator of a deleted identity: %d %v", status, env)
		}
	}
	// And deleting an authenticator works on its own.
	solo := admin.create("/authenticators", map[string]any{"method": "updb", "identityId": other, "username": "dave", "password": pw1})
	if status, _ := admin.do("DELETE", "/authenticators/"+solo, nil); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	if status, _ := admin.do("DELETE", "/authenticators/"+solo, nil); status != 404 {
		t.Fatalf("second delete: %d", status)
	}

	// Bad input, on the same controller.
	t.Run("bad input", func(t *testing.T) { authenticatorBadInput(t, c) })
}

// authenticatorBadInput sends bad input to every operation of the entity.
func authenticatorBadInput(t *testing.T, c *testCtl) {
	admin := c.adminClient(t)
	ident := admin.create("/identities", map[string]any{"name": "erin", "type": "User", "isAdmin": false})
	updb := admin.create("/authenticators", map[string]any{"method": "updb", "identityId": ident, "username": "erin", "password": "erin-password"})
	const secret = "Sh0rt"
	for name, body := range map[string]any{
		"malformed JSON":     `{"method": `,
		"wrong type":         map[string]any{"method": "updb", "identityId": 3, "username": "erin2", "password": "password-1"},
		"bad method":         map[string]any{"method": "retina", "identityId": ident},
		"missing identity":   map[string]any{"method": "updb", "username": "erin2", "password": "password-1"},
		"unknown identity":   map[string]any{"method": "updb", "identityId": "nope", "username": "erin2", "password": "password-1"},
		"missing password":   map[string]any{"method": "updb", "identityId": ident, "username": "erin2"},
		"short username":     map[string]any{"method": "updb", "identityId": ident, "username": "ab", "password": "password-1"},
		"over-long username": map[string]any{"method": "updb", "identityId": ident, "username": strings.Repeat("u", 101), "password": "password-1"},
		"over-long password": map[string]any{"method": "updb", "identityId": ident, "username": "erin2", "password": strings.Repeat("p", 101)},
		"cert without PEM":   map[string]any{"method": "cert", "identityId": ident},
		"cert not PEM":       map[string]any{"method": "cert", "identityId": ident, "certPem": "garbage"},
	} {
		if status, env := admin.do("POST", "/authenticators", body); status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Errorf("create, %s: %d %v", name, status, env)
		}
	}
	// A refused password is not echoed back.
	status, _, body := admin.raw("POST", "/authenticators", "application/json",
		[]byte(`{"method":"updb","identityId":"`+ident+`","username":"erin3","password":"`+secret[:4]+`"}`))
	if status != 400 || strings.Contains(string(body), `"`+secret[:4]+`"`) {
		t.Errorf("short password: %d %s", status, body)
	}
	for name, body := range map[string]any{
		"malformed JSON":  `{"username": `,
		"missing fields":  map[string]any{"username": "erin4"},
		"short password":  map[string]any{"username": "erin4", "password": "abc"},
		"wrong type":      map[string]any{"username": 4, "password": "password-1"},
		"over-long names": map[string]any{"username": strings.Repeat("u", 101), "password": "password-1"},
	} {
		if status, env := admin.do("PUT", "/authenticators/"+updb, body); status != 400 {
			t.Errorf("put, %s: %d %v", name, status, env)
		}
	}
	if status, env := admin.do("PATCH", "/authenticators/"+updb, map[string]any{"username": "ab"}); status != 400 {
		t.Errorf("patch short username: %d %v", status, env)
	}
	for _, op := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/authenticators/nope", nil},
		{"DELETE", "/authenticators/nope", nil},
		{"PUT", "/authenticators/nope", map[string]any{"username": "abcd", "password": "password-1"}},
		{"PATCH", "/authenticators/nope", map[string]any{"username": "abcd"}},
	} {
		if status, env := admin.do(op.method, op.path, op.body); status != 404 || errorCode(env) != "NOT_FOUND" {
			t.Errorf("%s %s: %d %v", op.method, op.path, status, env)
		}
	}
}
