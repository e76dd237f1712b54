package api_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/store"
)

func TestAuditEventsRecordManagementWrites(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	_, me := admin.do("GET", "/current-identity", nil)
	adminID := data(me)["id"].(string)
	start := time.Now().UTC().Add(-time.Second)

	svc := admin.create("/services", map[string]any{"name": "audited-web", "encryptionRequired": true})
	if status, _ := admin.do("PATCH", "/services/"+svc, map[string]any{"roleAttributes": []string{"web"}}); status != 200 {
		t.Fatalf("patch: %d", status)
	}
	ident := admin.create("/identities", map[string]any{"name": "audited-user", "type": "User", "isAdmin": false})
	// A refused write changes nothing and records nothing.
	if status, _ := admin.do("POST", "/services", map[string]any{"name": "audited-web", "encryptionRequired": true}); status != 409 {
		t.Fatalf("duplicate service: %d", status)
	}
	if status, _ := admin.do("DELETE", "/services/"+svc, nil); status != 200 {
		t.Fatalf("delete: %d", status)
	}

	list := func(filter string, extra string) (int, map[string]any) {
		return admin.do("GET", "/audit-events?filter="+url.QueryEscape(filter)+extra, nil)
	}
	status, env := list(`entityId = "`+svc+`"`, "")
	if status != 200 {
		t.Fatalf("list: %d %v", status, env)
	}
	got := items(env)
	if len(got) != 3 {
		t.Fatalf("%d records of the service, want create, update, delete: %v", len(got), got)
	}
	for i, want := range []string{"delete", "update", "create"} { // newest first
		e := got[i]
		actor, _ := e["actor"].(map[string]any)
		if e["action"] != want || e["entityType"] != "services" || actor["id"] != adminID || actor["type"] != "identity" ||
			actor["name"] != "Default Admin" || e["sourceAddress"] != "127.0.0.1" || e["requestId"] == "" || e["createdAt"] == nil {
			t.Errorf("record %d = %v, want a %s by the admin", i, e, want)
		}
	}

	// Filters on the actor, the entity type and time, with paging.
	if _, env := list(`actor = "`+adminID+`" and entityType = "identities"`, ""); len(items(env)) != 1 || items(env)[0]["entityId"] != ident {
		t.Errorf("by actor and type: %v", items(env))
	}
	if _, env := list(`actor.name = "Default Admin" and action = "create"`, "&sort=createdAt%20asc&limit=1"); len(items(env)) != 1 ||
		items(env)[0]["entityId"] != svc || env["meta"].(map[string]any)["pagination"].(map[string]any)["totalCount"].(float64) < 2 {
		t.Errorf("by actor name, sorted, one page: %v", env)
	}
	if _, env := list(`createdAt >= datetime(`+start.Format(time.RFC3339)+`) and entityType = "services"`, ""); len(items(env)) != 3 {
		t.Errorf("since the start: %d records", len(items(env)))
	}
	if _, env := list(`createdAt > datetime(`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`)`, ""); len(items(env)) != 0 {
		t.Errorf("from the future: %v", items(env))
	}
	// Reads are not audited.
	if _, env := list(`entityType = "audit-events"`, ""); len(items(env)) != 0 {
		t.Errorf("the trail records itself: %v", items(env))
	}

	// Bad input is an error envelope.
	for _, q := range []string{"entityId = ", `nosuchfield = "x"`, `createdAt > "yesterday" and (`} {
		if status, env := list(q, ""); status != 400 {
			t.Errorf("filter %q: %d %v", q, status, env)
		}
	}
	if status, env := admin.do("GET", "/audit-events?limit=abc", nil); status != 400 {
		t.Errorf("limit=abc: %d %v", status, env)
	}

	// Administrators only.
	admin.create("/authenticators", map[string]any{"method": "updb", "identityId": ident, "username": "audited-user", "password": "user-password-1"})
	user := c.managementClient(t)
	status, env = user.do("POST", "/edge/client/v1/authenticate?method=password", map[string]any{"username": "audited-user", "password": "user-password-1"})
	if status != 200 {
		t.Fatalf("user login: %d %v", status, env)
	}
	user.token = data(env)["token"].(string)
	if status, _ := user.do("GET", "/audit-events", nil); status != 401 {
		t.Errorf("a non-admin lists the audit: %d", status)
	}
	if status, _ := c.managementClient(t).do("GET", "/audit-events", nil); status != 401 {
		t.Errorf("anonymous audit list: %d", status)
	}

	// Pruning deletes what is past the retention.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if n, err := c.ctl.API().PruneAudit(ctx, start); err != nil || n != 0 {
		t.Fatalf("pruning before the first write: %d, %v", n, err)
	}
	n, err := c.ctl.API().PruneAudit(ctx, time.Now().Add(time.Minute))
	if err != nil || n < 5 {
		t.Fatalf("pruning everything: %d, %v", n, err)
	}
	if _, env := admin.do("GET", "/audit-events", nil); len(items(env)) != 0 {
		t.Fatalf("records left after pruning: %v", items(env))
	}
}

func TestDatabaseSnapshotForAdminsOnly(t *testing.T) {
	c := newTestController(t)
	admin := c.adminClient(t)
	status, h, body := admin.raw("POST", "/database/snapshot", "", nil)
	if status != 200 || h.Get("Content-Type") != "application/octet-stream" || len(body) < 4096 {
		t.Fatalf("snapshot: %d %s, %d bytes", status, h.Get("Content-Type"), len(body))
	}
	path := filepath.Join(t.TempDir(), "snap.db")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := store.Verify(path); err != nil {
		t.Fatalf("the snapshot is not a sound database: %v", err)
	}
	if status, _ := c.managementClient(t).do("POST", "/database/snapshot", nil); status != 401 {
		t.Fatalf("an anonymous snapshot: %d", status)
	}
	ident := admin.create("/identities", map[string]any{"name": "snap-user", "type": "User", "isAdmin": false})
	admin.create("/authenticators", map[string]any{"method": "updb", "identityId": ident, "username": "snap-user", "password": "user-password-1"})
	user := c.managementClient(t)
	status, env := user.do("POST", "/edge/client/v1/authenticate?method=password", map[string]any{"username": "snap-user", "password": "user-password-1"})
	if status != 200 {
		t.Fatalf("user login: %d %v", status, env)
	}
	user.token = data(env)["token"].(string)
	if status, _ := user.do("POST", "/database/snapshot", nil); status != 401 {
		t.Fatalf("a non-admin's snapshot: %d", status)
	}
}
