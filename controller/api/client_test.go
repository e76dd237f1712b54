package api_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/fullsailor/pkcs7"
)

// clientFor creates an identity with a password and logs it in to the client API.
func clientFor(t *testing.T, c *testCtl, admin *apiClient, name string, attrs ...string) (*apiClient, string) {
	t.Helper()
	id := admin.create("/identities", map[string]any{"name": name, "type": "User", "isAdmin": false, "roleAttributes": attrs})
	admin.create("/authenticators", map[string]any{"method": "updb", "identityId": id, "username": name + "-user", "password": name + "-password"})
	cl := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1"}
	status, env := cl.do("POST", "/authenticate?method=password", map[string]any{"username": name + "-user", "password": name + "-password",
		"configTypes": []string{"all"}, "envInfo": map[string]any{"os": "linux", "arch": "amd64"}, "sdkInfo": map[string]any{"type": "test", "version": "1.2.3"}})
	if status != 200 {
		t.Fatalf("%s login: %d %v", name, status, env)
	}
	cl.token = data(env)["token"].(string)
	return cl, id
}

func TestClientServicesAndSessions(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	alice, aliceID := clientFor(t, c, admin, "alice", "eng")
	bob, _ := clientFor(t, c, admin, "bob")

	cfg := admin.create("/configs", map[string]any{"name": "web-intercept", "configTypeId": "intercept.v1",
		"data": map[string]any{"protocols": []string{"tcp"}, "addresses": []string{"web.ostium"}, "portRanges": []map[string]any{{"low": 80, "high": 80}}}})
	svc := admin.create("/services", map[string]any{"name": "web", "encryptionRequired": true, "roleAttributes": []string{"web"}, "configs": []string{cfg}})
	router := admin.create("/edge-routers", map[string]any{"name": "r1", "roleAttributes": []string{"public"}, "isTunnelerEnabled": false})

	_, env := alice.do("GET", "/current-api-session/service-updates", nil)
	before := data(env)["lastChangeAt"].(string)
	time.Sleep(10 * time.Millisecond)

	admin.create("/service-policies", map[string]any{"name": "eng-dial-web", "type": "Dial", "semantic": "AllOf",
		"identityRoles": []string{"#eng"}, "serviceRoles": []string{"#web"}})
	admin.create("/edge-router-policies", map[string]any{"name": "all-public", "semantic": "AnyOf",
		"identityRoles": []string{"#all"}, "edgeRouterRoles": []string{"#public"}})
	admin.create("/service-edge-router-policies", map[string]any{"name": "web-public", "semantic": "AnyOf",
		"serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})

	_, env = alice.do("GET", "/current-api-session/service-updates", nil)
	if after := data(env)["lastChangeAt"].(string); after == before {
		t.Fatalf("lastChangeAt did not move after a policy granted a service: %s", after)
	}

	// Alice sees the service with its permission and config; Bob sees nothing.
	_, env = alice.do("GET", "/services", nil)
	list := items(env)
	if len(list) != 1 || list[0]["name"] != "web" {
		t.Fatalf("alice's services: %v", env)
	}
	if perms := list[0]["permissions"].([]any); len(perms) != 1 || perms[0] != "Dial" {
		t.Fatalf("permissions: %v", perms)
	}
	if _, ok := list[0]["config"].(map[string]any)["intercept.v1"]; !ok {
		t.Fatalf("config map: %v", list[0]["config"])
	}
	_, env = bob.do("GET", "/services", nil)
	if len(items(env)) != 0 {
		t.Fatalf("bob sees services he was not granted: %v", env)
	}
	if status, _ := bob.do("GET", "/services/"+svc, nil); status != 404 {
		t.Fatalf("bob reading alice's service: %d", status)
	}
	if status, _ := bob.do("DELETE", "/services/"+svc, nil); status != 404 {
		t.Fatalf("bob deleting a service: %d", status)
	}
	if status, _ := alice.do("DELETE", "/services/"+svc, nil); status != 401 {
		t.Fatalf("alice (not admin) deleting a service: %d", status)
	}

	// No router online yet.
	status, env := alice.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"})
	if status != 400 || errorCode(env) != "NO_EDGE_ROUTERS_AVAILABLE" {
		t.Fatalf("session without routers: %d %v", status, env)
	}
	c.ctl.Routers().Connected(router)
	_, env = alice.do("GET", "/current-identity/edge-routers", nil)
	if ers := items(env); len(ers) != 1 || ers[0]["isOnline"] != true {
		t.Fatalf("alice's routers: %v", env)
	}

	status, env = alice.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"})
	if status != 201 {
		t.Fatalf("create session: %d %v", status, env)
	}
	sess := data(env)
	if sess["token"] == "" || len(sess["edgeRouters"].([]any)) != 1 {
		t.Fatalf("session: %v", sess)
	}
	_, env = alice.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"})
	if again := data(env); again["id"] != sess["id"] || again["token"] != sess["token"] {
		t.Fatalf("session create is not idempotent: %v vs %v", again, sess)
	}
	// Bind is not granted; unknown services look the same as forbidden ones.
	for _, body := range []map[string]any{{"serviceId": svc, "type": "Bind"}, {"serviceId": "nope", "type": "Dial"}} {
		if status, env := alice.do("POST", "/sessions", body); status != 404 {
			t.Fatalf("session %v: %d %v", body, status, env)
		}
	}
	if status, _ := bob.do("POST", "/sessions", map[string]any{"serviceId": svc}); status != 404 {
		t.Fatalf("bob creating a session: %d", status)
	}
	sid := sess["id"].(string)
	if status, _ := bob.do("GET", "/sessions/"+sid, nil); status != 404 {
		t.Fatal("bob reads alice's session")
	}
	if status, _ := bob.do("DELETE", "/sessions/"+sid, nil); status != 404 {
		t.Fatal("bob deletes alice's session")
	}
	_, env = bob.do("GET", "/sessions", nil)
	if len(items(env)) != 0 {
		t.Fatal("bob lists alice's sessions")
	}
	_, env = alice.do("GET", "/sessions", nil)
	if len(items(env)) != 1 {
		t.Fatalf("alice's sessions: %v", env)
	}

	// envInfo and sdkInfo were recorded on the identity.
	_, env = admin.do("GET", "/identities/"+aliceID, nil)
	if data(env)["envInfo"].(map[string]any)["os"] != "linux" || data(env)["sdkInfo"].(map[string]any)["version"] != "1.2.3" {
		t.Fatalf("client info not recorded: %v", data(env))
	}

	// Logging out deletes the API session and its sessions.
	if status, _ := alice.do("DELETE", "/current-api-session", nil); status != 200 {
		t.Fatal("logout")
	}
	if status, _ := admin.do("GET", "/sessions/"+sid, nil); status != 404 {
		t.Fatalf("session survived its API session: %d", status)
	}
	if status, _ := alice.do("GET", "/services", nil); status != 401 {
		t.Fatalf("token valid after logout: %d", status)
	}
}

func TestClientInformationalAndCACerts(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	cl := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1"}
	for _, path := range []string{"/version", "/edge/client/v1/version", "/edge/client/v1/", "/edge/client/v1/enumerated-capabilities", "/edge/client/v1/protocols", "/edge/client/v1/specs", "/edge/client/v1/specs/edge-client", "/edge/client/v1/external-jwt-signers"} {
		if status, env := cl.do("GET", path, nil); status != 200 {
			t.Errorf("%s: %d %v", path, status, env)
		}
	}
	status, _, body := cl.raw("GET", "/edge/client/v1/specs/edge-client/spec", "", nil)
	if status != 200 || !strings.Contains(string(body), "swagger") {
		t.Fatalf("spec body: %d", status)
	}
	if status, _ := cl.do("GET", "/specs/nope", nil); status != 404 {
		t.Fatal("unknown spec")
	}
	for _, path := range []string{"/.well-known/est/cacerts", "/edge/client/v1/.well-known/est/cacerts"} {
		status, hdr, body := cl.raw("GET", path, "", nil)
		if status != 200 || hdr.Get("Content-Type") != "application/pkcs7-mime" || hdr.Get("Content-Transfer-Encoding") != "base64" {
			t.Fatalf("%s: %d %v", path, status, hdr)
		}
		der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(body), "\n", ""))
		if err != nil {
			t.Fatal(err)
		}
		p7, err := pkcs7.Parse(der)
		if err != nil || len(p7.Certificates) < 2 {
			t.Fatalf("cacerts bundle: %v %d", err, len(p7.Certificates))
		}
	}
	// Operations that need a session say so with the envelope.
	for _, path := range []string{"/current-identity", "/services", "/sessions", "/current-api-session", "/controllers"} {
		if status, env := cl.do("GET", path, nil); status != 401 || errorCode(env) != "UNAUTHORIZED" {
			t.Errorf("%s without a session: %d %v", path, status, env)
		}
	}
}

