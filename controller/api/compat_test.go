package api_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
)

// instanceWatch is a transport that checks every answer for the
// ziti-instance-id header, as OpenZiti's C SDK reads it on each one.
type instanceWatch struct {
	base http.RoundTripper
	mu   sync.Mutex
	ids  map[string]int
	bare []string // requests answered without the header
}

func (w *instanceWatch) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := w.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if id := resp.Header.Get("ziti-instance-id"); id != "" {
		w.ids[id]++
	} else {
		w.bare = append(w.bare, r.Method+" "+r.URL.RequestURI())
	}
	return resp, nil
}

// check fails t unless every answer carried one and the same instance id,
// and returns it.
func (w *instanceWatch) check(t *testing.T) string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.bare) > 0 {
		t.Errorf("answers without ziti-instance-id: %v", w.bare)
	}
	if len(w.ids) != 1 {
		t.Fatalf("instance ids seen: %v, want exactly one", w.ids)
	}
	for id := range w.ids {
		return id
	}
	return ""
}

// watched returns a copy of a that talks to the controller at the root
// through an instanceWatch.
func watched(a *apiClient) (*apiClient, *instanceWatch) {
	w := &instanceWatch{base: a.ctl.client.Transport, ids: map[string]int{}}
	cc := *a.ctl
	cc.client = &http.Client{Transport: w, Timeout: 30 * time.Second}
	return &apiClient{t: a.t, ctl: &cc, prefix: "", token: a.token}, w
}

