package quickstart_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/cmd/internal/quickstart"
	"github.com/ostium-net/ostium/internal/ops/opstest"
	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/enroll"
	"github.com/ostium-net/ostium/sdk/identity"
)

// syncBuffer is a progress writer safe to read while Run writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is one quickstart run in the background.
type running struct {
	info     quickstart.Info
	progress *syncBuffer
	cancel   context.CancelFunc
	done     chan error
}

// start runs the quickstart in home on free ports and waits until it is ready.
func start(t *testing.T, home, password string) *running {
	t.Helper()
	return startN(t, home, password, 1)
}

// startN is start with n linked routers; configure may change the options.
func startN(t *testing.T, home, password string, n int, configure ...func(*quickstart.Options)) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{progress: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan quickstart.Info, 1)
	opts := quickstart.Options{Home: home, Password: password,
		APIAddr: "127.0.0.1:0", EdgeAddr: "127.0.0.1:0", RouterCtlAddr: "127.0.0.1:0", ClusterAddr: "127.0.0.1:0",
		Routers: n, Progress: r.progress, Ready: func(i quickstart.Info) { ready <- i }}
	for _, f := range configure {
		f(&opts)
	}
	go func() { r.done <- quickstart.Run(ctx, opts) }()
	select {
	case r.info = <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("quickstart stopped before it was ready: %v\n%s", err, r.progress.String())
	case <-time.After(3 * time.Minute):
		cancel()
		t.Fatalf("quickstart not ready in time:\n%s", r.progress.String())
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the run (Ctrl-C) and waits for a clean return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Fatalf("quickstart returned %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(time.Minute):
		t.Fatal("quickstart did not stop")
	}
}

