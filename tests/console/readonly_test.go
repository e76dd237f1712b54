package console

import (
	"testing"
	"time"

	"github.com/ostium-net/ostium/tests/harness"
)

// readOnlyTokenCannotWrite signs in with a read-only API token: the console
// says it is read-only and hides its write buttons, its lists load, and a
// write sent anyway (a form opened by its address) is refused by the API
// with the error shown.
func readOnlyTokenCannotWrite(t *testing.T, n *harness.Network) {
	var made struct{ ID, Token string }
	n.Mgmt("POST", "/api-tokens", map[string]any{"name": "wallboard", "role": "read-only",
		"expiresAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, &made)

	b := newBrowser(t, n.URL())
	defer b.close()
	b.open("")
	b.clickText(".signin-card button.tab", "API token")
	b.typeInto(`#signin-token input[name=token]`, made.Token)
	b.click(`#signin-token button[type=submit]`)
	b.waitFor("the console after sign-in", `!!document.querySelector('.shell main')`)
	b.waitText(".topbar", "API token wallboard")
	b.waitText(".topbar .badge", "read-only")

	b.open("identities")
	b.waitText("main table.list", "Default Admin")
	if shown := evalJS[bool](b, `(e => !!e && e.offsetParent !== null)(document.querySelector('main a.button.write'))`); shown {
		t.Fatal("a read-only credential is offered the New identity button")
	}
	b.open("tokens")
	b.waitText("main table.list", "wallboard")

	b.open("identities/new")
	b.typeInto(`#identity-form input[name=name]`, "made-read-only")
	b.click(`#identity-form button[type=submit]`)
	b.waitText(".notice.error", "FORBIDDEN")
	b.waitText(".notice.error", "read-only")
	var found []map[string]any
	n.Mgmt("GET", `/identities?filter=name%3D%22made-read-only%22`, nil, &found)
	if len(found) != 0 {
		t.Fatalf("a read-only token created an identity: %v", found)
	}
}