// TestCSDKSignInAndServiceRefreshAtRootPaths plays OpenZiti's C SDK (1.x):
// after /version it uses the client API at the controller's root, in this
// order, with a certificate, reading ziti-instance-id on every answer and
// the session token back from /current-api-session.
func TestCSDKSignInAndServiceRefreshAtRootPaths(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	identityID, cert := enrolledIdentity(t, c, admin, "tunneler")
	admin.do("PATCH", "/identities/"+identityID, map[string]any{"roleAttributes": []string{"users"}})
	svc := admin.create("/services", map[string]any{"name": "web", "encryptionRequired": true, "roleAttributes": []string{"web"}})
	domain := admin.create("/posture-checks", map[string]any{"typeId": "DOMAIN", "name": "corp", "domains": []string{"corp.example"}})
	admin.create("/service-policies", map[string]any{"name": "users-dial-web", "type": "Dial", "semantic": "AllOf",
		"identityRoles": []string{"#users"}, "serviceRoles": []string{"#web"}, "postureCheckRoles": []string{"@" + domain}})
	c.ctl.Routers().Connected(admin.create("/edge-routers", map[string]any{"name": "edge-1", "roleAttributes": []string{"public"}}))
	admin.create("/edge-router-policies", map[string]any{"name": "all", "semantic": "AnyOf", "identityRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	admin.create("/service-edge-router-policies", map[string]any{"name": "all", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})

	sdk, watch := watched(c.clientAPI(t, cert))
	step := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		status, env := sdk.do(method, path, body)
		if status != want {
			t.Fatalf("%s %s: %d %v, want %d", method, path, status, env, want)
		}
		return env
	}

	v := data(step("GET", "/version", nil, 200))
	api := v["apiVersions"].(map[string]any)["edge-client"].(map[string]any)["v1"].(map[string]any)
	if api["path"] != "/edge/client/v1" {
		t.Fatalf("/version edge-client path: %v", api)
	}
	step("GET", "/external-jwt-signers?limit=25&offset=0", nil, 200)
	// Before the sign-in the API is closed at the root as under its path.
	step("GET", "/services", nil, 401)
	auth := data(step("POST", "/authenticate?method=cert", map[string]any{
		"sdkInfo": map[string]any{"type": "ziti-sdk-c", "version": "1.18.0"}, "envInfo": map[string]any{"os": "Linux", "arch": "x86_64"},
		"configTypes": []string{"intercept.v1", "host.v1"}}, 200))
	sdk.token = auth["token"].(string)
	cur := data(step("GET", "/current-api-session", nil, 200))
	if cur["token"] != sdk.token || cur["id"] != auth["id"] {
		t.Fatalf("current-api-session token %v id %v, want %v %v", cur["token"], cur["id"], sdk.token, auth["id"])
	}
	for _, f := range []string{"lastActivityAt", "cachedLastActivityAt", "expiresAt", "createdAt"} {
		if at, _ := cur[f].(string); at == "" || strings.HasPrefix(at, "0001-") {
			t.Errorf("current-api-session %s = %q", f, at)
		}
	}
	if ref := cur["identity"].(map[string]any); ref["entity"] != "identities" || ref["id"] != identityID {
		t.Fatalf("identity reference: %v", ref)
	}
	if me := data(step("GET", "/current-identity", nil, 200)); me["id"] != identityID {
		t.Fatalf("current-identity: %v", me)
	}
	status, hdr, body := sdk.raw("GET", "/.well-known/est/cacerts", "", nil)
	if status != 200 || hdr.Get("Content-Type") != "application/pkcs7-mime" || len(body) == 0 {
		t.Fatalf("cacerts at the root: %d %v", status, hdr)
	}
	services := items(step("GET", "/services?limit=500&configTypes=all", nil, 200))
	if len(services) != 1 || services[0]["id"] != svc {
		t.Fatalf("services: %v", services)
	}
	// The C SDK writes its filter's quotes unescaped.
	if byName := items(step("GET", `/services?filter=name="web"`, nil, 200)); len(byName) != 1 {
		t.Fatalf("services by name: %v", byName)
	}
	if routers := items(step("GET", "/current-identity/edge-routers?limit=25&offset=0", nil, 200)); len(routers) != 1 {
		t.Fatalf("edge routers: %v", routers)
	}
	if upd := data(step("GET", "/current-api-session/service-updates", nil, 200)); upd["lastChangeAt"] == nil {
		t.Fatalf("service-updates: %v", upd)
	}
	// Without its posture the session is refused, with it granted.
	step("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"}, 409)
	step("POST", "/posture-response-bulk", []map[string]any{{"id": domain, "typeId": "DOMAIN", "domain": "corp.example"}}, 200)
	sess := data(step("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"}, 201))
	if sess["token"] == "" || sess["apiSession"].(map[string]any)["entity"] != "api-sessions" || sess["service"].(map[string]any)["entity"] != "services" {
		t.Fatalf("session: %v", sess)
	}
	// The management API stays where it is: not at the root.
	if status, env := (&apiClient{t: t, ctl: sdk.ctl, token: admin.token}).do("GET", "/identities", nil); status != 404 {
		t.Fatalf("management list at the root: %d %v", status, env)
	}
	step("DELETE", "/current-api-session", nil, 200)
	step("GET", "/current-api-session", nil, 401)
	t.Logf("instance %s on %d answers", watch.check(t), len(watch.ids))
}

// TestClientAPIAnswersAlikeAtTheRoot sends every client operation to both
// places, anonymously, and expects the same status: one API, two mounts.
func TestClientAPIAnswersAlikeAtTheRoot(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	under := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1"}
	root := &apiClient{t: t, ctl: c, prefix: ""}
	for _, op := range clientOperations(t) {
		path := strings.NewReplacer("{id}", "does-not-exist").Replace(op.path)
		if op.method == "POST" && strings.HasPrefix(path, "/enroll") {
			continue // each attempt is recorded; the answer is the same 4xx either way
		}
		a, _, _ := under.raw(op.method, path, "", nil)
		b, _, _ := root.raw(op.method, path, "", nil)
		if a != b {
			t.Errorf("%s %s: %d under /edge/client/v1, %d at the root", op.method, op.path, a, b)
		}
		if op.secured && b != 401 {
			t.Errorf("%s %s at the root, anonymous: %d, want 401", op.method, op.path, b)
		}
	}
	for _, path := range []string{"/nope", "/edge/nope", "/edge/client/v2/version"} {
		status, env := root.do("GET", path, nil)
		if status != 404 || errorCode(env) != "NOT_FOUND" {
			t.Errorf("GET %s: %d %v", path, status, env)
		}
	}
}

