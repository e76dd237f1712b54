package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ostium-net/ostium/cmd/internal/cli"
	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/sdk/identity"
)

const adminPassword = "cli-admin-password"

// startController runs a real controller on 127.0.0.1 for one test and
// returns its base URL.
func startController(t *testing.T) string {
	t.Helper()
	url, _ := startStoppableController(t)
	return url
}

// startStoppableController is startController that also returns a function
// stopping the controller.
func startStoppableController(t *testing.T) (string, func()) {
	t.Helper()
	cfg := controller.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Cluster.Listen = "127.0.0.1:0"
	cfg.Routers.Listen = "127.0.0.1:0"
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := controller.Init(ctx, cfg, controller.InitOptions{AdminPassword: adminPassword}, log); err != nil {
		t.Fatalf("init: %v", err)
	}
	ctl, err := controller.Start(ctx, cfg, log)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = ctl.Close() })
	return "https://" + ctl.Addr(), func() { _ = ctl.Close() }
}

// term is one user's terminal: a configuration directory and the streams.
type term struct {
	t         *testing.T
	configDir string
}

type result struct {
	code           int
	stdout, stderr string
}

func newTerm(t *testing.T) *term { return &term{t: t, configDir: t.TempDir()} }

func (tm *term) runIn(stdin string, args ...string) result {
	tm.t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, ConfigDir: tm.configDir})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func (tm *term) run(args ...string) result { tm.t.Helper(); return tm.runIn("", args...) }