// echo dials the demo service with the identity and checks the echo.
func echo(t *testing.T, id *identity.Identity, msg string) {
	t.Helper()
	c, err := sdk.New(id, sdk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := c.Dial(ctx, quickstart.EchoService)
	if err != nil {
		t.Fatalf("dial %s: %v", quickstart.EchoService, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("read the echo: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echoed %q, want %q", got, msg)
	}
}

// adminLogin logs in to the management API with the quickstart's CA.
func adminLogin(t *testing.T, info quickstart.Info, password string) int {
	t.Helper()
	caPEM, err := os.ReadFile(info.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificate in %s", info.CAFile)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	body, _ := json.Marshal(map[string]string{"username": info.AdminUsername, "password": password})
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Post(info.APIURL+"/edge/management/v1/authenticate?method=password", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestQuickstartDemoAndResume(t *testing.T) {
	home := filepath.Join(t.TempDir(), "qs")

	first := start(t, home, "")
	info := first.info
	if !info.Fresh || info.AdminUsername != "admin" || len(info.AdminPassword) < 16 {
		t.Fatalf("first run info %+v", info)
	}
	out := first.progress.String()
	for _, want := range []string{"[1/6] initialising", "[6/6]", "Ready.", info.AdminPassword, "ostium enroll " + info.ClientJWT, "ostium dial echo", "/console/"} {
		if !strings.Contains(out, want) {
			t.Fatalf("progress lacks %q:\n%s", want, out)
		}
	}
	if code := adminLogin(t, info, info.AdminPassword); code != 200 {
		t.Fatalf("admin login: %d", code)
	}
	// The same controller by the name people type: the certificate covers localhost.
	byName := info
	byName.APIURL = strings.Replace(info.APIURL, "127.0.0.1", "localhost", 1)
	if code := adminLogin(t, byName, info.AdminPassword); code != 200 {
		t.Fatalf("admin login at %s: %d", byName.APIURL, code)
	}

	// The demo, as a new user runs it: enroll the JWT, dial echo.
	jwt, err := os.ReadFile(info.ClientJWT)
	if err != nil {
		t.Fatalf("client JWT: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := enroll.Enroll(ctx, strings.TrimSpace(string(jwt)), enroll.Options{})
	if err != nil {
		t.Fatalf("enroll the demo client: %v", err)
	}
	if err := res.Identity.Save(info.ClientIdentityFile); err != nil {
		t.Fatal(err)
	}
	echo(t, res.Identity, "hello through the overlay")

	// A second quickstart on the same home says at once that one runs.
	err = quickstart.Run(context.Background(), quickstart.Options{Home: home,
		APIAddr: "127.0.0.1:0", EdgeAddr: "127.0.0.1:0", RouterCtlAddr: "127.0.0.1:0", ClusterAddr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "another quickstart is running in "+info.Home) {
		t.Fatalf("second quickstart on the same home: %v", err)
	}

	first.stop(t)
	if out := first.progress.String(); !strings.HasSuffix(out, "stopping\nstopped\n") {
		t.Fatalf("no clean stop:\n%s", out)
	}

	// Second start: same state, same admin, the enrolled client still works.
	second := start(t, home, "")
	if second.info.Fresh {
		t.Fatal("second run initialised again")
	}
	if out := second.progress.String(); !strings.Contains(out, "reusing the network") || strings.Contains(out, info.AdminPassword+"\"") {
		t.Fatalf("second run progress:\n%s", out)
	}
	if second.info.AdminPassword != info.AdminPassword {
		t.Fatalf("admin password changed: %q", second.info.AdminPassword)
	}
	if code := adminLogin(t, second.info, info.AdminPassword); code != 200 {
		t.Fatalf("admin login after restart: %d", code)
	}
	if code := adminLogin(t, second.info, "wrong password"); code != 401 {
		t.Fatalf("wrong password after restart: %d", code)
	}
	id, err := identity.Load(info.ClientIdentityFile)
	if err != nil {
		t.Fatal(err)
	}
	// The controller moved to a new port (port 0): point the identity at it.
	id.ControllerURL = second.info.APIURL
	id.Controllers = []string{second.info.APIURL}
	echo(t, id, "hello again")
	if !strings.Contains(second.progress.String(), "already enrolled") {
		t.Fatalf("second run still offers the used JWT:\n%s", second.progress.String())
	}
}

func TestQuickstartNeedsAHome(t *testing.T) {
	if err := quickstart.Run(context.Background(), quickstart.Options{}); err == nil || !strings.Contains(err.Error(), "home") {
		t.Fatalf("Run without a home: %v", err)
	}
}

// TestQuickstartLinkedRouters: with three routers the quickstart links each to the others,
// the management API lists the links, and the demo dial works.
// TestQuickstartLinkedRouters runs three linked routers, with --ops: one
// ops listener whose /metrics covers the controller, each router (labelled
// with its name) and the demo's tunneler.
func TestQuickstartLinkedRouters(t *testing.T) {
	home := filepath.Join(t.TempDir(), "qs")
	run := startN(t, home, "", 3, func(o *quickstart.Options) { o.OpsAddr = "127.0.0.1:0" })
	info := run.info
	if len(info.RouterIDs) != 3 || !strings.Contains(run.progress.String(), "3 linked edge routers") {
		t.Fatalf("routers %v, progress:\n%s", info.RouterIDs, run.progress.String())
	}
	jwt, err := os.ReadFile(info.ClientJWT)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := enroll.Enroll(ctx, strings.TrimSpace(string(jwt)), enroll.Options{})
	if err != nil {
		t.Fatal(err)
	}
	echo(t, res.Identity, "hello with three routers")

	caPEM, _ := os.ReadFile(info.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	body, _ := json.Marshal(map[string]string{"username": info.AdminUsername, "password": info.AdminPassword})
	resp, err := hc.Post(info.APIURL+"/edge/management/v1/authenticate?method=password", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var auth struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&auth)
	resp.Body.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", info.APIURL+"/edge/management/v1/links", nil)
		req.Header.Set("zt-session", auth.Data.Token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var links struct {
			Data []struct {
				State string `json:"state"`
			} `json:"data"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&links)
		resp.Body.Close()
		up := 0
		for _, l := range links.Data {
			if l.State == "connected" {
				up++
			}
		}
		if up == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("links: %+v", links.Data)
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkOps(t, run)
}

// checkOps reads the quickstart's ops listener after the echo.
func checkOps(t *testing.T, run *running) {
	t.Helper()
	if run.info.OpsURL == "" || !strings.Contains(run.progress.String(), run.info.OpsURL+"/metrics") {
		t.Fatalf("no ops listener announced: %q\n%s", run.info.OpsURL, run.progress.String())
	}
	addr := strings.TrimPrefix(run.info.OpsURL, "http://")
	m := opstest.Scrape(t, addr)
	routers := []string{quickstart.RouterName, quickstart.RouterName + "-2", quickstart.RouterName + "-3"}
	if got := m.LabelValues("ostium_router_control_channel_up", "router"); !slices.Equal(got, routers) {
		t.Errorf("routers in the metrics: %v, want %v", got, routers)
	}
	for _, want := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"ostium_routers_online", nil, 3},
		{"ostium_router_circuits_total", nil, 1}, // through whichever router the client picked
		{"ostium_router_links", nil, 3},
		{"ostium_tunnel_connections_total", []string{"side", "host"}, 1},
		{"ostium_authentications_total", []string{"result", "success"}, 2},
		{"ostium_raft_role", []string{"role", "leader"}, 1},
	} {
		if got := m.Value(t, want.name, want.labels...); got < want.min {
			t.Errorf("%s%v = %v, want at least %v", want.name, want.labels, got, want.min)
		}
	}
	if status, rep := opstest.Health(t, addr); status != 200 || rep["status"] != "ok" {
		t.Errorf("/health: %d %v", status, rep)
	}
	if status, _ := opstest.Get(t, addr, "/debug/pprof/"); status != 200 {
		t.Errorf("/debug/pprof/: %d", status)
	}
}

// TestQuickstartBusyPortNamesItsFlag: a port in use stops the quickstart
// before it makes anything, with the address, what it is for and the flag
// that moves it.
func TestQuickstartBusyPortNamesItsFlag(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	home := filepath.Join(t.TempDir(), "qs")
	for _, tc := range []struct {
		flag string
		opts quickstart.Options
	}{
		{"--api", quickstart.Options{APIAddr: busy.Addr().String()}},
		{"--edge", quickstart.Options{EdgeAddr: busy.Addr().String()}},
		{"--router-control", quickstart.Options{RouterCtlAddr: busy.Addr().String()}},
		{"--cluster", quickstart.Options{ClusterAddr: busy.Addr().String()}},
	} {
		o := tc.opts
		o.Home = home
		for _, a := range []*string{&o.APIAddr, &o.EdgeAddr, &o.RouterCtlAddr, &o.ClusterAddr} {
			if *a == "" {
				*a = "127.0.0.1:0"
			}
		}
		err := quickstart.Run(context.Background(), o)
		var pe *quickstart.PortInUseError
		if !errors.As(err, &pe) || pe.Flag != tc.flag || pe.Addr != busy.Addr().String() ||
			!strings.Contains(err.Error(), busy.Addr().String()+" is in use") || !strings.Contains(err.Error(), tc.flag) {
			t.Fatalf("%s busy: %v", tc.flag, err)
		}
	}
	entries, err := os.ReadDir(home)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "quickstart.lock" {
			t.Errorf("a quickstart stopped by a busy port left %s behind", e.Name())
		}
	}
}

// TestQuickstartFailedInitRollsBack: a first run whose initialisation
// fails leaves no half-made network behind (which a second run could never
// log in to), and the next run starts afresh.
func TestQuickstartFailedInitRollsBack(t *testing.T) {
	home := filepath.Join(t.TempDir(), "qs")
	opts := quickstart.Options{Home: home, Password: "abc", // too short: init refuses it
		APIAddr: "127.0.0.1:0", EdgeAddr: "127.0.0.1:0", RouterCtlAddr: "127.0.0.1:0", ClusterAddr: "127.0.0.1:0"}
	err := quickstart.Run(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("init with a bad password: %v", err)
	}
	for _, left := range []string{"data", "admin.password"} {
		if _, err := os.Stat(filepath.Join(home, left)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a failed first run left %s: %v", left, err)
		}
	}
}

// TestQuickstartStoppedWhileStarting: Ctrl-C during the start is a stop,
// not an error, and says so.
func TestQuickstartStoppedWhileStarting(t *testing.T) {
	home := filepath.Join(t.TempDir(), "qs")
	ctx, cancel := context.WithCancel(context.Background())
	progress := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- quickstart.Run(ctx, quickstart.Options{Home: home, Progress: progress,
			APIAddr: "127.0.0.1:0", EdgeAddr: "127.0.0.1:0", RouterCtlAddr: "127.0.0.1:0", ClusterAddr: "127.0.0.1:0"})
	}()
	for !strings.Contains(progress.String(), "[2/6]") {
		select {
		case err := <-done:
			t.Fatalf("quickstart ended before it started the controller: %v\n%s", err, progress.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil || !strings.HasSuffix(progress.String(), "stopped\n") {
			t.Fatalf("stopped while starting: %v\n%s", err, progress.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("quickstart did not stop")
	}
	if _, err := os.Stat(filepath.Join(home, "admin.password")); err != nil {
		t.Fatalf("the admin password of the initialised network is gone: %v", err)
	}
}