// TestInstanceIDIsPerProcess: every answer of a running controller carries
// the same ziti-instance-id, errors included; a restart brings a new one.
func TestInstanceIDIsPerProcess(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	get := func(base, path string) string {
		t.Helper()
		resp, err := c.client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		id := resp.Header.Get("ziti-instance-id")
		if id == "" {
			t.Fatalf("GET %s: %d without ziti-instance-id", path, resp.StatusCode)
		}
		return id
	}
	first := get(c.base, "/version")
	for _, path := range []string{"/edge/client/v1/version", "/edge/management/v1/version", "/edge/management/v1/identities", "/nope", "/services", "/.well-known/est/cacerts"} {
		if id := get(c.base, path); id != first {
			t.Fatalf("GET %s: instance %s, want %s", path, id, first)
		}
	}
	if err := c.ctl.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	again, err := controller.Start(ctx, c.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = again.Close() })
	if second := get("https://"+again.Addr(), "/version"); second == first {
		t.Fatalf("the restarted controller kept instance id %s", first)
	}
}

// TestEntityReferencesNameTheirCollection walks the answers of every list of
// both APIs for entity references and checks each one: its entity is the
// collection it lives in, its self link points there, and following it finds
// the entity. Every kind of reference the APIs give out must be met.
func TestEntityReferencesNameTheirCollection(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	policy := admin.create("/auth-policies", fullAuthPolicy("refs"))
	identityID, cert := enrolledIdentity(t, c, admin, "walker")
	admin.do("PATCH", "/identities/"+identityID, map[string]any{"authPolicyId": policy, "roleAttributes": []string{"walkers"}})
	caID, _ := registerCA(t, admin, "third-party", true, nil)
	identityEnrollment(t, admin, "pending-ottca", map[string]any{"ottca": caID})
	identityEnrollment(t, admin, "pending-ott", map[string]any{"ott": true})
	router := admin.create("/edge-routers", map[string]any{"name": "edge-1"})
	c.ctl.Routers().Connected(router)
	cfg := admin.create("/configs", map[string]any{"name": "web-intercept", "configTypeId": "intercept.v1",
		"data": map[string]any{"protocols": []string{"tcp"}, "addresses": []string{"web.ostium"}, "portRanges": []map[string]any{{"low": 80, "high": 80}}}})
	svc := admin.create("/services", map[string]any{"name": "web", "encryptionRequired": false, "roleAttributes": []string{"web"}, "configs": []string{cfg}})
	admin.create("/terminators", map[string]any{"service": svc, "router": router, "binding": "edge", "address": "hosted:1"})
	admin.create("/service-policies", map[string]any{"name": "dial", "type": "Dial", "semantic": "AllOf", "identityRoles": []string{"#walkers"}, "serviceRoles": []string{"#web"}})
	admin.create("/edge-router-policies", map[string]any{"name": "all", "semantic": "AnyOf", "identityRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	admin.create("/service-edge-router-policies", map[string]any{"name": "all", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	status, cl, env := certLogin(t, c, cert)
	if status != 200 {
		t.Fatalf("login: %d %v", status, env)
	}
	if status, env := cl.do("POST", "/sessions", map[string]any{"serviceId": svc, "type": "Dial"}); status != 201 {
		t.Fatalf("session: %d %v", status, env)
	}

	seen := map[string]int{}
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(where, e)
			}
		case map[string]any:
			if entity, ok := x["entity"].(string); ok {
				id, _ := x["id"].(string)
				seen[entity]++
				links, _ := x["_links"].(map[string]any)
				self, _ := links["self"].(map[string]any)
				if self["href"] != "./"+entity+"/"+id {
					t.Errorf("%s: reference %v links to %v", where, x, self["href"])
				}
				if status, env := admin.do("GET", "/"+entity+"/"+id, nil); status != 200 {
					t.Errorf("%s: reference to %s %s does not resolve: %d %v", where, entity, id, status, env)
				}
			}
			for k, e := range x {
				walk(where+"."+k, e)
			}
		}
	}
	visit := func(who *apiClient, ops []operation) {
		for _, op := range ops {
			if op.method != "GET" || op.streams || strings.Contains(op.path, "{") || strings.HasPrefix(op.path, "/.well-known") || strings.Contains(op.path, "/mfa") {
				continue
			}
			if status, env := who.do("GET", op.path, nil); status == 200 {
				walk(who.prefix+op.path, env["data"])
			}
		}
		// And the detail of every entity of a few lists.
		for _, list := range []string{"/authenticators", "/terminators", "/sessions", "/api-sessions", "/enrollments", "/configs", "/identities"} {
			if who != admin {
				break
			}
			_, env := who.do("GET", list, nil)
			for _, it := range items(env) {
				if status, env := who.do("GET", list+"/"+it["id"].(string), nil); status == 200 {
					walk(list+"/{id}", env["data"])
				}
			}
		}
	}
	visit(admin, managementOperations(t))
	visit(cl, clientOperations(t))
	_, env = cl.do("GET", "/services/"+svc+"/terminators", nil)
	walk("/services/{id}/terminators", env["data"])
	for _, want := range []string{"identities", "identity-types", "services", "edge-routers", "config-types", "cas", "auth-policies", "api-sessions"} {
		if seen[want] == 0 {
			t.Errorf("no reference to %s was met; seen: %v", want, seen)
		}
	}
	t.Logf("references checked: %v", seen)
}

