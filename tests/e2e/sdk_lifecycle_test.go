package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/identity"
	"github.com/ostium-net/ostium/tests/harness"
)

func TestServiceEvents(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	n.Router("router-1")
	id := n.Identity("watcher", "watched-dial")
	var mu sync.Mutex
	var events []sdk.ServiceEvent
	c, err := sdk.New(id, sdk.Options{ServicePollInterval: 100 * time.Millisecond, OnServiceEvent: func(e sdk.ServiceEvent) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(context.Background()); err != nil {
		t.Fatal(err)
	}
	wait := func(typ sdk.ServiceEventType, name string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			for _, e := range events {
				if e.Type == typ && e.Service.Name == name {
					mu.Unlock()
					return
				}
			}
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no %s event for %s", typ, name)
	}
	svc := n.Service("watched", false)
	wait(sdk.ServiceAdded, "watched")
	n.Mgmt("DELETE", "/services/"+svc, nil, nil)
	wait(sdk.ServiceRemoved, "watched")
}

func TestCertificateRenewalKeepsConnections(t *testing.T) {
	e := newEchoNetwork(t, "renew", false)
	c := echoPair(t, e, "renew")
	if err := echoOnce(c, "before"); err != nil {
		t.Fatal(err)
	}
	old := e.clientIdentity
	oldFP := old.Fingerprint()
	oldCopy, err := identity.Parse(mustMarshal(t, old), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.RenewCertificate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.client.Identity().Fingerprint() == oldFP {
		t.Fatal("the certificate did not change")
	}
	if err := echoOnce(c, "after renewal"); err != nil {
		t.Fatalf("live connection broke on renewal: %v", err)
	}
	// The renewed identity authenticates; the old certificate no longer does.
	renewed := e.n.Context(e.client.Identity())
	if err := renewed.Authenticate(context.Background()); err != nil {
		t.Fatalf("renewed identity: %v", err)
	}
	stale, _ := sdk.New(oldCopy, sdk.Options{DisableRenewal: true})
	defer stale.Close()
	if err := stale.Authenticate(context.Background()); err == nil {
		t.Fatal("the replaced certificate still authenticates")
	}
}

// TestRenewedIdentityIsWrittenBackAndSignsInAfterARestart renews with IdentityFile set, then
// starts again from the file as a restarted tunneler would: the renewed certificate signs in,
// while the file as it was before the renewal no longer does.
func TestRenewedIdentityIsWrittenBackAndSignsInAfterARestart(t *testing.T) {
	n := harness.Start(t)
	path := filepath.Join(t.TempDir(), "device.json")
	if err := n.Identity("device").Save(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	oldFP := id.Fingerprint()
	c, err := sdk.New(id, sdk.Options{IdentityFile: path, Logger: n.Log})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RenewCertificate(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()

	// The restart: a new context from the file alone.
	reloaded, err := identity.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if reloaded.Fingerprint() == oldFP {
		t.Fatal("the identity file still holds the certificate the renewal replaced")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Fatalf("the identity file's mode changed to %v", st.Mode().Perm())
	}
	restarted, err := sdk.New(reloaded, sdk.Options{DisableRenewal: true})
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close()
	if err := restarted.Authenticate(context.Background()); err != nil {
		t.Fatalf("signing in after a restart with the written-back identity: %v", err)
	}
	stale, err := identity.Parse(before, "")
	if err != nil {
		t.Fatal(err)
	}
	old, _ := sdk.New(stale, sdk.Options{DisableRenewal: true})
	defer old.Close()
	if err := old.Authenticate(context.Background()); err == nil {
		t.Fatal("the file as it was before the renewal still signs in: the test proves nothing")
	}
}

func mustMarshal(t *testing.T, id *identity.Identity) []byte {
	t.Helper()
	b, err := id.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRouterRenewalKeepsConnections(t *testing.T) {
	e := newEchoNetwork(t, "router-renew", true)
	c := echoPair(t, e, "router-renew")
	if err := echoOnce(c, "before"); err != nil {
		t.Fatal(err)
	}
	old := e.router.RenewCertificates()
	if err := echoOnce(c, "after the router renewed"); err != nil {
		t.Fatalf("live connection broke when the router renewed: %v", err)
	}
	// New connections handshake with the router's new server certificate.
	fresh := e.n.Context(e.clientIdentity)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c2, err := fresh.Dial(ctx, "router-renew")
	if err != nil {
		t.Fatalf("dial after router renewal: %v", err)
	}
	if err := echoOnce(c2, "new"); err != nil {
		t.Fatal(err)
	}
	_ = c2.Close()
	// The replaced router certificate is refused at once.
	hc := e.router.ClientWith(old)
	resp, err := hc.Post(e.n.URL()+"/edge/client/v1/enroll/extend/router", "application/json", strings.NewReader(`{"certCsr":"x","serverCertCsr":"y"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("old router certificate: %d, want 401", resp.StatusCode)
	}
}

// TestAPISessionsExpireUnlessUsed: with a 1 s idle timeout, an API session
// whose client holds a router channel open is kept alive by the router's
// heartbeats, while one used for REST only is deleted once idle; its client
// logs in again on its own and goes on.
func TestAPISessionsExpireUnlessUsed(t *testing.T) {
	n := harness.StartWith(t, func(c *controller.Config) {
		c.API.SessionIdleTimeout = controller.Duration(time.Second)
	})
	n.OpenPolicies()
	n.Service("idle", false)
	n.Router("router-1")
	host := n.Context(n.Identity("host", "idle-bind"))
	client := n.Context(n.Identity("client", "idle-dial"))
	restOnly := n.Context(n.Identity("rest-only", "idle-dial"))
	ln, err := host.Listen("idle")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEcho(ln)
	dial := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, "idle")
		if err != nil {
			t.Fatal(err)
		}
		if err := echoOnce(c, "ping"); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	dial()
	if _, err := restOnly.Services(context.Background()); err != nil {
		t.Fatal(err)
	}
	connected, idle := client.APISessionToken(), restOnly.APISessionToken()
	apiSessionsOf := func(identityName string) int {
		var out []struct {
			Identity struct {
				Name string `json:"name"`
			} `json:"identity"`
		}
		n.Login() // the admin's own session idles out between calls too
		n.Mgmt("GET", "/api-sessions?limit=500", nil, &out)
		count := 0
		for _, s := range out {
			if s.Identity.Name == identityName {
				count++
			}
		}
		return count
	}
	if apiSessionsOf("rest-only") != 1 || apiSessionsOf("client") != 1 {
		t.Fatal("the clients' API sessions are not listed")
	}

	time.Sleep(3 * time.Second) // three idle timeouts, with no REST call from either client
	if apiSessionsOf("client") != 1 {
		t.Fatal("the API session of a client connected to a router expired")
	}
	if apiSessionsOf("rest-only") != 0 {
		t.Fatal("the idle API session was not deleted")
	}
	var identities []struct {
		Name                    string `json:"name"`
		HasEdgeRouterConnection bool   `json:"hasEdgeRouterConnection"`
	}
	n.Mgmt("GET", "/identities?limit=500", nil, &identities)
	connectedTo := map[string]bool{}
	for _, i := range identities {
		connectedTo[i.Name] = i.HasEdgeRouterConnection
	}
	if !connectedTo["client"] || !connectedTo["host"] || connectedTo["rest-only"] {
		t.Fatalf("hasEdgeRouterConnection: %v; want client and host only", connectedTo)
	}
	dial() // the connected client goes on with its session
	if client.APISessionToken() != connected {
		t.Fatal("the connected client had to log in again")
	}
	// The idle client logs in again when it next needs the API.
	n.Service("idle2", false)
	if _, err := restOnly.Services(context.Background()); err != nil {
		t.Fatalf("services after expiry: %v", err)
	}
	if restOnly.APISessionToken() == idle {
		t.Fatal("the expired API session was not replaced")
	}
}

// TestListenerBindsOnNewRouters: a router that appears gets the listener's
// terminator within seconds, so the service survives the first router going
// away for good.
func TestListenerBindsOnNewRouters(t *testing.T) {
	e := newEchoNetwork(t, "moving", false)
	e.listenEcho(t, "moving")
	second := e.n.Router("router-2")
	// Wait until the listener holds a terminator on the new router.
	deadline := time.Now().Add(20 * time.Second)
	for second.Listener().Stats().Terminators == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the listener never bound on the new router")
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.router.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		c, err := e.client.Dial(ctx, "moving")
		if err == nil {
			err = echoOnce(c, "via the new router")
			_ = c.Close()
		}
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("service unreachable after the first router went away: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRouterOnlineStatusFollowsItsControlChannel: both APIs show a router
// online while its control channel is up, and offline once it stops.
func TestRouterOnlineStatusFollowsItsControlChannel(t *testing.T) {
	n := harness.Start(t)
	n.OpenPolicies()
	r := n.Router("router-1")
	client := n.Context(n.Identity("client"))
	if _, err := client.Services(context.Background()); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: n.Ctl.CAPool()}}}
	defer hc.CloseIdleConnections()
	status := func() (mgmt, current bool) {
		t.Helper()
		var detail struct {
			IsOnline   bool   `json:"isOnline"`
			SyncStatus string `json:"syncStatus"`
		}
		n.Mgmt("GET", "/edge-routers/"+r.ID, nil, &detail)
		req, _ := http.NewRequest("GET", n.URL()+"/edge/client/v1/current-identity/edge-routers", nil)
		req.Header.Set("zt-session", client.APISessionToken())
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env struct {
			Data []struct {
				ID       string `json:"id"`
				IsOnline bool   `json:"isOnline"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || resp.StatusCode != 200 {
			t.Fatalf("current-identity/edge-routers: %d %v", resp.StatusCode, err)
		}
		for _, er := range env.Data {
			if er.ID == r.ID {
				current = er.IsOnline
			}
		}
		return detail.IsOnline, current
	}
	if mgmt, current := status(); !mgmt || !current {
		t.Fatalf("a connected router shows online=%v in the management API and %v to clients", mgmt, current)
	}
	r.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mgmt, current := status()
		if !mgmt && !current {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a stopped router still shows online (management %v, clients %v)", mgmt, current)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSDKSocketControlSeesEveryConnection: Options.Control is called for the
// sockets to the controller and to the router (the tunneler marks them so
// that transparent interception never captures its own traffic).
func TestSDKSocketControlSeesEveryConnection(t *testing.T) {
	e := newEchoNetwork(t, "controlled", false)
	e.listenEcho(t, "controlled")
	var mu sync.Mutex
	seen := map[string]bool{}
	c, err := sdk.New(e.clientIdentity, sdk.Options{Control: func(network, address string, _ syscall.RawConn) error {
		mu.Lock()
		seen[address] = true
		mu.Unlock()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, "controlled")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := echoOnce(conn, "marked"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !seen[e.n.Config.API.Listen] || !seen[e.router.Addr] {
		t.Fatalf("Control saw %v; want the controller %s and the router %s", seen, e.n.Config.API.Listen, e.router.Addr)
	}
}
