package api_test

import (
	"strings"
	"testing"
	"time"
)

func TestEnrollmentCRUDAndRefresh(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	ident := admin.create("/identities", map[string]any{"name": "frank", "type": "Device", "isAdmin": false})
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)

	ott := admin.create("/enrollments", map[string]any{"method": "ott", "identityId": ident, "expiresAt": expires.Format(time.RFC3339)})
	status, env := admin.do("GET", "/enrollments/"+ott, nil)
	d := data(env)
	if status != 200 || d["method"] != "ott" || d["identityId"] != ident || d["identity"].(map[string]any)["name"] != "frank" || d["expiresAt"] == nil {
		t.Fatalf("detail: %d %v", status, env)
	}
	if got, _ := time.Parse(time.RFC3339, d["expiresAt"].(string)); !got.Equal(expires) {
		t.Fatalf("expiresAt %v, want %v", d["expiresAt"], expires)
	}
	// The token is derived anew on read and is the jti of the JWT shown with it.
	if tok, _ := d["token"].(string); tok == "" || jwtToken(t, d["jwt"].(string)) != tok {
		t.Fatalf("token %q does not match the JWT %v", tok, d["jwt"])
	}
	// One pending enrollment per kind of authenticator.
	if status, env := admin.do("POST", "/enrollments", map[string]any{"method": "ott", "identityId": ident, "expiresAt": expires.Format(time.RFC3339)}); status != 409 {
		t.Fatalf("second ott: %d %v", status, env)
	}
	updb := admin.create("/enrollments", map[string]any{"method": "updb", "identityId": ident, "username": "frank-user", "expiresAt": expires.Format(time.RFC3339)})
	_, env = admin.do("GET", "/enrollments/"+updb, nil)
	if data(env)["username"] != "frank-user" {
		t.Fatalf("updb enrollment: %v", data(env))
	}
	_, env = admin.do("GET", "/identities/"+ident, nil)
	if enr := data(env)["enrollment"].(map[string]any); enr["ott"] == nil || enr["updb"] == nil {
		t.Fatalf("identity enrollments: %v", enr)
	}
	if status, env := admin.do("GET", "/identities/"+ident+"/enrollments", nil); status != 200 || len(items(env)) != 2 {
		t.Fatalf("identity enrollment list: %d %v", status, env)
	}

	// ottca needs a CA.
	third := newThirdPartyCA(t, "Enrollment CA")
	ca := admin.create("/cas", caBody("enroll-ca", third.pem))
	other := admin.create("/identities", map[string]any{"name": "gina", "type": "Device", "isAdmin": false})
	ottca := admin.create("/enrollments", map[string]any{"method": "ottca", "identityId": other, "caId": ca, "expiresAt": expires.Format(time.RFC3339)})
	_, env = admin.do("GET", "/enrollments/"+ottca, nil)
	if data(env)["caId"] != ca || data(env)["ca"].(map[string]any)["name"] != "enroll-ca" {
		t.Fatalf("ottca enrollment: %v", data(env))
	}

	// Refresh sets a new expiry.
	later := expires.Add(2 * time.Hour)
	status, env = admin.do("POST", "/enrollments/"+ott+"/refresh", map[string]any{"expiresAt": later.Format(time.RFC3339)})
	if status != 200 || data(env)["id"] != ott {
		t.Fatalf("refresh: %d %v", status, env)
	}
	_, env = admin.do("GET", "/enrollments/"+ott, nil)
	if got, _ := time.Parse(time.RFC3339, data(env)["expiresAt"].(string)); !got.Equal(later) {
		t.Fatalf("after refresh expiresAt %v, want %v", data(env)["expiresAt"], later)
	}

	// Deleting the CA removes the enrollments that name it; deleting works directly too.
	if status, _ := admin.do("DELETE", "/cas/"+ca, nil); status != 200 {
		t.Fatalf("delete CA: %d", status)
	}
	if status, _ := admin.do("GET", "/enrollments/"+ottca, nil); status != 404 {
		t.Fatalf("enrollment of a deleted CA: %d", status)
	}
	if status, _ := admin.do("DELETE", "/enrollments/"+updb, nil); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	if status, env := admin.do("GET", "/enrollments?filter="+urlQuery(`method="updb"`), nil); status != 200 || len(items(env)) != 0 {
		t.Fatalf("list after delete: %d %v", status, env)
	}

	// Bad input, on the same controller.
	t.Run("bad input", func(t *testing.T) { enrollmentBadInput(t, c) })
}

// enrollmentBadInput sends bad input to every operation of the entity.
func enrollmentBadInput(t *testing.T, c *testCtl) {
	admin := c.adminClient(t)
	ident := admin.create("/identities", map[string]any{"name": "hank", "type": "Device", "isAdmin": false})
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	ott := admin.create("/enrollments", map[string]any{"method": "ott", "identityId": ident, "expiresAt": future})
	for name, body := range map[string]any{
		"malformed JSON":     `{"method": `,
		"wrong type":         map[string]any{"method": "ott", "identityId": ident, "expiresAt": 12},
		"bad method":         map[string]any{"method": "erott", "identityId": ident, "expiresAt": future},
		"missing expiry":     map[string]any{"method": "updb", "identityId": ident, "username": "hank-user"},
		"past expiry":        map[string]any{"method": "updb", "identityId": ident, "username": "hank-user", "expiresAt": past},
		"not a date":         map[string]any{"method": "updb", "identityId": ident, "username": "hank-user", "expiresAt": "tomorrow"},
		"unknown identity":   map[string]any{"method": "updb", "identityId": "nope", "username": "hank-user", "expiresAt": future},
		"ottca without CA":   map[string]any{"method": "ottca", "identityId": ident, "expiresAt": future},
		"ottca unknown CA":   map[string]any{"method": "ottca", "identityId": ident, "caId": "nope", "expiresAt": future},
		"updb without name":  map[string]any{"method": "updb", "identityId": ident, "expiresAt": future},
		"over-long username": map[string]any{"method": "updb", "identityId": ident, "username": strings.Repeat("u", 101), "expiresAt": future},
	} {
		if status, env := admin.do("POST", "/enrollments", body); status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Errorf("create, %s: %d %v", name, status, env)
		}
	}
	for name, body := range map[string]any{
		"malformed JSON": `{`,
		"missing expiry": map[string]any{},
		"past expiry":    map[string]any{"expiresAt": past},
		"wrong type":     map[string]any{"expiresAt": true},
	} {
		if status, env := admin.do("POST", "/enrollments/"+ott+"/refresh", body); status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Errorf("refresh, %s: %d %v", name, status, env)
		}
	}
	for _, op := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/enrollments/nope", nil},
		{"DELETE", "/enrollments/nope", nil},
		{"POST", "/enrollments/nope/refresh", map[string]any{"expiresAt": future}},
	} {
		if status, env := admin.do(op.method, op.path, op.body); status != 404 || errorCode(env) != "NOT_FOUND" {
			t.Errorf("%s %s: %d %v", op.method, op.path, status, env)
		}
	}
}
