package api_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi"
)

func clientOperations(t *testing.T) []operation { return operationsOf(t, clientapi.FlatSwaggerJSON) }

// TestEveryClientOperationAnswersBadInputWith4xx: unauthenticated callers get
// 401 on every secured operation, and malformed, mistyped, over-long or
// unknown input never produces a 5xx: not even 501, since every operation
// of the spec has a handler (an operation this controller does not serve
// has no place in the spec).
func TestEveryClientOperationAnswersBadInputWith4xx(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	cl, _ := clientFor(t, c, admin, "sweeper")
	anon := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1"}
	ops := clientOperations(t)
	if len(ops) != 57 {
		t.Fatalf("found %d client operations, want 57", len(ops))
	}
	long := strings.Repeat("q", 5000)
	check := func(t *testing.T, who *apiClient, method, path string, body any) int {
		t.Helper()
		var data []byte
		switch b := body.(type) {
		case nil:
		case string:
			data = []byte(b)
		default:
			data, _ = json.Marshal(b)
		}
		ct := ""
		if data != nil {
			ct = "application/json"
		}
		status, _, out := who.raw(method, path, ct, data)
		env := map[string]any{}
		if len(out) > 0 && strings.HasPrefix(strings.TrimSpace(string(out)), "{") {
			_ = json.Unmarshal(out, &env)
		}
		if status >= 500 {
			t.Errorf("%s %s body %.40v: %d %s", method, path, body, status, out)
		}
		if status >= 400 && errorCode(env) == "" {
			t.Errorf("%s %s: %d answer is not an error envelope: %s", method, path, status, out)
		}
		return status
	}
	for _, op := range ops {
		path := strings.NewReplacer("{id}", "does-not-exist").Replace(op.path)
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			if op.secured {
				if status := check(t, anon, op.method, path, nil); status != 401 {
					t.Errorf("anonymous: got %d, want 401", status)
				}
			}
			if op.method == "DELETE" && op.path == "/current-api-session" {
				return
			}
			bodies := []any{nil}
			if op.hasBody {
				bodies = []any{`{"code": `, `[]`, `"text"`, `{"serviceId": 12, "type": [], "password": {}}`, map[string]any{},
					map[string]any{"serviceId": long, "username": long, "password": long, "code": long, "csr": long}}
			}
			for _, b := range bodies {
				check(t, cl, op.method, path, b)
			}
			if len(op.query) > 0 {
				q := url.Values{}
				for _, name := range op.query {
					switch name {
					case "limit", "offset":
						q.Set(name, "-3")
					case "filter":
						q.Set(name, `(((`)
					default:
						q.Set(name, long)
					}
				}
				check(t, cl, op.method, path+"?"+q.Encode(), nil)
			}
		})
	}
}
