package api_test

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

	"github.com/ostium-net/ostium/controller"
)

// testCtl is a real controller (PKI, bbolt, single-node raft, HTTPS on
// 127.0.0.1) started for one test.
type testCtl struct {
	ctl    *controller.Controller
	cfg    controller.Config
	base   string
	client *http.Client
}

const testAdminPassword = "admin-password-1"

// newTestController starts a controller; opts are passed to controller.Start.
func newTestController(t testing.TB, opts ...controller.StartOption) *testCtl {
	t.Helper()
	return newConfiguredController(t, nil, opts...)
}

// newConfiguredController is newTestController with a chance to change the
// configuration first.
func newConfiguredController(t testing.TB, configure func(*controller.Config), opts ...controller.StartOption) *testCtl {
	t.Helper()
	dir := t.TempDir()
	cfg := controller.DefaultConfig()
	cfg.DataDir = dir
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Cluster.Listen = "127.0.0.1:0"
	cfg.Routers.Listen = "127.0.0.1:0"
	if configure != nil {
		configure(&cfg)
	}
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := controller.Init(ctx, cfg, controller.InitOptions{AdminPassword: testAdminPassword}, log); err != nil {
		t.Fatalf("init: %v", err)
	}
	ctl, err := controller.Start(ctx, cfg, log, opts...)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = ctl.Close() })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ctl.CAPool(), MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &testCtl{ctl: ctl, cfg: cfg, base: "https://" + ctl.Addr(), client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// apiClient calls one API of a test controller.
type apiClient struct {
	t      testing.TB
	ctl    *testCtl
	prefix string
	token  string
	// bearer sends token as "Authorization: Bearer" instead of zt-session.
	bearer bool
}

func (c *testCtl) managementClient(t testing.TB) *apiClient {
	return &apiClient{t: t, ctl: c, prefix: "/edge/management/v1"}
}

// adminClient is a management client logged in as the default admin.
func (c *testCtl) adminClient(t testing.TB) *apiClient {
	t.Helper()
	m := c.managementClient(t)
	status, env := m.do("POST", "/authenticate?method=password", map[string]any{"username": "admin", "password": testAdminPassword})
	if status != 200 {
		t.Fatalf("admin login: %d %v", status, env)
	}
	m.token = env["data"].(map[string]any)["token"].(string)
	return m
}

// raw sends a request and returns the status, headers and body.
func (a *apiClient) raw(method, path, contentType string, body []byte) (int, http.Header, []byte) {
	a.t.Helper()
	url := a.ctl.base + a.prefix + path
	if strings.HasPrefix(path, "/edge/") || strings.HasPrefix(path, "/.well-known") || path == "/version" {
		url = a.ctl.base + path
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	switch {
	case a.token != "" && a.bearer:
		req.Header.Set("Authorization", "Bearer "+a.token)
	case a.token != "":
		req.Header.Set("zt-session", a.token)
	}
	resp, err := a.ctl.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

// do sends body as JSON (or raw, when it is a string or []byte) and decodes
// the envelope. A 5xx answer fails the test: no input may cause one.
func (a *apiClient) do(method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case string:
		data = []byte(b)
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			a.t.Fatal(err)
		}
	}
	ct := ""
	if data != nil {
		ct = "application/json"
	}
	status, _, out := a.raw(method, path, ct, data)
	env := map[string]any{}
	if len(out) > 0 {
		if err := json.Unmarshal(out, &env); err != nil {
			a.t.Fatalf("%s %s: %d answer is not JSON: %q", method, path, status, out)
		}
	}
	if status >= 500 {
		a.t.Fatalf("%s %s: server error %d: %s", method, path, status, out)
	}
	if status >= 400 {
		e, ok := env["error"].(map[string]any)
		if !ok || e["code"] == nil || e["message"] == nil {
			a.t.Fatalf("%s %s: %d answer is not an error envelope: %s", method, path, status, out)
		}
		if id, _ := e["requestId"].(string); id == "" {
			a.t.Fatalf("%s %s: %d error envelope carries no request id: %s", method, path, status, out)
		}
	}
	return status, env
}

// create posts an entity and returns its id, failing the test otherwise.
func (a *apiClient) create(path string, body any) string {
	a.t.Helper()
	status, env := a.do("POST", path, body)
	if status != 201 {
		a.t.Fatalf("create %s: %d %v", path, status, env)
	}
	return env["data"].(map[string]any)["id"].(string)
}

// errorCode extracts error.code from an envelope.
func errorCode(env map[string]any) string {
	e, _ := env["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// data extracts the data object of an envelope.
func data(env map[string]any) map[string]any {
	d, _ := env["data"].(map[string]any)
	return d
}

// items extracts the data list of an envelope.
func items(env map[string]any) []map[string]any {
	list, _ := env["data"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// controllerInitAgain runs init a second time against a running controller's
// configuration, on a fresh cluster port (the first node holds its own).
func controllerInitAgain(c *testCtl) error {
	_ = c.ctl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return controller.Init(ctx, c.cfg, controller.InitOptions{AdminPassword: "another-password"}, slog.New(slog.DiscardHandler))
}
