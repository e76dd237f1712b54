package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// postureWorld is a service reachable through one online router; grant
// adds the service policies.
type postureWorld struct {
	c     *testCtl
	admin *apiClient
	svc   string
}

func newPostureWorld(t *testing.T) *postureWorld {
	t.Helper()
	c := newTestController(t)
	admin := c.adminClient(t)
	svc := admin.create("/services", map[string]any{"name": "web", "encryptionRequired": true, "roleAttributes": []string{"web"}})
	router := admin.create("/edge-routers", map[string]any{"name": "r1", "roleAttributes": []string{"public"}, "isTunnelerEnabled": false})
	admin.create("/edge-router-policies", map[string]any{"name": "all-public", "semantic": "AnyOf", "identityRoles": []string{"#all"}, "edgeRouterRoles": []string{"#public"}})
	admin.create("/service-edge-router-policies", map[string]any{"name": "web-public", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	c.ctl.Routers().Connected(router)
	return &postureWorld{c: c, admin: admin, svc: svc}
}

// grant adds a service policy of type typ for #eng requiring the checks.
func (w *postureWorld) grant(name, typ string, checks ...string) string {
	roles := []string{}
	for _, id := range checks {
		roles = append(roles, "@"+id)
	}
	return w.admin.create("/service-policies", map[string]any{"name": name, "type": typ, "semantic": "AllOf",
		"identityRoles": []string{"#eng"}, "serviceRoles": []string{"#web"}, "postureCheckRoles": roles})
}

// serviceQueries returns the postureQueries of the service as cl sees it.
func serviceQueries(t *testing.T, cl *apiClient, svc string) []map[string]any {
	t.Helper()
	status, env := cl.do("GET", "/services/"+svc, nil)
	if status != 200 {
		t.Fatalf("service detail: %d %v", status, env)
	}
	var out []map[string]any
	for _, x := range data(env)["postureQueries"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func dial(cl *apiClient, svc string) (int, map[string]any) {
	return cl.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"})
}

func TestPostureSessionRefusedThenAllowed(t *testing.T) {
	t.Parallel()
	w := newPostureWorld(t)
	osCheck := w.admin.create("/posture-checks", map[string]any{"typeId": "OS", "name": "windows-recent",
		"operatingSystems": []map[string]any{{"type": "Windows", "versions": []string{">=10.0.19041"}}}})
	policy := w.grant("eng-dial-web", "Dial", osCheck)
	// A Bind policy without checks does not help a Dial.
	w.grant("eng-bind-web", "Bind")
	alice, _ := clientFor(t, w.c, w.admin, "alice", "eng")

	queries := serviceQueries(t, alice, w.svc)
	var dialQ map[string]any
	for _, q := range queries {
		if q["policyId"] == policy {
			dialQ = q
		}
	}
	if len(queries) != 2 || dialQ == nil || dialQ["isPassing"] != false || dialQ["policyType"] != "Dial" {
		t.Fatalf("postureQueries before any response: %v", queries)
	}
	q := dialQ["postureQueries"].([]any)[0].(map[string]any)
	if q["id"] != osCheck || q["queryType"] != "OS" || q["isPassing"] != false || fmt.Sprint(q["timeout"]) != "-1" || fmt.Sprint(q["timeoutRemaining"]) != "-1" {
		t.Fatalf("posture query: %v", q)
	}

	status, env := dial(alice, w.svc)
	if status != 409 || errorCode(env) != "INVALID_POSTURE" {
		t.Fatalf("session without posture: %d %v", status, env)
	}
	if msg := env["error"].(map[string]any)["message"].(string); !strings.Contains(msg, osCheck) || !strings.Contains(msg, "windows-recent") {
		t.Fatalf("INVALID_POSTURE does not name the failing check: %q", msg)
	}

	// Too old a version still fails.
	if status, env := alice.do("POST", "/posture-response", map[string]any{"id": osCheck, "typeId": "OS", "type": "Windows", "version": "10.0.17763"}); status != 201 {
		t.Fatalf("posture response: %d %v", status, env)
	}
	if status, env := dial(alice, w.svc); status != 409 || errorCode(env) != "INVALID_POSTURE" {
		t.Fatalf("session with an old OS: %d %v", status, env)
	}

	if status, env := alice.do("POST", "/posture-response", map[string]any{"id": osCheck, "typeId": "OS", "type": "windows", "version": "10.0.19045", "build": "3803"}); status != 201 {
		t.Fatalf("posture response: %d %v", status, env)
	} else if _, ok := data(env)["services"].([]any); !ok {
		t.Fatalf("posture response body: %v", env)
	}
	for _, q := range serviceQueries(t, alice, w.svc) {
		if q["policyId"] == policy && q["isPassing"] != true {
			t.Fatalf("postureQueries after a passing response: %v", q)
		}
	}
	status, env = dial(alice, w.svc)
	if status != 201 {
		t.Fatalf("session with passing posture: %d %v", status, env)
	}
	sid := data(env)["id"].(string)

	// Another API session of the same identity has its own posture.
	status2, _, _, aliceAgain := clientLogin(t, w.c, "alice-user", "alice-password")
	if status2 != 200 {
		t.Fatalf("second login: %d", status2)
	}
	if status, env := dial(aliceAgain, w.svc); status != 409 {
		t.Fatalf("posture leaked across API sessions: %d %v", status, env)
	}

	// Posture turning failing removes the session.
	if status, env := alice.do("POST", "/posture-response", map[string]any{"id": osCheck, "typeId": "OS", "type": "Linux", "version": "6.1"}); status != 201 {
		t.Fatalf("posture response: %d %v", status, env)
	}
	if status, _ := w.admin.do("GET", "/sessions/"+sid, nil); status != 404 {
		t.Fatalf("session survived failing posture: %d", status)
	}

	// A second Dial policy without checks suffices on its own.
	w.grant("eng-dial-web-open", "Dial")
	if status, env := dial(alice, w.svc); status != 201 {
		t.Fatalf("session through a policy without checks: %d %v", status, env)
	}
}

func TestPostureEachTypeThroughBulk(t *testing.T) {
	t.Parallel()
	w := newPostureWorld(t)
	checks := map[string]string{
		"MAC":    w.admin.create("/posture-checks", map[string]any{"typeId": "MAC", "name": "mac", "macAddresses": []string{"AA:BB:CC:DD:EE:FF"}}),
		"DOMAIN": w.admin.create("/posture-checks", map[string]any{"typeId": "DOMAIN", "name": "domain", "domains": []string{"corp.example"}}),
		"PROCESS": w.admin.create("/posture-checks", map[string]any{"typeId": "PROCESS", "name": "av",
			"process": map[string]any{"osType": "Windows", "path": `C:\AV\av.exe`, "hashes": []string{"abc123"}}}),
		"PROCESS_MULTI": w.admin.create("/posture-checks", map[string]any{"typeId": "PROCESS_MULTI", "name": "agents", "semantic": "AnyOf",
			"processes": []map[string]any{{"osType": "Linux", "path": "/usr/bin/a"}, {"osType": "Linux", "path": "/usr/bin/b"}}}),
		"OS": w.admin.create("/posture-checks", map[string]any{"typeId": "OS", "name": "os", "operatingSystems": []map[string]any{{"type": "Windows"}}}),
	}
	ids := []string{}
	for _, id := range checks {
		ids = append(ids, id)
	}
	w.grant("eng-dial-web", "Dial", ids...)
	alice, _ := clientFor(t, w.c, w.admin, "alice", "eng")

	passing := func() map[string]bool {
		out := map[string]bool{}
		for _, pq := range serviceQueries(t, alice, w.svc) {
			for _, x := range pq["postureQueries"].([]any) {
				q := x.(map[string]any)
				out[q["queryType"].(string)] = q["isPassing"] == true
				if q["queryType"] == "PROCESS" && q["process"].(map[string]any)["path"] != `C:\AV\av.exe` {
					t.Fatalf("PROCESS query without its process: %v", q)
				}
				if q["queryType"] == "PROCESS_MULTI" && len(q["processes"].([]any)) != 2 {
					t.Fatalf("PROCESS_MULTI query without its processes: %v", q)
				}
			}
		}
		return out
	}
	bulk := func(responses ...map[string]any) {
		t.Helper()
		if status, env := alice.do("POST", "/posture-response-bulk", responses); status != 200 {
			t.Fatalf("bulk: %d %v", status, env)
		}
	}

	// Every check fails with the wrong facts.
	bulk(
		map[string]any{"id": checks["MAC"], "typeId": "MAC", "macAddresses": []string{"00:11:22:33:44:55"}},
		map[string]any{"id": checks["DOMAIN"], "typeId": "DOMAIN", "domain": "home"},
		map[string]any{"id": checks["PROCESS"], "typeId": "PROCESS", "path": `c:\av\AV.exe`, "isRunning": true, "hash": "bad"},
		map[string]any{"id": checks["PROCESS_MULTI"], "typeId": "PROCESS", "path": "/usr/bin/a", "isRunning": false},
		map[string]any{"id": checks["OS"], "typeId": "OS", "type": "macOS", "version": "14.1"},
	)
	for typ, ok := range passing() {
		if ok {
			t.Errorf("%s passes with wrong facts", typ)
		}
	}
	if len(passing()) != 5 {
		t.Fatalf("queries: %v", passing())
	}
	if status, env := dial(alice, w.svc); status != 409 || errorCode(env) != "INVALID_POSTURE" {
		t.Fatalf("session with failing posture: %d %v", status, env)
	} else {
		named := fmt.Sprint(env["error"].(map[string]any)["cause"].(map[string]any)["value"])
		for _, id := range ids {
			if !strings.Contains(named, id) {
				t.Fatalf("failing check %s not named: %v", id, env)
			}
		}
	}

	// Each type passes with the right facts; the session needs all of them.
	steps := []struct {
		typ  string
		resp map[string]any
	}{
		{"MAC", map[string]any{"id": checks["MAC"], "typeId": "MAC", "macAddresses": []string{"00:11:22:33:44:55", "aa-bb-cc-dd-ee-ff"}}},
		{"DOMAIN", map[string]any{"id": checks["DOMAIN"], "typeId": "DOMAIN", "domain": "CORP.example"}},
		{"PROCESS", map[string]any{"id": checks["PROCESS"], "typeId": "PROCESS", "path": `c:\av\AV.exe`, "isRunning": true, "hash": "ABC123"}},
		{"PROCESS_MULTI", map[string]any{"id": checks["PROCESS_MULTI"], "typeId": "PROCESS", "path": "/usr/bin/b", "isRunning": true}},
		{"OS", map[string]any{"id": checks["OS"], "typeId": "OS", "type": "Windows", "version": "11"}},
	}
	for i, step := range steps {
		bulk(step.resp)
		if !passing()[step.typ] {
			t.Fatalf("%s does not pass with the right facts: %v", step.typ, passing())
		}
		status, env := dial(alice, w.svc)
		if last := i == len(steps)-1; (status == 201) != last {
			t.Fatalf("after %s: session %d %v", step.typ, status, env)
		}
	}
}

func TestPostureResponseStrict(t *testing.T) {
	t.Parallel()
	w := newPostureWorld(t)
	alice, _ := clientFor(t, w.c, w.admin, "alice", "eng")
	bad := []any{
		map[string]any{"id": "x", "typeId": "NOPE"},
		map[string]any{"id": "x", "typeId": "postureResponseCreate"},
		map[string]any{"id": "x"},
		map[string]any{"typeId": "DOMAIN", "domain": "corp"},
		map[string]any{"id": "", "typeId": "DOMAIN", "domain": "corp"},
		map[string]any{"id": "x", "typeId": "OS", "type": "Windows"},
		map[string]any{"id": "x", "typeId": "OS", "type": "", "version": "10"},
		map[string]any{"id": "x", "typeId": "OS", "type": 10, "version": "10"},
		map[string]any{"id": "x", "typeId": "PROCESS", "isRunning": true},
		map[string]any{"id": "x", "typeId": "PROCESS", "path": "/a", "isRunning": "yes"},
		map[string]any{"id": "x", "typeId": "MAC", "macAddresses": "aa:bb"},
		map[string]any{"id": "x", "typeId": "MAC", "macAddresses": []string{""}},
		map[string]any{"id": "x", "typeId": "DOMAIN"},
		map[string]any{"id": "x", "typeId": "ENDPOINT_STATE", "woken": "true"},
		"not json",
		[]any{},
	}
	for _, body := range bad {
		if status, env := alice.do("POST", "/posture-response", body); status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Errorf("single %v: %d %v", body, status, env)
		}
		if _, isObject := body.(map[string]any); isObject {
			list := []any{map[string]any{"id": "x", "typeId": "DOMAIN", "domain": "corp.example"}, body}
			if status, env := alice.do("POST", "/posture-response-bulk", list); status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
				t.Errorf("bulk with %v: %d %v", body, status, env)
			}
		}
	}
	if status, env := alice.do("POST", "/posture-response-bulk", map[string]any{"id": "x", "typeId": "DOMAIN", "domain": "corp"}); status != 400 {
		t.Errorf("bulk with an object: %d %v", status, env)
	}
	// Nothing of a refused bulk was kept: a DOMAIN check still fails.
	check := w.admin.create("/posture-checks", map[string]any{"typeId": "DOMAIN", "name": "domain", "domains": []string{"corp.example"}})
	w.grant("eng-dial-web", "Dial", check)
	for _, q := range serviceQueries(t, alice, w.svc) {
		if q["isPassing"] != false {
			t.Fatalf("a refused bulk response was stored: %v", q)
		}
	}
	anon := &apiClient{t: t, ctl: w.c, prefix: "/edge/client/v1"}
	if status, _ := anon.do("POST", "/posture-response", map[string]any{"id": "x", "typeId": "DOMAIN", "domain": "corp"}); status != 401 {
		t.Errorf("posture response without a session: %d", status)
	}
	if status, env := alice.do("POST", "/posture-response", map[string]any{"id": "x", "typeId": "ENDPOINT_STATE", "woken": true, "unlocked": true}); status != 201 {
		t.Errorf("endpoint state: %d %v", status, env)
	}
}

func TestPostureMFA(t *testing.T) {
	t.Parallel()
	w := newPostureWorld(t)
	check := w.admin.create("/posture-checks", map[string]any{"typeId": "MFA", "name": "mfa", "timeoutSeconds": 3, "promptOnWake": true})
	w.grant("eng-dial-web", "Dial", check)
	alice, _ := clientFor(t, w.c, w.admin, "alice", "eng")
	if status, env := dial(alice, w.svc); status != 409 || errorCode(env) != "INVALID_POSTURE" {
		t.Fatalf("session before MFA: %d %v", status, env)
	}
	tc, _ := enrollTOTP(t, alice)
	status, env := dial(alice, w.svc)
	if status != 201 {
		t.Fatalf("session after MFA: %d %v", status, env)
	}
	q := serviceQueries(t, alice, w.svc)[0]["postureQueries"].([]any)[0].(map[string]any)
	if fmt.Sprint(q["timeout"]) != "3" || q["timeoutRemaining"].(float64) > 3 {
		t.Fatalf("MFA query: %v", q)
	}
	// The MFA check times out: the session is removed without any request.
	sid := data(env)["id"].(string)
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _ := w.admin.do("GET", "/sessions/"+sid, nil)
		if status == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("session survived its MFA posture timeout")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status, env := dial(alice, w.svc); status != 409 {
		t.Fatalf("session after the MFA timeout: %d %v", status, env)
	}

	// A fresh login with MFA passes again, until the device wakes.
	status, _, _, again := clientLogin(t, w.c, "alice-user", "alice-password")
	if status != 200 {
		t.Fatalf("login: %d", status)
	}
	if status, env := again.do("POST", "/authenticate/mfa", map[string]any{"code": tc.next(t)}); status != 200 {
		t.Fatalf("mfa: %d %v", status, env)
	}
	status, env = dial(again, w.svc)
	if status != 201 {
		t.Fatalf("session after MFA login: %d %v", status, env)
	}
	sid = data(env)["id"].(string)
	if status, env := again.do("POST", "/posture-response", map[string]any{"id": check, "typeId": "ENDPOINT_STATE", "woken": true}); status != 201 {
		t.Fatalf("endpoint state: %d %v", status, env)
	} else if svcs := data(env)["services"].([]any); len(svcs) != 1 || svcs[0].(map[string]any)["postureQueryType"] != "MFA" {
		t.Fatalf("posture response services: %v", env)
	}
	if status, _ := w.admin.do("GET", "/sessions/"+sid, nil); status != 404 {
		t.Fatalf("session survived a wake with promptOnWake: %d", status)
	}
}
