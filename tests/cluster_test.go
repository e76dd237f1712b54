package tests

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/router"
	"github.com/ostium-net/ostium/tests/harness"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestControllersJoinForwardWritesAndSignOnLeader starts a second controller
// with --cluster-join semantics and uses its API: management writes reach
// the leader, and an enrollment sent to the follower is signed by the leader
// and recorded for both.
// follower is a controller that joined the harness's single-node cluster.
type follower struct {
	ctl  *controller.Controller
	base string
	hc   *http.Client
	t    *testing.T
}

func startFollower(t *testing.T, n *harness.Network, tweak func(*controller.Config)) *follower {
	t.Helper()
	cfg := controller.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.API.Listen, cfg.Cluster.Listen, cfg.Routers.Listen = freeAddr(t), freeAddr(t), freeAddr(t)
	cfg.Cluster.Join = n.Ctl.ClusterAddr()
	if tweak != nil {
		tweak(&cfg)
	}
	// A joining controller holds a copy of the network's PKI.
	copyDir(t, n.Config.PKIDir(), cfg.PKIDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctl, err := controller.Start(ctx, cfg, harness.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctl.Close() })
	if ctl.Node().IsLeader() {
		t.Fatal("the joining node became leader")
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ctl.CAPool()}}}
	t.Cleanup(hc.CloseIdleConnections)
	return &follower{ctl: ctl, base: "https://" + ctl.Addr(), hc: hc, t: t}
}

// call makes a JSON call to url with a zt-session token (when not empty).
func (f *follower) call(method, url, token string, body any) (int, map[string]any) {
	f.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("zt-session", token)
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	env := map[string]any{}
	_ = json.Unmarshal(raw, &env)
	return resp.StatusCode, env
}

// adminLogin logs the admin in through base and returns the token.
func (f *follower) adminLogin(base string) string {
	f.t.Helper()
	status, env := f.call("POST", base+"/edge/management/v1/authenticate?method=password", "", map[string]string{"username": "admin", "password": harness.AdminPassword})
	if status != 200 {
		f.t.Fatalf("admin login on %s: %d %v", base, status, env)
	}
	return env["data"].(map[string]any)["token"].(string)
}

func TestControllersJoinForwardWritesAndSignOnLeader(t *testing.T) {
	n := harness.Start(t)
	f := startFollower(t, n, nil)
	call, hc := f.call, f.hc
	base := f.base
	token := f.adminLogin(base)
	status, env := call("POST", base+"/edge/management/v1/identities", token, map[string]any{"name": "via-follower", "type": "Device", "isAdmin": false, "enrollment": map[string]any{"ott": true}})
	if status != 201 {
		t.Fatalf("create through the follower: %d %v", status, env)
	}
	id := env["data"].(map[string]any)["id"].(string)
	var detail struct {
		Enrollment struct {
			Ott struct {
				Token string `json:"token"`
			} `json:"ott"`
		} `json:"enrollment"`
	}
	n.Mgmt("GET", "/identities/"+id, nil, &detail) // visible on the leader
	if detail.Enrollment.Ott.Token == "" {
		t.Fatal("no enrollment token")
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	req, _ := http.NewRequest("POST", base+"/edge/client/v1/enroll?method=ott&token="+detail.Enrollment.Ott.Token, bytes.NewReader(csr))
	req.Header.Set("Content-Type", "application/x-pem-file")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("enroll through the follower: %d %s", resp.StatusCode, raw)
	}
	var out struct {
		Data struct {
			Cert string `json:"cert"`
		} `json:"data"`
	}
	_ = json.Unmarshal(raw, &out)
	block, _ := pem.Decode([]byte(out.Data.Cert))
	if block == nil {
		t.Fatalf("no certificate in %s", raw)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.Subject.CommonName != id {
		t.Fatalf("issued certificate: %v %v", err, cert)
	}
	// The leader knows the new certificate authenticator.
	var ident struct {
		Authenticators struct {
			Cert *struct {
				Fingerprint string `json:"fingerprint"`
			} `json:"cert"`
		} `json:"authenticators"`
	}
	n.Mgmt("GET", "/identities/"+id, nil, &ident)
	if ident.Authenticators.Cert == nil {
		t.Fatal("the leader does not know the enrolled certificate")
	}
}

// TestAPISessionUsedOnAFollowerStaysAlive: the leader expires idle API
// sessions, and use seen only by a follower counts.
func TestAPISessionUsedOnAFollowerStaysAlive(t *testing.T) {
	const idle = time.Second
	n := harness.StartWith(t, func(c *controller.Config) { c.API.SessionIdleTimeout = controller.Duration(idle) })
	f := startFollower(t, n, func(c *controller.Config) { c.API.SessionIdleTimeout = controller.Duration(idle) })
	token := f.adminLogin(f.base)
	_, env := f.call("GET", f.base+"/edge/management/v1/current-api-session", token, nil)
	sessionID, _ := data(env)["id"].(string)
	if sessionID == "" {
		t.Fatalf("no API session id in %v", env)
	}
	current := func(base string) int {
		status, _ := f.call("GET", base+"/edge/management/v1/current-api-session", token, nil)
		return status
	}
	// Used on the follower only, every 200 ms, for four idle timeouts.
	for end := time.Now().Add(4 * idle); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if status := current(f.base); status != 200 {
			t.Fatalf("the follower refused an API session in use: %d", status)
		}
	}
	// The leader kept it: the uses reached it through the store.
	leaderBase := "https://" + n.Ctl.Addr()
	if status := current(leaderBase); status != 200 {
		t.Fatalf("the leader refused an API session used on the follower: %d", status)
	}
	// Left alone, it is deleted from the cluster's state.
	time.Sleep(3 * idle)
	admin := f.adminLogin(leaderBase)
	if status, env := f.call("GET", leaderBase+"/edge/management/v1/api-sessions/"+sessionID, admin, nil); status != 404 {
		t.Fatalf("the idle API session is still there: %d %v", status, env)
	}
	if status := current(f.base); status != 401 {
		t.Fatalf("the follower still accepts the expired API session: %d", status)
	}
}

