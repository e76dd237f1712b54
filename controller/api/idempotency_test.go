package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// send makes a management call with extra headers and decodes the envelope.
func (a *apiClient) send(method, path string, body any, headers map[string]string) (int, http.Header, map[string]any) {
	a.t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, a.ctl.base+a.prefix+path, bytes.NewReader(raw))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("zt-session", a.token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := a.ctl.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	env := map[string]any{}
	_ = json.Unmarshal(out, &env)
	return resp.StatusCode, resp.Header, env
}

func TestIdempotencyKeyRepeatsTheFirstAnswer(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	key := map[string]string{"Idempotency-Key": "create-web-1"}
	status, _, first := admin.send("POST", "/services", map[string]any{"name": "web", "encryptionRequired": true}, key)
	if status != 201 {
		t.Fatalf("first create: %d %v", status, first)
	}
	id := data(first)["id"]
	// The same request again: the same answer, nothing created twice.
	status, _, again := admin.send("POST", "/services", map[string]any{"name": "web", "encryptionRequired": true}, key)
	if status != 201 || data(again)["id"] != id {
		t.Fatalf("repeated create: %d %v, first answered id %v", status, again, id)
	}
	_, list := admin.do("GET", "/services?filter="+strings.ReplaceAll(`name="web"`, `"`, "%22"), nil)
	if n := len(items(list)); n != 1 {
		t.Fatalf("%d services named web after a repeated create, want 1", n)
	}
	// An identity (created with its enrollment in one batch) too.
	ikey := map[string]string{"Idempotency-Key": "create-alice"}
	body := map[string]any{"name": "alice", "type": "Device", "isAdmin": false, "enrollment": map[string]any{"ott": true}}
	_, _, i1 := admin.send("POST", "/identities", body, ikey)
	status, _, i2 := admin.send("POST", "/identities", body, ikey)
	if status != 201 || data(i1)["id"] == nil || data(i2)["id"] != data(i1)["id"] {
		t.Fatalf("repeated identity create: %d %v vs %v", status, i2, i1)
	}
	// The key for another request: refused, with the envelope.
	status, _, env := admin.send("POST", "/services", map[string]any{"name": "other", "encryptionRequired": true}, key)
	if status != 422 || errorCode(env) != "IDEMPOTENCY_KEY_REUSED" {
		t.Fatalf("key reused for another body: %d %v", status, env)
	}
	// Another session's key of the same name is its own.
	other := c.adminClient(t)
	if status, _, env := other.send("POST", "/services", map[string]any{"name": "web2", "encryptionRequired": true}, key); status != 201 || data(env)["id"] == id {
		t.Fatalf("another session's key: %d %v", status, env)
	}
	// Bad keys and a bad consistency header get the envelope.
	for _, h := range []map[string]string{
		{"Idempotency-Key": strings.Repeat("k", 256)},
		{"Idempotency-Key": "tab\there"},
		{"Ostium-Consistency": "eventual"},
	} {
		status, _, env := admin.send("POST", "/services", map[string]any{"name": "bad-header", "encryptionRequired": true}, h)
		if status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Fatalf("header %v: %d %v", h, status, env)
		}
	}
	// A stale read is answered too.
	status, _, env = admin.send("GET", "/services/"+id.(string), nil, map[string]string{"Ostium-Consistency": "stale"})
	if status != 200 || data(env)["name"] != "web" {
		t.Fatalf("stale read: %d %v", status, env)
	}
}
