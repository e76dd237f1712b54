// Package harness starts a whole Ostium network in one process for tests:
// a controller (real PKI, bbolt, raft, HTTPS), edge routers enrolled through
// the API (real control channel, real mTLS edge listener), and identities
// enrolled from their JWTs with the sdk. Everything listens on 127.0.0.1.
package harness

import (
	"bufio"
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
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/controller/auth"
	"github.com/ostium-net/ostium/router"
	"github.com/ostium-net/ostium/router/edge"
	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/enroll"
	"github.com/ostium-net/ostium/sdk/identity"
)

// AdminPassword is the default admin's password in every test network.
const AdminPassword = "harness-admin-password"

// Network is a running test network.
type Network struct {
	T      testing.TB
	Ctl    *controller.Controller
	Config controller.Config
	Log    *slog.Logger
	http   *http.Client
	token  string
	mu     sync.Mutex
}

// Logger is quiet unless OSTIUM_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("OSTIUM_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// Start brings up a controller and logs in as its admin.
func Start(t testing.TB) *Network {
	t.Helper()
	return StartWith(t, nil)
}

// StartWith is Start with a chance to change the controller's configuration
// first (for example a short API-session idle timeout).
func StartWith(t testing.TB, configure func(*controller.Config)) *Network {
	t.Helper()
	log := Logger()
	var (
		cfg controller.Config
		ctl *controller.Controller
		err error
	)
	// A port found free may be taken by another test's process before the
	// controller binds it; then the network is made again on other ports.
	for attempt := 1; ; attempt++ {
		cfg = controller.DefaultConfig()
		cfg.DataDir = t.TempDir()
		// Fixed ports (free now), so a restarted controller comes back where
		// routers and clients expect it.
		cfg.API.Listen = freeAddr(t)
		cfg.Cluster.Listen = freeAddr(t)
		cfg.Routers.Listen = freeAddr(t)
		if configure != nil {
			configure(&cfg)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err = controller.Init(ctx, cfg, controller.InitOptions{AdminPassword: AdminPassword}, log); err != nil {
			cancel()
			t.Fatalf("init controller: %v", err)
		}
		ctl, err = controller.Start(ctx, cfg, log)
		cancel()
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 5 {
			t.Fatalf("start controller: %v", err)
		}
		t.Logf("start controller: %v; again on other ports", err)
	}
	t.Cleanup(func() { _ = ctl.Close() })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ctl.CAPool(), MinVersion: tls.VersionTLS12}}
	n := &Network{T: t, Ctl: ctl, Config: cfg, Log: log, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	t.Cleanup(tr.CloseIdleConnections)
	n.Login()
	return n
}