func data(env map[string]any) map[string]any {
	d, _ := env["data"].(map[string]any)
	return d
}

// TestSessionsThroughAnyNodeListTheSameRouters: in a three-node cluster, a
// router attached to a follower is online for every node, so a session
// created through the leader, that follower or the other one lists it.
func TestSessionsThroughAnyNodeListTheSameRouters(t *testing.T) {
	n := harness.Start(t)
	attached := startFollower(t, n, nil)
	other := startFollower(t, n, nil)
	n.OpenPolicies()
	n.Service("spread", false)
	r := n.RouterWith("on-a-follower", func(c *router.Config) { c.Controller.Endpoint = "tls:" + attached.ctl.RouterAddr() })
	if _, local := attached.ctl.Routers().Since(r.ID); !local {
		t.Fatal("the router is not attached to the follower")
	}
	if _, local := n.Ctl.Routers().Since(r.ID); local {
		t.Fatal("the router is attached to the leader")
	}
	id := n.Identity("client", "spread-dial")
	cert := tls.Certificate{PrivateKey: id.Key}
	for _, c := range id.Chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	var serviceID string
	for _, node := range []struct {
		name string
		base string
	}{{"leader", "https://" + n.Ctl.Addr()}, {"the router's follower", attached.base}, {"the other follower", other.base}} {
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: n.Ctl.CAPool(), Certificates: []tls.Certificate{cert}}}}
		f := &follower{base: node.base, hc: hc, t: t}
		status, env := f.call("POST", node.base+"/edge/client/v1/authenticate?method=cert", "", map[string]any{})
		if status != 200 {
			t.Fatalf("authenticate through the %s: %d %v", node.name, status, env)
		}
		token := data(env)["token"].(string)
		if serviceID == "" {
			_, env := f.call("GET", node.base+`/edge/client/v1/services?filter=name="spread"`, token, nil)
			list, _ := env["data"].([]any)
			if len(list) != 1 {
				t.Fatalf("services: %v", env)
			}
			serviceID = list[0].(map[string]any)["id"].(string)
		}
		// The lease reaches every node within moments of the router's connection.
		var routers []any
		for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			status, env = f.call("POST", node.base+"/edge/client/v1/sessions", token, map[string]any{"serviceId": serviceID, "type": "Dial"})
			if status == 201 {
				routers, _ = data(env)["edgeRouters"].([]any)
				break
			}
			if time.Now().After(end) {
				t.Fatalf("session through the %s: %d %v", node.name, status, env)
			}
		}
		if len(routers) != 1 || routers[0].(map[string]any)["name"] != r.Name {
			t.Fatalf("session through the %s lists routers %v, want %s", node.name, routers, r.Name)
		}
		hc.CloseIdleConnections()
	}
}
