package controller

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// apiCall sends a management API request with a session token and decodes the envelope.
func apiCall(t *testing.T, client *http.Client, base, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+"/edge/management/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("zt-session", token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	env := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&env)
	return resp.StatusCode, env
}

func startForTest(t *testing.T, cfg Config) (*Controller, *http.Client, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctl, err := Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = ctl.Close() })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ctl.CAPool(), MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return ctl, &http.Client{Transport: tr, Timeout: 30 * time.Second}, "https://" + ctl.Addr()
}

func count(t *testing.T, client *http.Client, base, token, path, filter string) int {
	t.Helper()
	status, env := apiCall(t, client, base, token, "GET", path+"?filter="+url.QueryEscape(filter), nil)
	if status != 200 {
		t.Fatalf("GET %s: %d %v", path, status, env)
	}
	return len(env["data"].([]any))
}

// TestBackupAndRestore backs a running controller up through its API, restores the file into
// a new data directory and starts a controller there: it serves every entity, the audit trail
// included, takes new writes, and the original kept running throughout.
func TestBackupAndRestore(t *testing.T) {
	cfgA := testConfig(t)
	initController(t, cfgA)
	ctlA, client, baseA := startForTest(t, cfgA)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	token, err := signIn(ctx, client, baseA+"/edge/management/v1", "admin", "a password")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"backed-up-web", "backed-up-db"} {
		if status, env := apiCall(t, client, baseA, token, "POST", "/services", map[string]any{"name": name, "encryptionRequired": true}); status != 201 {
			t.Fatalf("create %s: %d %v", name, status, env)
		}
	}
	if status, env := apiCall(t, client, baseA, token, "POST", "/identities", map[string]any{"name": "backed-up-user", "type": "User", "isAdmin": false}); status != 201 {
		t.Fatalf("create identity: %d %v", status, env)
	}

	out := filepath.Join(t.TempDir(), "backups", "ctrl.backup")
	if _, err := Backup(ctx, cfgA, BackupOptions{URL: baseA, Password: "wrong password", Out: out}); err == nil ||
		!strings.Contains(err.Error(), "INVALID_AUTH") {
		t.Fatalf("a backup with a wrong password: %v", err)
	}
	n, err := Backup(ctx, cfgA, BackupOptions{URL: baseA, Password: "a password", Out: out})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != n || n == 0 {
		t.Fatalf("backup file: %v, %d bytes reported", err, n)
	}
	if _, err := os.Stat(out + ".partial"); !os.IsNotExist(err) {
		t.Fatalf("the partial file is left behind: %v", err)
	}
	// The original keeps serving.
	if c := count(t, client, baseA, token, "/services", `name contains "backed-up"`); c != 2 {
		t.Fatalf("the backed-up controller lists %d services", c)
	}

	// Refusals: no PKI, a file that is no database, a data directory in use.
	cfgB := testConfig(t)
	if err := Restore(cfgB, RestoreOptions{From: out}); err == nil || !strings.Contains(err.Error(), "--pki") {
		t.Fatalf("a restore without the PKI: %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Restore(cfgB, RestoreOptions{From: junk, PKIFrom: cfgA.PKIDir()}); err == nil {
		t.Fatal("a junk backup was restored")
	}
	if _, err := os.Stat(filepath.Join(cfgB.DataDir, "ctrl.db")); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left a database: %v", err)
	}
	if err := Restore(cfgA, RestoreOptions{From: out}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a restore over a live data directory: %v", err)
	}

	// The restore proper; the refused one had copied the PKI already, and copying it again is fine.
	if err := Restore(cfgB, RestoreOptions{From: out, PKIFrom: cfgA.PKIDir()}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	ctlB, clientB, baseB := startForTest(t, cfgB)
	if ctlB.Node().ID() == ctlA.Node().ID() {
		t.Fatal("the restored controller took the original's node id")
	}
	tokenB, err := signIn(ctx, clientB, baseB+"/edge/management/v1", "admin", "a password")
	if err != nil {
		t.Fatalf("the restored admin cannot sign in: %v", err)
	}
	if c := count(t, clientB, baseB, tokenB, "/services", `name contains "backed-up"`); c != 2 {
		t.Fatalf("the restored controller lists %d of the 2 services", c)
	}
	if c := count(t, clientB, baseB, tokenB, "/identities", `name = "backed-up-user"`); c != 1 {
		t.Fatalf("the restored controller lists %d of the identity", c)
	}
	if c := count(t, clientB, baseB, tokenB, "/audit-events", `entityType = "services" and action = "create"`); c != 2 {
		t.Fatalf("the restored audit trail holds %d service creations", c)
	}
	// New writes apply on the new raft log (the applied index was reset).
	if status, env := apiCall(t, clientB, baseB, tokenB, "POST", "/services", map[string]any{"name": "after-restore", "encryptionRequired": false}); status != 201 {
		t.Fatalf("create after restore: %d %v", status, env)
	}
	if c := count(t, clientB, baseB, tokenB, "/services", `name = "after-restore"`); c != 1 {
		t.Fatal("a write after the restore is not visible")
	}
	// Members: the restored node alone.
	status, env := apiCall(t, clientB, baseB, tokenB, "GET", "/cluster/members", nil)
	if members, _ := env["data"].([]any); status != 200 || len(members) != 1 {
		t.Fatalf("cluster of the restored controller: %d %v", status, env)
	}
}