// Attach is a Network whose controller runs elsewhere, another process for example: cfg
// names its API and router addresses, pool verifies its server certificate. Everything but
// StopController and StartController works as with Start; routers' presence is read from the
// management API.
func Attach(t testing.TB, cfg controller.Config, pool *x509.CertPool) *Network {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	n := &Network{T: t, Config: cfg, Log: Logger(), http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	n.Login()
	return n
}

// Login (again) as the default admin.
func (n *Network) Login() {
	n.T.Helper()
	n.token = ""
	var out struct {
		Token string `json:"token"`
	}
	n.Mgmt("POST", "/authenticate?method=password", map[string]string{"username": "admin", "password": AdminPassword}, &out)
	n.token = out.Token
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StopController stops the controller; routers and clients keep what they have.
func (n *Network) StopController() {
	n.mu.Lock()
	defer n.mu.Unlock()
	_ = n.Ctl.Close()
}

// StartController starts the stopped controller again on the same state and ports.
func (n *Network) StartController() {
	n.T.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	for i := 0; i < 50; i++ {
		if n.Ctl, err = controller.Start(ctx, n.Config, n.Log); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // ports may linger briefly
	}
	if err != nil {
		n.T.Fatalf("restart controller: %v", err)
	}
	ctl := n.Ctl
	n.T.Cleanup(func() { _ = ctl.Close() })
}

// URL is the controller's API base URL.
func (n *Network) URL() string { return "https://" + n.Config.API.Listen }

// Mgmt calls the management API as the admin and decodes data into out.
// Any non-2xx answer fails the test.
func (n *Network) Mgmt(method, path string, body, out any) {
	n.T.Helper()
	status, raw := n.MgmtRaw(method, path, body)
	if status/100 != 2 {
		n.T.Fatalf("%s %s: %d %s", method, path, status, raw)
	}
	if out != nil {
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &env); err != nil {
			n.T.Fatalf("%s %s: %v", method, path, err)
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			n.T.Fatalf("%s %s: decode data: %v", method, path, err)
		}
	}
}

// MgmtRawWithType sends a raw body with a content type to the management API.
func (n *Network) MgmtRawWithType(method, path, contentType string, body []byte) (int, []byte) {
	n.T.Helper()
	req, _ := http.NewRequest(method, n.URL()+"/edge/management/v1"+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("zt-session", n.token)
	resp, err := n.http.Do(req)
	if err != nil {
		n.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// MgmtRaw calls the management API and returns the status and body.
func (n *Network) MgmtRaw(method, path string, body any) (int, []byte) {
	n.T.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.URL()+"/edge/management/v1"+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if n.token != "" {
		req.Header.Set("zt-session", n.token)
	}
	resp, err := n.http.Do(req)
	if err != nil {
		n.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// Events opens the management API's event stream (GET /events?types=...) as the admin and
// returns its events as they arrive, each the JSON object of one data line. The stream is
// closed with the test.
func (n *Network) Events(types string) <-chan map[string]any {
	n.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n.T.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", n.URL()+"/edge/management/v1/events?types="+types, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("zt-session", n.token)
	resp, err := (&http.Client{Transport: n.http.Transport}).Do(req)
	if err != nil {
		n.T.Fatalf("event stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		n.T.Fatalf("event stream: %d", resp.StatusCode)
	}
	out := make(chan map[string]any, 4096)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: ")
			if !ok {
				continue
			}
			ev := map[string]any{}
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				ev = map[string]any{"unparsable": data}
			}
			out <- ev
		}
	}()
	return out
}

// AwaitEvent returns the first event of the stream that match accepts; it fails the test
// when the stream ends or stalls first.
func AwaitEvent(t testing.TB, stream <-chan map[string]any, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	stall := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-stream:
			if !ok {
				t.Fatalf("the event stream ended before %s", what)
			}
			if _, bad := ev["unparsable"]; bad {
				t.Fatalf("an event is not JSON: %v", ev)
			}
			if match(ev) {
				return ev
			}
		case <-stall:
			t.Fatalf("no %s on the event stream", what)
		}
	}
}

// Create posts an entity and returns its id.
func (n *Network) Create(path string, body any) string {
	n.T.Helper()
	var out struct {
		ID string `json:"id"`
	}
	n.Mgmt("POST", path, body, &out)
	return out.ID
}

// OpenPolicies lets every identity use every router and every router carry
// every service.
func (n *Network) OpenPolicies() {
	n.T.Helper()
	n.Create("/edge-router-policies", map[string]any{"name": "all-routers", "semantic": "AnyOf", "identityRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	n.Create("/service-edge-router-policies", map[string]any{"name": "all-services", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
}

// Service creates a service; identities with #<name>-dial may dial it and
// with #<name>-bind may bind it.
func (n *Network) Service(name string, encrypted bool) string {
	n.T.Helper()
	id := n.Create("/services", map[string]any{"name": name, "encryptionRequired": encrypted})
	n.Create("/service-policies", map[string]any{"name": name + "-dial", "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"#" + name + "-dial"}, "serviceRoles": []string{"@" + id}})
	n.Create("/service-policies", map[string]any{"name": name + "-bind", "type": "Bind", "semantic": "AnyOf",
		"identityRoles": []string{"#" + name + "-bind"}, "serviceRoles": []string{"@" + id}})
	return id
}

// Identity creates an identity with an ott enrollment, enrolls it with the
// sdk from its JWT, and returns the enrolled identity.
func (n *Network) Identity(name string, roleAttributes ...string) *identity.Identity {
	n.T.Helper()
	if roleAttributes == nil {
		roleAttributes = []string{}
	}
	id := n.Create("/identities", map[string]any{"name": name, "type": "Device", "isAdmin": false,
		"roleAttributes": roleAttributes, "enrollment": map[string]any{"ott": true}})
	var detail struct {
		Enrollment struct {
			Ott struct {
				JWT string `json:"jwt"`
			} `json:"ott"`
		} `json:"enrollment"`
	}
	n.Mgmt("GET", "/identities/"+id, nil, &detail)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := enroll.Enroll(ctx, detail.Enrollment.Ott.JWT, enroll.Options{})
	if err != nil {
		n.T.Fatalf("enroll %s: %v", name, err)
	}
	return res.Identity
}

// Context makes an sdk Context for an identity, closed with the test.
func (n *Network) Context(id *identity.Identity) *sdk.Context {
	n.T.Helper()
	c, err := sdk.New(id, sdk.Options{Logger: n.Log})
	if err != nil {
		n.T.Fatal(err)
	}
	n.T.Cleanup(func() { _ = c.Close() })
	return c
}

// Router is an enrolled edge router running in this process (router.Start), its identity
// files in a temporary directory.
type Router struct {
	n        *Network
	ID, Name string
	Addr     string // edge listener host:port
	// LinkAddr is the link listener's host:port, empty when the router only dials links.
	LinkAddr string
	cfg      router.Config
	pool     *x509.CertPool

	mu      sync.Mutex
	running *router.Router
}

// Router creates, enrolls and starts an edge router.
func (n *Network) Router(name string) *Router {
	n.T.Helper()
	return n.RouterWith(name, nil)
}

// RouterWith is Router with a chance to change the router's configuration before it starts
// (its identity files, controller and edge listener are already set).
func (n *Network) RouterWith(name string, configure func(*router.Config)) *Router {
	n.T.Helper()
	r := n.EnrollRouter(name)
	if configure != nil {
		configure(&r.cfg)
	}
	ln, err := net.Listen("tcp", r.cfg.Edge.Listen)
	if err != nil {
		n.T.Fatal(err)
	}
	r.Addr = ln.Addr().String()
	r.cfg.Edge.Listen, r.cfg.Edge.Advertise = r.Addr, r.Addr
	var lln net.Listener
	if r.cfg.Link.Listen != "" {
		if lln, err = net.Listen("tcp", r.cfg.Link.Listen); err != nil {
			n.T.Fatal(err)
		}
		r.LinkAddr = lln.Addr().String()
		r.cfg.Link.Listen, r.cfg.Link.Advertise = r.LinkAddr, r.LinkAddr
	}
	r.start(ln, lln)
	n.T.Cleanup(r.Stop)
	r.WaitOnline()
	return r
}

// EnrollRouter creates and enrolls an edge router and writes its identity files and its
// configuration (Config) without starting it.
func (n *Network) EnrollRouter(name string) *Router {
	n.T.Helper()
	id := n.Create("/edge-routers", map[string]any{"name": name, "isTunnelerEnabled": false, "roleAttributes": []string{"harness", name}})
	var detail struct {
		EnrollmentJWT string `json:"enrollmentJwt"`
	}
	n.Mgmt("GET", "/edge-routers/"+id, nil, &detail)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	claims, pool, cas, err := enroll.Verify(ctx, detail.EnrollmentJWT, enroll.Options{})
	if err != nil {
		n.T.Fatalf("verify router JWT: %v", err)
	}
	clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serverKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr := func(key *ecdsa.PrivateKey, ips []net.IP) string {
		der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, IPAddresses: ips}, key)
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	}
	body, _ := json.Marshal(map[string]string{"token": claims.Token, "certCsr": csr(clientKey, nil), "serverCertCsr": csr(serverKey, []net.IP{net.ParseIP("127.0.0.1")})})
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(n.URL()+"/edge/client/v1/enroll/erott", "application/json", bytes.NewReader(body))
	if err != nil {
		n.T.Fatalf("erott: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		n.T.Fatalf("erott: %d %s", resp.StatusCode, raw)
	}
	var env struct {
		Data struct {
			Cert       string `json:"cert"`
			ServerCert string `json:"serverCert"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		n.T.Fatal(err)
	}
	dir := n.T.TempDir()
	cfg := router.DefaultConfig()
	cfg.Identity = router.IdentityConfig{
		Cert: filepath.Join(dir, "client.cert"), Key: filepath.Join(dir, "client.key"),
		ServerCert: filepath.Join(dir, "server.cert"), ServerKey: filepath.Join(dir, "server.key"),
		CA: filepath.Join(dir, "ca.pem"),
	}
	var caPEM []byte
	for _, c := range cas {
		caPEM = append(caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{cfg.Identity.Cert, []byte(env.Data.Cert)}, {cfg.Identity.Key, keyPEM(n.T, clientKey)},
		{cfg.Identity.ServerCert, []byte(env.Data.ServerCert)}, {cfg.Identity.ServerKey, keyPEM(n.T, serverKey)},
		{cfg.Identity.CA, caPEM},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			n.T.Fatal(err)
		}
	}
	cfg.Controller.Endpoint = "tls:" + n.Config.Routers.Listen
	cfg.Controller.APIURL = n.URL()
	cfg.Edge.Listen = "127.0.0.1:0"
	cfg.Edge.Advertise = "127.0.0.1:0"
	return &Router{n: n, ID: id, Name: name, pool: pool, cfg: cfg}
}

// Config is the router's configuration (identity files included), for running it in another
// process.
func (r *Router) Config() router.Config { return r.cfg }

func keyPEM(t testing.TB, key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// LinkListen is a RouterWith option: the router accepts links on a free port of 127.0.0.1.
func LinkListen(cfg *router.Config) { cfg.Link.Listen = "127.0.0.1:0" }

func (r *Router) start(ln, linkLn net.Listener) {
	n := r.n
	opts := router.Options{
		Logger: n.Log.With("router", r.Name), EdgeListener: ln,
		ControlMinBackoff: 50 * time.Millisecond, ControlMaxBackoff: 500 * time.Millisecond,
	}
	opts.Link.MinBackoff, opts.Link.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	if linkLn != nil {
		opts.LinkListener = linkLn
	}
	rt, err := router.Start(context.Background(), r.cfg, opts)
	if err != nil {
		_ = ln.Close()
		if linkLn != nil {
			_ = linkLn.Close()
		}
		n.T.Fatalf("start router %s: %v", r.Name, err)
	}
	r.mu.Lock()
	r.running = rt
	r.mu.Unlock()
}

// RenewCertificates renews the router's client and server certificates through
// /enroll/extend/router, as a running router does on its own, and swaps them in: new
// handshakes use them, live connections keep theirs. It returns the client certificate that
// was replaced.
func (r *Router) RenewCertificates() tls.Certificate {
	r.n.T.Helper()
	rt := r.Running()
	old := rt.Certificate()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.RenewNow(ctx); err != nil {
		r.n.T.Fatalf("renew router %s: %v", r.Name, err)
	}
	return old
}

// ClientWith is an HTTPS client to the controller presenting cert.
func (r *Router) ClientWith(cert tls.Certificate) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: r.pool, Certificates: []tls.Certificate{cert}}}}
}

// WaitOnline waits until the controller sees the router connected.
func (r *Router) WaitOnline() {
	r.n.T.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !r.Online() {
		if time.Now().After(deadline) {
			r.n.T.Fatalf("router %s never came online", r.Name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Online reports whether the controller sees the router connected.
func (r *Router) Online() bool {
	if ctl := r.n.controller(); ctl != nil {
		return ctl.Routers().Online(r.ID)
	}
	var st struct {
		IsOnline bool `json:"isOnline"`
	}
	r.n.Mgmt("GET", "/edge-routers/"+r.ID, nil, &st)
	return st.IsOnline
}

func (n *Network) controller() *controller.Controller {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.Ctl
}

// Stop stops the router (its listeners and control channel).
func (r *Router) Stop() {
	r.mu.Lock()
	rt := r.running
	r.running = nil
	r.mu.Unlock()
	if rt != nil {
		_ = rt.Close()
	}
}

// Restart stops the router and starts it again on the same address.
func (r *Router) Restart() {
	r.n.T.Helper()
	r.Stop()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", r.Addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		r.n.T.Fatalf("listen again on %s: %v", r.Addr, err)
	}
	var lln net.Listener
	if r.LinkAddr != "" {
		for i := 0; i < 50; i++ {
			if lln, err = net.Listen("tcp", r.LinkAddr); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			_ = ln.Close()
			r.n.T.Fatalf("listen again on %s: %v", r.LinkAddr, err)
		}
	}
	r.start(ln, lln)
	r.WaitOnline()
}

// Running is the running router (nil once stopped).
func (r *Router) Running() *router.Router {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

// Listener is the router's edge listener (for stats and revocation tests).
func (r *Router) Listener() *edge.Listener {
	if rt := r.Running(); rt != nil {
		return rt.Edge()
	}
	return nil
}

// Main runs a test binary's tests (call it from TestMain) with passwords
// hashed at a cheap argon2id cost, so that the logins of many networks do not
// dominate the run. Verification reads the cost from each hash, so the flows
// are the same; package auth tests the production parameters.
func Main(m *testing.M) {
	auth.DefaultArgon2 = auth.Argon2Params{Time: 1, Memory: 1024, Threads: 1, KeyLen: 32}
	os.Exit(m.Run())
}
