package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ostium-net/ostium/cmd/internal/cli"
)

// TestTablesShowNamesUnderSpacedHeaders checks that list tables name what
// the API gives as ids (policy roles) and split their headers into words.
func TestTablesShowNamesUnderSpacedHeaders(t *testing.T) {
	url := startController(t)
	tm := newTerm(t)
	tm.login(url)
	tm.ok("create", "service", "web")
	tm.ok("create", "identity", "kiosk", "--role-attributes", "front-desk", "-o", filepath.Join(t.TempDir(), "kiosk.jwt"))
	tm.ok("create", "service-policy", "web-dial", "Dial", "--identity-roles", "@kiosk", "--service-roles", "@web")

	out := tm.ok("list", "service-policies")
	head := strings.SplitN(out, "\n", 2)[0]
	for _, want := range []string{"IDENTITY ROLES", "SERVICE ROLES"} {
		if !strings.Contains(head, want) {
			t.Errorf("header %q lacks %q", head, want)
		}
	}
	if !strings.Contains(out, "@kiosk") || !strings.Contains(out, "@web") {
		t.Fatalf("policy roles are not shown by name:\n%s", out)
	}
	if head := strings.SplitN(tm.ok("list", "identities"), "\n", 2)[0]; !strings.Contains(head, "ROLE ATTRIBUTES") || !strings.Contains(head, "ADMIN") || strings.Contains(head, "ISADMIN") {
		t.Fatalf("identities header %q", head)
	}
	if out := tm.ok("list", "enrollments"); !strings.Contains(out, "kiosk") {
		t.Fatalf("enrollments do not name their identity:\n%s", out)
	}
}

// TestEnrollmentJWTsAreSavedAndReissued covers create identity without -o
// (the JWT saved as NAME.jwt, or printed when that file exists) and
// create enrollment (a new JWT for a pending enrollment or an enrolled
// identity).
func TestEnrollmentJWTsAreSavedAndReissued(t *testing.T) {
	url := startController(t)
	tm := newTerm(t)
	tm.login(url)
	dir := t.TempDir()
	t.Chdir(dir)

	out := tm.ok("create", "identity", "laptop")
	if !strings.Contains(out, "laptop.jwt") || !strings.Contains(out, "ostium enroll laptop.jwt -o laptop.json") {
		t.Fatalf("create identity without -o said %q", out)
	}
	first, err := os.ReadFile(filepath.Join(dir, "laptop.jwt"))
	if err != nil || strings.Count(string(first), ".") != 2 {
		t.Fatalf("laptop.jwt: %v %q", err, first)
	}
	// The file exists now: a second identity of that name cannot be made, but
	// re-issuing the JWT prints it rather than overwriting the file.
	out = tm.ok("create", "enrollment", "laptop")
	if strings.Contains(out, "written to") || !strings.Contains(out, "eyJ") {
		t.Fatalf("re-issue with laptop.jwt present said %q", out)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "laptop.jwt")); string(again) != string(first) {
		t.Fatal("re-issuing overwrote laptop.jwt")
	}
	// The first JWT no longer enrolls; the re-issued one does.
	tm.fails(cli.ExitError, "enroll", "enroll", "laptop.jwt", "-o", "stale.json")
	reissued := filepath.Join(dir, "reissued.jwt")
	tm.ok("create", "enrollment", "laptop", "-o", reissued)
	tm.ok("enroll", reissued, "-o", "laptop.json")

	// An enrolled identity gets a new enrollment; its certificate is revoked.
	out = tm.ok("create", "enrollment", "laptop", "-o", filepath.Join(dir, "new-device.jwt"))
	if !strings.Contains(out, "revoked") {
		t.Fatalf("re-enrollment of an enrolled identity said %q", out)
	}
	tm.ok("enroll", filepath.Join(dir, "new-device.jwt"), "-o", "new-device.json")
	tm.fails(cli.ExitNotFound, "NOT_FOUND", "create", "enrollment", "nobody")
}

func TestUsefulErrors(t *testing.T) {
	url := startController(t)
	tm := newTerm(t)
	tm.login(url)

	// An unknown filter field is an error that suggests the right one.
	r := tm.fails(cli.ExitError, `did you mean "name"?`, "list", "services", `nme = "x"`)
	if strings.Count(r.stderr, "INVALID_FILTER") != 1 {
		t.Fatalf("error repeats its code: %q", r.stderr)
	}
	// A JWT given as an identity file says to enroll it first.
	dir := t.TempDir()
	jwtPath := filepath.Join(dir, "phone.jwt")
	tm.ok("create", "identity", "phone", "-o", jwtPath)
	tm.fails(cli.ExitError, "enroll it first", "dial", "web", "--identity", jwtPath)
	// A config missing its port names the port.
	tm.fails(cli.ExitError, "data.port: port is missing", "create", "config", "h", "--config-type", "host.v1",
		"--config-data", `{"protocol":"tcp","address":"localhost"}`)
}

func TestPolicyAdvisorCommand(t *testing.T) {
	url := startController(t)
	tm := newTerm(t)
	tm.login(url)
	tm.ok("create", "service", "db")
	tm.ok("create", "identity", "analyst", "--role-attributes", "analysts", "-o", filepath.Join(t.TempDir(), "a.jwt"))
	tm.ok("create", "service-policy", "analysts-db", "Dial", "--identity-roles", "#analysts", "--service-roles", "@db")

	out := tm.ok("policy-advisor", "analyst", "db")
	for _, want := range []string{"identity  analyst (", "Dial: no", "granted by service policy analysts-db",
		"this network has no edge-router policy", "Bind: no", "no Bind service policy", "routers in common: none"} {
		if !strings.Contains(out, want) {
			t.Errorf("advice lacks %q:\n%s", want, out)
		}
	}
	adv := decodeJSON(t, tm.ok("policy-advisor", "analyst", "db", "-o", "json"))
	if adv["isDialAllowed"] != true || adv["isBindAllowed"] != false {
		t.Fatalf("advice as JSON: %v", adv)
	}
	tm.fails(cli.ExitNotFound, "NOT_FOUND", "policy-advisor", "nobody", "db")
	tm.fails(cli.ExitUsage, "takes 2 argument", "policy-advisor", "analyst")

	// Completion offers entity names from the controller.
	if comp := tm.ok("__complete", "policy-advisor", "ana"); !strings.Contains(comp, "analyst") {
		t.Fatalf("identity completion:\n%s", comp)
	}
	if comp := tm.ok("__complete", "policy-advisor", "analyst", ""); !strings.Contains(comp, "db") || strings.Contains(comp, "analyst") {
		t.Fatalf("service completion:\n%s", comp)
	}
	if comp := tm.ok("__complete", "show", "service", "d"); !strings.Contains(comp, "db") {
		t.Fatalf("show completion:\n%s", comp)
	}
	if comp := tm.ok("__complete", "update", "identity", ""); !strings.Contains(comp, "analyst") {
		t.Fatalf("update completion:\n%s", comp)
	}
}