// TestNoZeroTimesInAnswers reads every list and detail a client and an
// administrator see and refuses the zero time in any field: a time the
// controller does not know is left out, not made up as year 1.
func TestNoZeroTimesInAnswers(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	_, cert := enrolledIdentity(t, c, admin, "clock")
	status, cl, env := certLogin(t, c, cert)
	if status != 200 {
		t.Fatalf("login: %d %v", status, env)
	}
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(where, e)
			}
		case map[string]any:
			for k, e := range x {
				walk(where+"."+k, e)
			}
		case string:
			if strings.HasPrefix(x, "0001-01-01") {
				t.Errorf("%s = %s", where, x)
			}
		}
	}
	for _, who := range []struct {
		c   *apiClient
		ops []operation
	}{{admin, managementOperations(t)}, {cl, clientOperations(t)}} {
		for _, op := range who.ops {
			// /controllers belongs to the cluster work, which gives it real times.
			if op.method != "GET" || op.streams || strings.Contains(op.path, "{") || op.path == "/controllers" || strings.HasPrefix(op.path, "/.well-known") {
				continue
			}
			if status, env := who.c.do("GET", op.path, nil); status == 200 {
				walk(fmt.Sprintf("%s%s", who.c.prefix, op.path), env["data"])
			}
		}
	}
	for _, path := range []string{"/specs/edge-client", "/current-api-session"} {
		_, env := cl.do("GET", path, nil)
		walk(path, env["data"])
	}
}