func TestClientChangesOwnPassword(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	carol, _ := clientFor(t, c, admin, "carol")
	_, env := carol.do("GET", "/current-identity/authenticators", nil)
	list := items(env)
	if len(list) != 1 {
		t.Fatalf("authenticators: %v", env)
	}
	id := list[0]["id"].(string)
	if status, _ := carol.do("PATCH", "/current-identity/authenticators/"+id, map[string]any{"password": "new-password", "currentPassword": "wrong-one"}); status != 401 {
		t.Fatalf("wrong current password accepted: %d", status)
	}
	if status, env := carol.do("PATCH", "/current-identity/authenticators/"+id, map[string]any{"password": "new-password", "currentPassword": "carol-password"}); status != 200 {
		t.Fatalf("change password: %d %v", status, env)
	}
	cl := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1"}
	if status, _ := cl.do("POST", "/authenticate?method=password", map[string]any{"username": "carol-user", "password": "carol-password"}); status != 401 {
		t.Fatal("old password still works")
	}
	if status, _ := cl.do("POST", "/authenticate?method=password", map[string]any{"username": "carol-user", "password": "new-password"}); status != 200 {
		t.Fatal("new password refused")
	}
	// Another identity's authenticator is invisible.
	dave, _ := clientFor(t, c, admin, "dave")
	if status, _ := dave.do("GET", "/current-identity/authenticators/"+id, nil); status != 404 {
		t.Fatal("dave sees carol's authenticator")
	}
}

