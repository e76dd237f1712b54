package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// advice reads the policy advice for an identity and a service.
func advice(t *testing.T, admin *apiClient, identityID, serviceID string) map[string]any {
	t.Helper()
	return data(expectStatus(t, admin, "GET", "/identities/"+identityID+"/policy-advice/"+serviceID, nil, 200, ""))
}

// problemsOf lists the problems of one permission of an advice.
func problemsOf(adv map[string]any, permission string) string {
	p, _ := adv[permission].(map[string]any)
	return fmt.Sprint(p["problems"])
}

func ready(adv map[string]any, permission string) bool {
	p, _ := adv[permission].(map[string]any)
	return p["ready"] == true
}

// TestPolicyAdviceExplainsWhatIsMissing builds a network from nothing, as
// init leaves it, and checks that the advice and a refused session name each
// missing piece in turn until the identity can dial.
func TestPolicyAdviceExplainsWhatIsMissing(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	carol, carolID := clientFor(t, c, admin, "carol", "staff")
	svc := admin.create("/services", map[string]any{"name": "db", "encryptionRequired": true, "roleAttributes": []string{"databases"}})
	router := admin.create("/edge-routers", map[string]any{"name": "r1", "roleAttributes": []string{"eu"}, "isTunnelerEnabled": false})

	adv := advice(t, admin, carolID, svc)
	if adv["isDialAllowed"] != false || ready(adv, "dial") || adv["identity"].(map[string]any)["name"] != "carol" || adv["service"].(map[string]any)["name"] != "db" {
		t.Fatalf("advice on a bare network: %v", adv)
	}
	for _, want := range []string{"no Dial service policy selects both", "this network has no edge-router policy", "ostium create edge-router-policy",
		"this network has no service-edge-router policy"} {
		if !strings.Contains(problemsOf(adv, "dial"), want) {
			t.Errorf("dial problems %s do not say %q", problemsOf(adv, "dial"), want)
		}
	}

	admin.create("/service-policies", map[string]any{"name": "staff-db", "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"#staff"}, "serviceRoles": []string{"#databases"}})
	// A session is refused, and the refusal says why.
	status, env := carol.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"})
	msg, _ := env["error"].(map[string]any)["message"].(string)
	if status != 400 || errorCode(env) != "NO_EDGE_ROUTERS_AVAILABLE" || !strings.Contains(msg, "this network has no edge-router policy") ||
		!strings.Contains(msg, "ostium-controller init") {
		t.Fatalf("session on a network without router policies: %d %v", status, env)
	}

	// Policies that select others.
	admin.create("/edge-router-policies", map[string]any{"name": "ops-routers", "semantic": "AnyOf",
		"identityRoles": []string{"#ops"}, "edgeRouterRoles": []string{"#all"}})
	admin.create("/service-edge-router-policies", map[string]any{"name": "web-only", "semantic": "AnyOf",
		"serviceRoles": []string{"#web"}, "edgeRouterRoles": []string{"#all"}})
	adv = advice(t, admin, carolID, svc)
	if adv["isDialAllowed"] != true || len(adv["dial"].(map[string]any)["policies"].([]any)) != 1 {
		t.Fatalf("advice with a Dial policy: %v", adv)
	}
	for _, want := range []string{"no edge-router policy selects the identity", "no service-edge-router policy selects the service"} {
		if !strings.Contains(problemsOf(adv, "dial"), want) {
			t.Errorf("dial problems %s do not say %q", problemsOf(adv, "dial"), want)
		}
	}
	if strings.Contains(problemsOf(adv, "dial"), "service policy") {
		t.Errorf("a granted Dial is still reported missing: %s", problemsOf(adv, "dial"))
	}

	// Policies that select them, and the router offline.
	admin.create("/edge-router-policies", map[string]any{"name": "staff-eu", "semantic": "AnyOf",
		"identityRoles": []string{"#staff"}, "edgeRouterRoles": []string{"#eu"}})
	admin.create("/service-edge-router-policies", map[string]any{"name": "db-eu", "semantic": "AnyOf",
		"serviceRoles": []string{"#databases"}, "edgeRouterRoles": []string{"#eu"}})
	adv = advice(t, admin, carolID, svc)
	routers, _ := adv["commonRouters"].([]any)
	if len(routers) != 1 || routers[0].(map[string]any)["name"] != "r1" || routers[0].(map[string]any)["isOnline"] != false ||
		fmt.Sprint(adv["identityRouterCount"]) != "1" || fmt.Sprint(adv["serviceRouterCount"]) != "1" {
		t.Fatalf("common routers: %v", adv)
	}
	if p := problemsOf(adv, "dial"); !strings.Contains(p, "none of the 1 router ") || ready(adv, "dial") {
		t.Fatalf("dial with the router offline: %v", adv["dial"])
	}
	_, env = carol.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"})
	if msg, _ := env["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "none of the 1 router ") || strings.Contains(msg, "r1") {
		t.Fatalf("session with the router offline: %v", env)
	}

	// Online: Dial is ready; Bind is not granted.
	c.ctl.Routers().Connected(router)
	adv = advice(t, admin, carolID, svc)
	if !ready(adv, "dial") || problemsOf(adv, "dial") != "[]" || ready(adv, "bind") || !strings.Contains(problemsOf(adv, "bind"), "no Bind service policy") {
		t.Fatalf("advice with everything in place: %v", adv)
	}
	if status, env := carol.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"}); status != 201 {
		t.Fatalf("session once ready: %d %v", status, env)
	}

	// A posture check the identity's session fails.
	mfa := admin.create("/posture-checks", map[string]any{"typeId": "MFA", "name": "needs-mfa"})
	admin.create("/service-policies", map[string]any{"name": "staff-db-bind", "type": "Bind", "semantic": "AnyOf",
		"identityRoles": []string{"#staff"}, "serviceRoles": []string{"#databases"}, "postureCheckRoles": []string{"@" + mfa}})
	adv = advice(t, admin, carolID, svc)
	bind := adv["bind"].(map[string]any)
	checks := bind["policies"].([]any)[0].(map[string]any)["postureChecks"].([]any)
	if bind["allowed"] != true || bind["postureOk"] != false || ready(adv, "bind") || len(checks) != 1 ||
		checks[0].(map[string]any)["name"] != "needs-mfa" || checks[0].(map[string]any)["evaluated"] != true ||
		!strings.Contains(problemsOf(adv, "bind"), "posture checks fail: needs-mfa (MFA)") || adv["postureApiSessionId"] == "" {
		t.Fatalf("bind behind a failing posture check: %v", adv)
	}

	// A disabled identity.
	expectStatus(t, admin, "POST", "/identities/"+carolID+"/disable", map[string]any{"durationMinutes": 0}, 200, "")
	adv = advice(t, admin, carolID, svc)
	if adv["isIdentityDisabled"] != true || ready(adv, "dial") || !strings.Contains(problemsOf(adv, "dial"), "the identity is disabled") {
		t.Fatalf("advice for a disabled identity: %v", adv)
	}

	// Unknown ids, and who may ask.
	expectStatus(t, admin, "GET", "/identities/nobody/policy-advice/"+svc, nil, 404, "NOT_FOUND")
	expectStatus(t, admin, "GET", "/identities/"+carolID+"/policy-advice/nothing", nil, 404, "NOT_FOUND")
	mgmtAsCarol := &apiClient{t: t, ctl: c, prefix: "/edge/management/v1", token: carol.token}
	if status, _ := mgmtAsCarol.do("GET", "/identities/"+carolID+"/policy-advice/"+svc, nil); status != 401 {
		t.Fatalf("a non-admin read policy advice: %d", status)
	}
}