// TestCapabilitiesListWhatIsServed: /enumerated-capabilities and /version
// list the same capabilities, and each one listed is served: OIDC_AUTH with
// the edge-oidc API and its discovery document, HA_CONTROLLER with
// /controllers naming this controller online, with the certificate it
// really presents. With OIDC disabled, neither is listed (OpenZiti's HA
// clients sign in only with OIDC). A capability this test does not know
// fails it: nothing may be listed without a check that it is served.
func TestCapabilitiesListWhatIsServed(t *testing.T) {
	t.Parallel()
	for _, disabled := range []bool{false, true} {
		c := newConfiguredController(t, func(cfg *controller.Config) { cfg.API.OIDC.Disabled = disabled })
		cl := &apiClient{t: t, ctl: c, prefix: ""}
		_, env := cl.do("GET", "/enumerated-capabilities", nil)
		enumerated := stringList(env["data"])
		_, env = cl.do("GET", "/version", nil)
		v := data(env)
		if fmt.Sprint(enumerated) != fmt.Sprint(stringList(v["capabilities"])) {
			t.Fatalf("/enumerated-capabilities %v and /version %v differ", enumerated, v["capabilities"])
		}
		want := []string{"OIDC_AUTH", "HA_CONTROLLER"}
		if disabled {
			want = []string{}
		}
		if fmt.Sprint(enumerated) != fmt.Sprint(want) {
			t.Errorf("OIDC disabled=%v: capabilities %v, want %v", disabled, enumerated, want)
		}
		oidcAPI, hasOIDC := v["apiVersions"].(map[string]any)["edge-oidc"]
		status, _, _ := cl.raw("GET", "/oidc/.well-known/openid-configuration", "", nil)
		if hasOIDC == disabled || (status == 200) == disabled {
			t.Errorf("OIDC disabled=%v: edge-oidc listed %v, discovery %d", disabled, hasOIDC, status)
		}
		for _, capability := range enumerated {
			switch capability {
			case "OIDC_AUTH":
				path, _ := oidcAPI.(map[string]any)["v1"].(map[string]any)["path"].(string)
				if status, _, out := cl.raw("GET", path+"/.well-known/openid-configuration", "", nil); status != 200 || !strings.Contains(string(out), `"authorization_endpoint"`) {
					t.Errorf("OIDC_AUTH listed, but the discovery under %q answers %d %s", path, status, out)
				}
			case "HA_CONTROLLER":
				checkControllersServed(t, c)
			default:
				t.Errorf("capability %q is listed but this test does not know how to check it is served", capability)
			}
		}
	}
}

// checkControllersServed checks that /controllers lists this controller
// online, with API addresses that answer and the certificate (and its
// fingerprint) that the controller presents there.
func checkControllersServed(t *testing.T, c *testCtl) {
	t.Helper()
	admin := c.adminClient(t)
	cl := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1", token: admin.token}
	status, env := cl.do("GET", "/controllers", nil)
	list := items(env)
	if status != 200 || len(list) != 1 {
		t.Fatalf("HA_CONTROLLER listed, but /controllers answers %d %v", status, env)
	}
	ctl := list[0]
	conn, err := tls.Dial("tcp", c.ctl.Addr(), &tls.Config{RootCAs: c.ctl.CAPool()})
	if err != nil {
		t.Fatal(err)
	}
	presented := conn.ConnectionState().PeerCertificates[0]
	_ = conn.Close()
	blk, _ := pem.Decode([]byte(ctl["certPem"].(string)))
	sum := sha1.Sum(presented.Raw)
	if blk == nil || !bytes.Equal(blk.Bytes, presented.Raw) || ctl["fingerprint"] != hex.EncodeToString(sum[:]) || ctl["isOnline"] != true {
		t.Fatalf("/controllers entry does not match the controller: online %v, fingerprint %v, presented %x", ctl["isOnline"], ctl["fingerprint"], sum)
	}
	apis, _ := ctl["apiAddresses"].(map[string]any)
	for _, name := range []string{"edge-client", "edge-management"} {
		addrs, _ := apis[name].([]any)
		if len(addrs) == 0 {
			t.Fatalf("/controllers lists no %s address: %v", name, ctl)
		}
		u, _ := addrs[0].(map[string]any)["url"].(string)
		resp, err := c.client.Get(u + "/version")
		if err != nil {
			t.Fatalf("%s address %s: %v", name, u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s address %s/version: %d", name, u, resp.StatusCode)
		}
	}
}
