package controller

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/internal/ops"
	"github.com/ostium-net/ostium/internal/ops/opstest"
)

// startWithOps initialises and starts a controller with its ops listener
// on a free loopback port.
func startWithOps(t *testing.T, pprof bool) (*Controller, *http.Client) {
	t.Helper()
	cfg := testConfig(t)
	cfg.Ops = ops.Config{Listen: "127.0.0.1:0", Pprof: pprof}
	initController(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctl, err := Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = ctl.Close() })
	if ctl.OpsAddr() == "" {
		t.Fatal("no ops listener")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ctl.CAPool(), MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return ctl, &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// call makes one request to the controller's API and decodes the envelope.
func call(t *testing.T, c *http.Client, ctl *Controller, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+ctl.Addr()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("zt-session", token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var env map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&env)
	return resp.StatusCode, env
}

// TestOpsListenerServesMetricsAndHealth does real work on a controller (a
// failed and a good login, lists, an unknown id) and reads the ops
// listener over HTTP: the counters moved, under bounded labels.
func TestOpsListenerServesMetricsAndHealth(t *testing.T) {
	ctl, c := startWithOps(t, false)
	before := opstest.Scrape(t, ctl.OpsAddr())
	if v, _ := before.Sum("ostium_authentications_total", "method", "password", "result", "success"); v != 0 {
		t.Fatalf("a login counted before any: %v", v)
	}

	const mgmt = "/edge/management/v1"
	if status, env := call(t, c, ctl, "POST", mgmt+"/authenticate?method=password", "", map[string]any{"username": "admin", "password": "wrong password"}); status != 401 {
		t.Fatalf("wrong password: %d %v", status, env)
	}
	status, env := call(t, c, ctl, "POST", mgmt+"/authenticate?method=password", "", map[string]any{"username": "admin", "password": "a password"})
	if status != 200 {
		t.Fatalf("login: %d %v", status, env)
	}
	data := env["data"].(map[string]any)
	token, sessionID, adminID := data["token"].(string), data["id"].(string), data["identityId"].(string)
	if status, env := call(t, c, ctl, "GET", mgmt+"/identities", token, nil); status != 200 {
		t.Fatalf("list identities: %d %v", status, env)
	}
	const unknownID = "no-such-identity-4f2a"
	if status, _ := call(t, c, ctl, "GET", mgmt+"/identities/"+unknownID, token, nil); status != 404 {
		t.Fatalf("unknown identity: %d", status)
	}
	if status, _ := call(t, c, ctl, "GET", "/edge/client/v1/"+unknownID, "", nil); status != 404 {
		t.Fatalf("unknown path: %d", status)
	}

	m := opstest.Scrape(t, ctl.OpsAddr())
	for _, want := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"ostium_api_requests_total", []string{"api", "management", "operation", "authenticate", "status", "200"}, 1},
		{"ostium_api_requests_total", []string{"api", "management", "operation", "authenticate", "status", "401"}, 1},
		{"ostium_api_requests_total", []string{"api", "management", "operation", "listIdentities", "status", "200"}, 1},
		{"ostium_api_requests_total", []string{"api", "management", "operation", "detailIdentity", "status", "404"}, 1},
		{"ostium_api_requests_total", []string{"api", "client", "operation", "unmatched", "status", "404"}, 1},
		{"ostium_api_request_duration_seconds", []string{"api", "management", "operation", "listIdentities"}, 1},
		{"ostium_authentications_total", []string{"method", "password", "result", "success"}, 1},
		{"ostium_authentications_total", []string{"method", "password", "result", "failure"}, 1},
		{"ostium_raft_role", []string{"role", "leader"}, 1},
		{"ostium_raft_leader_known", nil, 1},
		{"ostium_raft_term", nil, 1},
		{"ostium_raft_commit_index", nil, 1},
		{"ostium_raft_applied_index", nil, 1},
		{"ostium_raft_apply_duration_seconds", nil, 2},
		{"ostium_raft_apply_batch_size", nil, 1},
		{"ostium_store_size_bytes", nil, 4096},
		{"ostium_api_sessions", nil, 1},
		{"ostium_sessions", nil, 0},
		{"ostium_routers_online", nil, 0},
		{"go_goroutines", nil, 1},
	} {
		if got := m.Value(t, want.name, want.labels...); got < want.min {
			t.Errorf("%s%v = %v, want at least %v", want.name, want.labels, got, want.min)
		}
	}
	if got := m.Value(t, "ostium_raft_role", "role", "follower"); got != 0 {
		t.Errorf("a leader is also counted a follower: %v", got)
	}
	// The login moved the apply latency histogram.
	if m.Value(t, "ostium_raft_apply_duration_seconds") <= before.Value(t, "ostium_raft_apply_duration_seconds") {
		t.Error("a login applied nothing through raft")
	}
	m.CheckBounded(t, []string{"api", "operation", "status", "method", "result", "role"}, unknownID, token, sessionID, adminID, ctl.Node().ID())
	for _, op := range m.LabelValues("ostium_api_requests_total", "operation") {
		if strings.Contains(op, "/") {
			t.Errorf("operation label %q is a path", op)
		}
	}

	// Health, on the ops listener and on the API listener without a token.
	status, rep := opstest.Health(t, ctl.OpsAddr())
	raft, _ := rep["raft"].(map[string]any)
	store, _ := rep["store"].(map[string]any)
	if status != 200 || rep["status"] != "ok" || raft["role"] != "leader" || raft["leaderKnown"] != true || store["ok"] != true {
		t.Fatalf("ops /health: %d %v", status, rep)
	}
	status, env = call(t, c, ctl, "GET", "/health", "", nil)
	if data, _ := env["data"].(map[string]any); status != 200 || data["status"] != "ok" || env["meta"] == nil {
		t.Fatalf("API /health: %d %v", status, env)
	}
	if status, env := call(t, c, ctl, "POST", "/health", "", map[string]any{}); status != 405 || env["error"] == nil {
		t.Fatalf("POST /health: %d %v", status, env)
	}
	// No profiler unless asked for.
	if status, _ := opstest.Get(t, ctl.OpsAddr(), "/debug/pprof/"); status != 404 {
		t.Fatalf("pprof without ops.pprof: %d, want 404", status)
	}
}

