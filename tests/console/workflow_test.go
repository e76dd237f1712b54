package console

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ostium-net/ostium/tests/harness"
)

// findOne returns the one entity of a list whose name is name.
func findOne(t *testing.T, n *harness.Network, path, name string) map[string]any {
	t.Helper()
	var items []map[string]any
	n.Mgmt("GET", path+"?filter="+url.QueryEscape(fmt.Sprintf("name = %q", name)), nil, &items)
	if len(items) != 1 {
		t.Fatalf("%s named %q: found %d", path, name, len(items))
	}
	return items[0]
}

// TestConsoleInABrowser runs the console's browser checks against one
// network, each in a browser tab (and sign-in) of its own.
func TestConsoleInABrowser(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Router("router-a")
	for _, phase := range []struct {
		name string
		run  func(*testing.T, *harness.Network)
	}{
		{"an admin creates access through the forms", adminCreatesAccessThroughTheForms},
		{"API errors are shown", apiErrorsAreShown},
		{"sign-in with MFA", signInWithMFA},
		{"a read-only API token cannot write", readOnlyTokenCannotWrite},
		{"a live circuit is shown", aLiveCircuitIsShown},
		{"every page renders", everyPageRenders},
	} {
		t.Logf("--- %s", phase.name)
		phase.run(t, n)
	}
}

// adminCreatesAccessThroughTheForms signs in, creates an identity, a
// service with both its configs, and a policy through the forms, and sees
// the service in the identity's "who can reach what" preview.
func adminCreatesAccessThroughTheForms(t *testing.T, n *harness.Network) {
	b := newBrowser(t, n.URL())
	defer b.close()
	b.signIn("admin", harness.AdminPassword)
	b.waitText("#card-routers", "1 / 1")

	// An identity, with its enrollment JWT and QR code.
	b.open("identities/new")
	b.typeInto(`#identity-form input[name=name]`, "alice")
	b.typeInto(`#identity-form input[name=roleAttributes]`, "staff, laptops")
	b.click(`#identity-form button[type=submit]`)
	b.waitText("main h1", "alice")
	alice := findOne(t, n, "/identities", "alice")
	want := alice["enrollment"].(map[string]any)["ott"].(map[string]any)["jwt"].(string)
	// Each read signs the JWT anew (ECDSA), so compare what it says.
	unsigned := func(jwt string) string { return jwt[:strings.LastIndexByte(jwt, '.')+1] }
	if got := evalJS[string](b, `document.querySelector('textarea.jwt').value`); !strings.Contains(want, ".") || unsigned(got) != unsigned(want) {
		t.Fatalf("the page shows JWT %q, the API %q", got, want)
	}
	if modules := evalJS[int](b, `document.querySelector('.enrollment-qr svg.qr path').getAttribute('d').split('M').length - 1`); modules < 500 {
		t.Fatalf("the QR code has %d dark modules", modules)
	}
	if roles := fmt.Sprint(alice["roleAttributes"]); roles != "[staff laptops]" {
		t.Fatalf("alice's roles: %s", roles)
	}

	// A service with an intercept.v1 and a host.v1 config made by the forms.
	b.open("services/new")
	b.typeInto(`#service-form input[name=name]`, "web")
	b.click(`#service-form input[name=withIntercept]`)
	b.typeInto(`#service-form input[name=addresses]`, "web.ostium, 10.9.0.0/24")
	b.typeInto(`#service-form input[name=portRanges]`, "80, 8000-8100")
	b.click(`#service-form input[name=withHost]`)
	b.do(chromedp.SetValue(chromedp.CSS(`#service-form input[name=address]`), "127.0.0.1"))
	b.typeInto(`#service-form input[name=port]`, "8080")
	b.click(`#service-form button[type=submit]`)
	b.waitText("main h1", "web")
	web := findOne(t, n, "/services", "web")
	cfg, _ := json.Marshal(web["config"])
	wantCfg := `{"host.v1":{"address":"127.0.0.1","port":8080,"protocol":"tcp"},"intercept.v1":{"addresses":["web.ostium","10.9.0.0/24"],"portRanges":[{"high":80,"low":80},{"high":8100,"low":8000}],"protocols":["tcp"]}}`
	if string(cfg) != wantCfg {
		t.Fatalf("service configs:\n got %s\nwant %s", cfg, wantCfg)
	}
	b.waitText("main table.list td", "tcp web.ostium, 10.9.0.0/24 : 80, 8000-8100")

	// A Dial policy; its roles preview what they select while typed.
	b.open("policies/service/new")
	b.typeInto(`#policy-form input[name=name]`, "staff-web")
	b.typeInto(`#policy-form input[name=identityRoles]`, "staff")
	b.typeInto(`#policy-form input[name=serviceRoles]`, "@web")
	b.waitText(`.preview[data-side=identityRoles]`, "1 identities: alice")
	b.waitText(`.preview[data-side=serviceRoles]`, "1 services: web")
	b.click(`#policy-form button[type=submit]`)
	b.waitText("main h1", "staff-web")
	pol := findOne(t, n, "/service-policies", "staff-web")
	if got := fmt.Sprintf("%v %v %v", pol["identityRoles"], pol["serviceRoles"], pol["type"]); got != fmt.Sprintf("[#staff] [@%s] Dial", web["id"]) {
		t.Fatalf("policy as stored: %s", got)
	}

	// The identity's page shows what it can reach now.
	b.open("identities/" + alice["id"].(string))
	b.waitText(`.reach tr[data-name=web]`, "dial via staff-web")
	b.waitText(`.reach tr[data-name=web]`, "1 online")
	// And the service's page who can reach it.
	b.open("services/" + web["id"].(string))
	b.waitText(`.reach tr[data-name=alice]`, "dial via staff-web")

	if p := os.Getenv("OSTIUM_CONSOLE_SCREENSHOT"); p != "" {
		b.open("identities/" + alice["id"].(string))
		b.waitText(`.reach tr[data-name=web]`, "1 online")
		b.screenshot(p)
	}
}

// apiErrorsAreShown: what the API refuses, the console says, with the
// envelope's code and cause.
func apiErrorsAreShown(t *testing.T, n *harness.Network) {
	b := newBrowser(t, n.URL())
	defer b.close()
	b.signIn("admin", harness.AdminPassword)

	b.open("identities/new")
	b.typeInto(`#identity-form input[name=name]`, "Default Admin")
	b.click(`#identity-form button[type=submit]`)
	b.waitText(".notice.error", "CONFLICT")
	b.waitText(".notice.error", "name: is already in use")

	b.open("identities")
	b.typeInto(`.list-search input[name=filter]`, `name = = "x"`)
	b.click(`.list-search button[type=submit]`)
	b.waitText(".notice.error", "INVALID_FILTER")
	b.waitText("table.list td.empty.error", "INVALID_FILTER")

	b.open("identities/no-such-id")
	b.waitText(".notice.error", "NOT_FOUND")

	// A session ended elsewhere sends the console back to its sign-in page.
	// The browser's is the newest API session; the harness signed in first.
	var sessions []map[string]any
	n.Mgmt("GET", "/api-sessions?sort="+url.QueryEscape("createdAt desc")+"&limit=1", nil, &sessions)
	n.Mgmt("DELETE", "/api-sessions/"+sessions[0]["id"].(string), nil, nil)
	b.open("services")
	b.waitText(".signin-card .notice", "Your session has ended")
}
