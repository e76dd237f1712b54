package api_test

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi"
)

type operation struct {
	method, path string
	hasBody      bool
	secured      bool
	query        []string
	// streams is set for operations whose answer is not a JSON envelope but
	// a stream (events) or a file (a database snapshot); their bad input is
	// tested apart.
	streams bool
}

// operationsOf lists every operation of a flattened spec, with whether it
// requires a session, takes a body, and which query parameters it reads.
func operationsOf(t *testing.T, spec []byte) []operation {
	t.Helper()
	var doc struct {
		Security []map[string]any                      `json:"security"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []operation
	for path, methods := range doc.Paths {
		for method, raw := range methods {
			if method == "parameters" {
				continue
			}
			var op struct {
				Security   *[]map[string]any `json:"security"`
				Produces   []string          `json:"produces"`
				Parameters []struct {
					In   string `json:"in"`
					Name string `json:"name"`
				} `json:"parameters"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			o := operation{method: strings.ToUpper(method), path: path, secured: len(doc.Security) > 0}
			if len(op.Produces) > 0 && (op.Produces[0] == "text/event-stream" || op.Produces[0] == "application/octet-stream") {
				o.streams = true
			}
			if op.Security != nil {
				o.secured = len(*op.Security) > 0
			}
			for _, p := range op.Parameters {
				switch p.In {
				case "body":
					o.hasBody = true
				case "query":
					o.query = append(o.query, p.Name)
				}
			}
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	return ops
}

func managementOperations(t *testing.T) []operation {
	return operationsOf(t, managementapi.FlatSwaggerJSON)
}

// TestEveryManagementOperationAnswersBadInputWith4xx sends malformed JSON,
// wrong types, empty bodies, bad query values, over-long values and unknown
// ids to every operation. The client helper fails the test on any 5xx or on
// an error that is not the envelope.
func TestEveryManagementOperationAnswersBadInputWith4xx(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	anon := c.managementClient(t)
	ops := managementOperations(t)
	if len(ops) < 100 {
		t.Fatalf("only %d management operations found", len(ops))
	}
	long := strings.Repeat("z", 5000)
	for _, op := range ops {
		path := strings.NewReplacer("{id}", "does-not-exist", "{subId}", "nope", "{serviceId}", "nope").Replace(op.path)
		if strings.Contains(path, "{") {
			t.Fatalf("unhandled path parameter in %s", op.path)
		}
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			if !op.secured {
				// Open operations (sign-in, version, a join with its token)
				// still refuse a call without their input.
				if status, env := anon.do(op.method, path, nil); status >= 500 || (status >= 400 && errorCode(env) == "") {
					t.Errorf("anonymous: %d %v", status, env)
				}
			} else if status, _ := anon.do(op.method, path, nil); status != 401 {
				// Unauthenticated callers learn nothing.
				t.Errorf("anonymous: got %d, want 401", status)
			}
			if op.method == "DELETE" && (op.path == "/current-api-session") {
				return // would end the admin's own session
			}
			if op.streams {
				return // events_test.go and audit_test.go
			}
			bodies := []any{nil}
			if op.hasBody {
				bodies = []any{`{"name": `, `[]`, `"text"`, `{"name": 12, "type": [], "id": {}}`, map[string]any{},
					map[string]any{"name": long, "roleAttributes": []string{long}, "tags": map[string]any{"k": long}}}
			}
			for _, b := range bodies {
				status, env := admin.do(op.method, path, b)
				if status >= 500 || (status >= 400 && errorCode(env) == "") {
					t.Errorf("body %.40v: %d %v", b, status, env)
				}
			}
			if len(op.query) > 0 {
				q := url.Values{}
				for _, name := range op.query {
					switch name {
					case "limit", "offset":
						q.Set(name, "-7")
					case "filter":
						q.Set(name, `name = "unterminated`)
					default:
						q.Set(name, long)
					}
				}
				if status, env := admin.do(op.method, path+"?"+q.Encode(), nil); status < 400 && op.method == "GET" && strings.Count(op.path, "{") == 0 {
					t.Errorf("bad query values accepted: %d %v", status, env)
				}
			}
		})
	}
}
