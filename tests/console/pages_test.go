package console

import (
	"fmt"
	"testing"

	"github.com/ostium-net/ostium/tests/harness"
)

// everyPageRenders opens each page of the console and waits until it has
// loaded (no "Loading…", every list filled) with no error shown. Pages of
// endpoints this controller does not serve yet are expected to say so.
func everyPageRenders(t *testing.T, n *harness.Network) {
	b := newBrowser(t, n.URL())
	defer b.close()
	b.signIn("admin", harness.AdminPassword)

	identity := findOne(t, n, "/identities", "alice")["id"]
	service := findOne(t, n, "/services", "web")["id"]
	config := findOne(t, n, "/configs", "web.host.v1")["id"]
	policy := findOne(t, n, "/service-policies", "staff-web")["id"]
	router := findOne(t, n, "/edge-routers", "router-a")["id"]
	served := func(path string) bool {
		if path == "/events" { // a stream: ask the page, which says whether it got one
			b.waitFor("the event stream to connect or be refused", `['live', 'unavailable'].includes(document.querySelector('main h1 .badge').textContent)`)
			return evalJS[string](b, `document.querySelector('main h1 .badge').textContent`) != "unavailable"
		}
		status, _ := n.MgmtRaw("GET", path, nil)
		return status != 404
	}
	pages := []struct {
		route string
		needs string // an endpoint the page shows; "" for the ones always served
	}{
		{"", ""}, {"events", "/events"}, {"identities", ""}, {"identities/new", ""}, {fmt.Sprint("identities/", identity), ""},
		{"services", ""}, {"services/new", ""}, {fmt.Sprint("services/", service), ""},
		{"configs", ""}, {"configs/new", ""}, {fmt.Sprint("configs/", config), ""},
		{"policies", ""}, {"policies?kind=edge-router", ""}, {"policies?kind=service-edge-router", ""},
		{"policies/service/new", ""}, {fmt.Sprint("policies/service/", policy), ""}, {"reach?identity=" + fmt.Sprint(identity), ""},
		{"routers", ""}, {"routers/new", ""}, {fmt.Sprint("routers/", router), ""},
		{"sessions", ""}, {"sessions?tab=sessions", ""}, {"circuits", "/circuits"},
		{"audit", "/audit-events"}, {"sign-ins", ""}, {"tokens", "/api-tokens"},
	}
	for _, p := range pages {
		b.open(p.route)
		b.waitFor("page "+p.route+" to load", `!document.querySelector('main .loading') &&
			[...document.querySelectorAll('main table.list tbody, main .reach-body')].filter(e => e.closest('[hidden]') === null).every(e => e.children.length > 0 && !e.querySelector('.muted:only-child')?.textContent.startsWith('Working'))`)
		errors := evalJS[string](b, `[...document.querySelectorAll('.notice.error')].map(n => n.textContent).join(' | ')`)
		switch {
		case p.needs != "" && !served(p.needs):
			t.Logf("page %q: %s is not served here yet (%s)", p.route, p.needs, errors)
		case errors != "":
			t.Errorf("page %q shows errors: %s", p.route, errors)
		}
	}
}