func TestClientControllersAndAdminServiceWrites(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	alice, _ := clientFor(t, c, admin, "erin")
	status, env := alice.do("GET", "/controllers", nil)
	if status != 200 || len(items(env)) != 1 || items(env)[0]["ctrlAddress"] == "" {
		t.Fatalf("controllers: %d %v", status, env)
	}
	// An administrator may change services through the client API too.
	svc := admin.create("/services", map[string]any{"name": "client-edited", "encryptionRequired": false})
	adminClient := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1", token: admin.token}
	if status, env := adminClient.do("PATCH", "/services/"+svc, map[string]any{"maxIdleTimeMillis": 0, "roleAttributes": []string{"x"}}); status != 200 {
		t.Fatalf("admin patch via client API: %d %v", status, env)
	}
	if status, env := adminClient.do("PUT", "/services/"+svc, map[string]any{"name": "client-edited-2"}); status != 200 {
		t.Fatalf("admin put via client API: %d %v", status, env)
	}
	_, env = admin.do("GET", "/services/"+svc, nil)
	if data(env)["name"] != "client-edited-2" {
		t.Fatalf("after put: %v", data(env))
	}
	if status, _ := adminClient.do("DELETE", "/services/"+svc, nil); status != 200 {
		t.Fatalf("admin delete via client API: %d", status)
	}
}