// TestOpsPprofWhenEnabled: ops.pprof serves Go's profiler index.
func TestOpsPprofWhenEnabled(t *testing.T) {
	ctl, _ := startWithOps(t, true)
	status, body := opstest.Get(t, ctl.OpsAddr(), "/debug/pprof/")
	if status != 200 || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("pprof index: %d %.200s", status, body)
	}
	if status, _ := opstest.Get(t, ctl.OpsAddr(), "/debug/pprof/goroutine?debug=1"); status != 200 {
		t.Fatalf("goroutine profile: %d", status)
	}
}

// TestHealthWithoutLeader: a controller whose cluster gains a voter it
// cannot reach loses its quorum, and so its leader; /health then answers
// 503 on both listeners, saying why.
func TestHealthWithoutLeader(t *testing.T) {
	ctl, c := startWithOps(t, false)
	if status, _ := opstest.Health(t, ctl.OpsAddr()); status != 200 {
		t.Fatalf("health before: %d", status)
	}
	// A second voter that never answers: the majority of two is two.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	go func() { _ = ctl.Node().AddMember(ctx, "ctrl-unreachable", "127.0.0.1:1", true) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, rep := opstest.Health(t, ctl.OpsAddr())
		raft, _ := rep["raft"].(map[string]any)
		if status == 503 {
			if rep["status"] != "unavailable" || raft["leaderKnown"] != false {
				t.Fatalf("503 report: %v", rep)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d without a quorum: %v", status, rep)
		}
		time.Sleep(100 * time.Millisecond)
	}
	status, env := call(t, c, ctl, "GET", "/health", "", nil)
	if data, _ := env["data"].(map[string]any); status != 503 || data["status"] != "unavailable" {
		t.Fatalf("API /health without a leader: %d %v", status, env)
	}
	if v := opstest.Scrape(t, ctl.OpsAddr()).Value(t, "ostium_raft_leader_known"); v != 0 {
		t.Fatalf("ostium_raft_leader_known = %v without a leader", v)
	}
}

// TestOpsConfig: a bad ops.listen is refused with the field named.
func TestOpsConfig(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"ops:\n  listen: localhost\n", "ops.listen"},
		{"ops:\n  listen: 127.0.0.1:99999\n", "ops.listen"},
		{"ops:\n  listen: \"a b:9090\"\n", "ops.listen"},
		{"ops:\n  pprof: true\n", "ops.pprof"},
		{"ops:\n  listn: 127.0.0.1:9090\n", "listn"},
	} {
		_, err := ParseConfig([]byte("dataDir: d\n" + tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.yaml, err, tc.want)
		}
	}
	cfg, err := ParseConfig([]byte("dataDir: d\nops:\n  listen: 127.0.0.1:9090\n  pprof: true\n"))
	if err != nil || cfg.Ops.Listen != "127.0.0.1:9090" || !cfg.Ops.Pprof {
		t.Fatalf("good ops section: %+v %v", cfg.Ops, err)
	}
	if cfg, _ := ParseConfig([]byte("dataDir: d\n")); cfg.Ops.Enabled() {
		t.Fatal("the ops listener is on by default")
	}
}
