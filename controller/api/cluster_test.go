package api_test

import "testing"

func TestClusterMembersAndControllers(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	status, env := admin.do("GET", "/cluster/members", nil)
	members := items(env)
	if status != 200 || len(members) != 1 {
		t.Fatalf("members: %d %v", status, env)
	}
	m := members[0]
	if m["leader"] != true || m["self"] != true || m["voter"] != true || m["connected"] != true ||
		m["apiAddress"] != c.ctl.Addr() || m["appliedIndex"].(float64) < 1 {
		t.Fatalf("the single member: %v", m)
	}
	// /controllers names this controller's own address, certificate and age.
	cl := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1", token: admin.token}
	status, env = cl.do("GET", "/controllers", nil)
	ctls := items(env)
	if status != 200 || len(ctls) != 1 {
		t.Fatalf("controllers: %d %v", status, env)
	}
	ctl := ctls[0]
	apis, _ := ctl["apiAddresses"].(map[string]any)
	edge, _ := apis["edge-client"].([]any)
	if ctl["isOnline"] != true || ctl["certPem"] == "" || len(ctl["fingerprint"].(string)) != 40 ||
		ctl["createdAt"] == "0001-01-01T00:00:00.000Z" || len(edge) != 1 ||
		edge[0].(map[string]any)["url"] != "https://"+c.ctl.Addr()+"/edge/client/v1" {
		t.Fatalf("controller entry: %v", ctl)
	}
	// Bad input gets the envelope.
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/cluster/members", "{", 400},
		{"POST", "/cluster/members", map[string]any{"id": "x"}, 400},
		{"POST", "/cluster/members", map[string]any{"id": "bad id!", "address": "127.0.0.1:1"}, 400},
		{"POST", "/cluster/members", map[string]any{"id": "x", "address": 5}, 400},
		{"DELETE", "/cluster/members/no-such-node", nil, 404},
		{"POST", "/cluster/transfer-leadership", map[string]any{"id": "no-such-node"}, 404},
		{"POST", "/cluster/transfer-leadership", map[string]any{"id": m["id"]}, 400},
	} {
		if status, env := admin.do(tc.method, tc.path, tc.body); status != tc.want {
			t.Errorf("%s %s %v: %d %v, want %d", tc.method, tc.path, tc.body, status, env, tc.want)
		}
	}
	// Not for non-admins.
	anon := c.managementClient(t)
	if status, _ := anon.do("GET", "/cluster/members", nil); status != 401 {
		t.Fatalf("anonymous members list: %d", status)
	}
}