// ok runs a command that must succeed.
func (tm *term) ok(args ...string) string {
	tm.t.Helper()
	r := tm.run(args...)
	if r.code != 0 {
		tm.t.Fatalf("ostium %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must exit with code and mention want on stderr.
func (tm *term) fails(code int, want string, args ...string) result {
	tm.t.Helper()
	r := tm.run(args...)
	if r.code != code {
		tm.t.Fatalf("ostium %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		tm.t.Fatalf("ostium %s: stderr %q does not mention %q", strings.Join(args, " "), r.stderr, want)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		tm.t.Fatalf("ostium %s: stack trace on stderr: %s", strings.Join(args, " "), r.stderr)
	}
	return r
}

func (tm *term) login(url string) {
	tm.t.Helper()
	tm.ok("login", url, "-u", "admin", "-p", adminPassword, "--yes")
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, s)
	}
	return m
}

func TestLoginStoresTheSessionPrivately(t *testing.T) {
	url := startController(t)
	tm := newTerm(t)

	// Refusing the CA stores nothing.
	r := tm.runIn("n\n", "login", url, "-u", "admin", "-p", adminPassword)
	if r.code != cli.ExitError || !strings.Contains(r.stderr, "SHA-256 ") {
		t.Fatalf("refused login: exit %d, stderr %q", r.code, r.stderr)
	}
	sessionPath := filepath.Join(tm.configDir, "session.json")
	if _, err := os.Stat(sessionPath); !os.IsNotExist(err) {
		t.Fatalf("a refused login left %s: %v", sessionPath, err)
	}
	tm.fails(cli.ExitUnauthorized, "ostium login", "list", "services")

	// Accepting it (answer on stdin, password asked too) stores url, token, CA.
	r = tm.runIn("yes\n"+adminPassword+"\n", "login", strings.TrimPrefix(url, "https://"), "-u", "admin")
	if r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	st, err := os.Stat(sessionPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("session file mode %v, want 0600", st.Mode().Perm())
	}
	var s cli.Session
	raw, _ := os.ReadFile(sessionPath)
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.URL != url || s.Token == "" || !strings.Contains(s.CAPEM, "BEGIN CERTIFICATE") {
		t.Fatalf("stored session %+v", s)
	}
	tm.ok("list", "identities")

	// A wrong password is an authorization failure that says so, whatever
	// its length, and does not send the user to the login they just tried.
	other := newTerm(t)
	for _, pw := range []string{"no", "wrong", "a wrong password"} {
		r := other.fails(cli.ExitUnauthorized, "wrong username or password", "login", url, "-u", "admin", "-p", pw, "--yes")
		if strings.Contains(r.stderr, "run `ostium login`") || strings.Contains(r.stderr, "COULD_NOT_VALIDATE") {
			t.Fatalf("wrong password %q: %s", pw, r.stderr)
		}
	}

	// A session the controller no longer knows asks for a new login.
	s.Token = "not-a-token"
	raw, _ = json.Marshal(s)
	if err := os.WriteFile(sessionPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	tm.fails(cli.ExitUnauthorized, "ostium login", "list", "services")

	tm.login(url)
	if out := tm.ok("logout"); !strings.Contains(out, "logged out") {
		t.Fatalf("logout: %q", out)
	}
	tm.fails(cli.ExitUnauthorized, "not logged in", "list", "services")
}

func TestCRUDFiltersAndFormats(t *testing.T) {
	url := startController(t)
	tm := newTerm(t)
	tm.login(url)

	tm.ok("create", "service", "orders-db", "--role-attributes", "databases,eu")
	tm.ok("create", "service", "web", "--encryption-required=false")

	// Filters reach the controller.
	out := tm.ok("list", "services", `name contains "db"`)
	if !strings.Contains(out, "orders-db") || strings.Contains(out, "web") {
		t.Fatalf("filtered table:\n%s", out)
	}
	if !strings.HasPrefix(out, "ID") || !strings.Contains(out, "databases,eu") {
		t.Fatalf("table has no header or role attributes:\n%s", out)
	}

	// JSON and YAML carry the whole entity.
	var list []map[string]any
	if err := json.Unmarshal([]byte(tm.ok("list", "services", "-o", "json")), &list); err != nil || len(list) != 2 {
		t.Fatalf("json list: %v %v", err, list)
	}
	var y []map[string]any
	if err := yaml.Unmarshal([]byte(tm.ok("list", "services", `name = "web"`, "-o", "yaml")), &y); err != nil || len(y) != 1 || y[0]["encryptionRequired"] != false {
		t.Fatalf("yaml list: %v %v", err, y)
	}

	// show by @name and by bare name; update changes only what is given.
	svc := decodeJSON(t, tm.ok("show", "service", "@orders-db", "-o", "json"))
	svcID := svc["id"].(string)
	if shown := decodeJSON(t, tm.ok("show", "services", "orders-db", "-o", "json")); shown["id"] != svcID {
		t.Fatalf("show by name gave %v", shown["id"])
	}
	tm.ok("update", "service", "@orders-db", "--role-attributes", "databases")
	svc = decodeJSON(t, tm.ok("show", "service", svcID, "-o", "json"))
	if attrs := svc["roleAttributes"].([]any); len(attrs) != 1 || attrs[0] != "databases" || svc["encryptionRequired"] != true {
		t.Fatalf("after update: %v", svc)
	}
	if out := tm.ok("show", "service", svcID); !strings.Contains(out, "encryptionRequired") {
		t.Fatalf("table show:\n%s", out)
	}

	// Policies take @names and send ids.
	pol := decodeJSON(t, tm.ok("create", "service-policy", "eu-db", "Dial", "--identity-roles", "#eu", "--service-roles", "@orders-db", "-o", "json"))
	if roles := pol["serviceRoles"].([]any); len(roles) != 1 || roles[0] != "@"+svcID {
		t.Fatalf("serviceRoles %v, want @%s", roles, svcID)
	}
	if pol["type"] != "Dial" || pol["semantic"] != "AnyOf" {
		t.Fatalf("policy %v", pol)
	}
	tm.fails(cli.ExitNotFound, "nothing-here", "create", "service-policy", "bad", "Bind", "--service-roles", "@nothing-here")
	tm.ok("create", "edge-router-policy", "all", "--identity-roles", "#all", "--edge-router-roles", "#all")
	tm.ok("create", "service-edge-router-policy", "all", "--service-roles", "#all", "--edge-router-roles", "#all")

	// Configs resolve their type by name; any entity takes a JSON body.
	tm.ok("create", "config", "db-host", "--config-type", "host.v1", "--config-data", `{"protocol":"tcp","address":"localhost","port":5432}`)
	body := filepath.Join(t.TempDir(), "ct.json")
	if err := os.WriteFile(body, []byte(`{"name":"custom.v1","schema":{"type":"object"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tm.ok("create", "config-type", "--data", "@"+body)
	tm.ok("create", "posture-check", "--json", `{"name":"needs-mfa","typeId":"MFA"}`)
	if out := tm.ok("list", "posture-checks"); !strings.Contains(out, "needs-mfa") {
		t.Fatalf("posture checks:\n%s", out)
	}
	tm.ok("update", "config", "db-host", "--config-data", `{"protocol":"tcp","address":"localhost","port":6543}`)
	cfg := decodeJSON(t, tm.ok("show", "config", "db-host", "-o", "json"))
	if cfg["data"].(map[string]any)["port"] != float64(6543) {
		t.Fatalf("config after update: %v", cfg)
	}

	// Edge routers write their enrollment JWT.
	jwtPath := filepath.Join(t.TempDir(), "er.jwt")
	tm.ok("create", "edge-router", "er-1", "--role-attributes", "eu", "-o", jwtPath)
	if b, err := os.ReadFile(jwtPath); err != nil || strings.Count(string(b), ".") != 2 {
		t.Fatalf("router JWT: %v %q", err, b)
	}

	// Entities without names list and show by id.
	var sessions []map[string]any
	if err := json.Unmarshal([]byte(tm.ok("list", "api-sessions", "-o", "json")), &sessions); err != nil || len(sessions) == 0 {
		t.Fatalf("api sessions: %v %v", err, sessions)
	}
	if out := tm.ok("show", "api-session", sessions[0]["id"].(string)); !strings.Contains(out, "identityId") {
		t.Fatalf("api session:\n%s", out)
	}
	tm.fails(cli.ExitUsage, "give its id", "show", "api-session", "@mine")

	// Delete, then the entity is gone (exit 4).
	if out := tm.ok("delete", "service-policy", "eu-db"); !strings.Contains(out, "deleted service-policy") {
		t.Fatalf("delete output %q", out)
	}
	// "all" names an edge-router-policy, not a service policy.
	tm.fails(cli.ExitNotFound, "NOT_FOUND", "delete", "service-policy", "@all")
	tm.fails(cli.ExitNotFound, "NOT_FOUND", "show", "service-policy", "eu-db")
	tm.ok("delete", "services", "web")
	tm.fails(cli.ExitNotFound, "NOT_FOUND", "delete", "service", "web")
}

func TestCreateIdentityAndEnroll(t *testing.T) {
	url := startController(t)
	tm := newTerm(t)
	tm.login(url)
	dir := t.TempDir()
	jwtPath, idPath := filepath.Join(dir, "laptop.jwt"), filepath.Join(dir, "laptop.json")

	out := tm.ok("create", "identity", "laptop", "--role-attributes", "staff", "-o", jwtPath)
	if !strings.Contains(out, jwtPath) {
		t.Fatalf("create identity output %q", out)
	}
	if out := tm.ok("enroll", jwtPath, "-o", idPath); !strings.Contains(out, idPath) {
		t.Fatalf("enroll output %q", out)
	}
	st, err := os.Stat(idPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v %v", err, st)
	}
	id, err := identity.Load(idPath)
	if err != nil {
		t.Fatalf("load the enrolled identity: %v", err)
	}
	if id.ControllerURL != url || len(id.Chain) == 0 {
		t.Fatalf("identity %s, %d certs", id.ControllerURL, len(id.Chain))
	}
	ident := decodeJSON(t, tm.ok("show", "identity", "laptop", "-o", "json"))
	if ident["roleAttributes"].([]any)[0] != "staff" {
		t.Fatalf("identity %v", ident)
	}
	// The token is used up.
	again := filepath.Join(dir, "again.json")
	tm.fails(cli.ExitError, "enroll", "enroll", jwtPath, "-o", again)

	// An admin identity, shown as YAML.
	var y map[string]any
	if err := yaml.Unmarshal([]byte(tm.ok("create", "identity", "ops", "--admin", "--type", "User", "-o", "yaml")), &y); err != nil || y["isAdmin"] != true {
		t.Fatalf("admin identity: %v %v", err, y)
	}
}

func TestBadInput(t *testing.T) {
	url := startController(t)
	tm := newTerm(t)
	tm.fails(cli.ExitUnauthorized, "not logged in", "list", "identities")
	tm.login(url)

	tm.fails(cli.ExitUsage, `unknown entity "widgets"`, "list", "widgets")
	tm.fails(cli.ExitUsage, `unknown entity "widget"`, "show", "widget", "x")
	tm.fails(cli.ExitUsage, `unknown entity "widget"`, "create", "widget", "x")
	tm.fails(cli.ExitUsage, "unknown command", "frobnicate")
	tm.fails(cli.ExitUsage, "unknown flag", "list", "services", "--no-such-flag")
	tm.fails(cli.ExitUsage, "takes 1 to 2 arguments", "list")
	tm.fails(cli.ExitUsage, "output format", "list", "services", "-o", "xml")
	tm.fails(cli.ExitUsage, "not valid JSON", "create", "service", "--json", "{nope")
	tm.fails(cli.ExitUsage, "nothing to update", "update", "service", "x")
	tm.fails(cli.ExitUsage, "made by clients", "create", "session", "x")

	r := tm.fails(cli.ExitError, "INVALID_FILTER", "list", "services", `name = `)
	if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("error is not one line: %q", r.stderr)
	}
	tm.fails(cli.ExitError, "INVALID_FILTER", "list", "services", `name contains`)
	tm.fails(cli.ExitNotFound, "NOT_FOUND", "show", "identity", "@nobody")
	tm.fails(cli.ExitError, "COULD_NOT_VALIDATE", "create", "service-policy", "p", "Sometimes")

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jwt")
	if err := os.WriteFile(bad, []byte("this is not a jwt"), 0o600); err != nil {
		t.Fatal(err)
	}
	tm.fails(cli.ExitError, "not an enrollment JWT", "enroll", bad, "-o", filepath.Join(dir, "bad.json"))
	tm.fails(cli.ExitError, "read the JWT", "enroll", filepath.Join(dir, "missing.jwt"), "-o", filepath.Join(dir, "m.json"))
	tm.fails(cli.ExitUsage, "only https", "login", "http://127.0.0.1:1", "-u", "admin", "-p", "x", "--yes")
}

func TestCompletionAndHelp(t *testing.T) {
	tm := newTerm(t)
	out := tm.ok("completion", "bash")
	if !strings.Contains(out, "bash completion") || !strings.Contains(out, "ostium") {
		t.Fatalf("bash completion script:\n%.300s", out)
	}
	help := tm.ok("create", "service-policy", "--help")
	for _, want := range []string{"--identity-roles", "--service-roles", "Examples:", "Dial"} {
		if !strings.Contains(help, want) {
			t.Fatalf("help lacks %q:\n%s", want, help)
		}
	}
	comp := tm.ok("__complete", "list", "")
	if !strings.Contains(comp, "service-policies") {
		t.Fatalf("entity completion:\n%s", comp)
	}
}

// TestDialWaitsForTheControllerWithinItsTimeout covers `ostium dial` started
// while the controller is down: it says so once, retries, and gives up with
// exit 1 when its timeout ends.
func TestDialWaitsForTheControllerWithinItsTimeout(t *testing.T) {
	url, stop := startStoppableController(t)
	tm := newTerm(t)
	tm.login(url)
	dir := t.TempDir()
	jwtPath, idPath := filepath.Join(dir, "laptop.jwt"), filepath.Join(dir, "laptop.json")
	tm.ok("create", "identity", "laptop", "-o", jwtPath)
	tm.ok("enroll", jwtPath, "-o", idPath)
	stop()
	r := tm.fails(cli.ExitUnavailable, "gave up waiting for the controller", "dial", "echo", "--identity", idPath, "--timeout", "3s")
	if n := strings.Count(r.stderr, "cannot reach the controller at "+url); n != 1 {
		t.Fatalf("said %d times that the controller cannot be reached:\n%s", n, r.stderr)
	}
}

func TestListAuditEvents(t *testing.T) {
	url := startController(t)
	tm := newTerm(t)
	tm.login(url)
	tm.ok("create", "service", "audited-db")
	tm.ok("update", "service", "@audited-db", "--role-attributes", "databases")
	out := tm.ok("list", "audit-events", `entityType = "services"`)
	if !strings.HasPrefix(out, "CREATED AT") || strings.Count(out, "Default Admin") != 2 || !strings.Contains(out, "create") ||
		!strings.Contains(out, "update") || !strings.Contains(out, "127.0.0.1") {
		t.Fatalf("audit table:\n%s", out)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(tm.ok("list", "audit-events", `action = "update"`, "-o", "json")), &list); err != nil || len(list) != 1 ||
		list[0]["entityType"] != "services" {
		t.Fatalf("json audit list: %v %v", err, list)
	}
	tm.fails(cli.ExitError, "INVALID_FILTER", "list", "audit-events", `nosuch = "x"`)
}
