package restarts

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tests/harness"
)

// proc is a child process whose output goes to a log file.
type proc struct {
	t       testing.TB
	name    string
	args    []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func newProc(t testing.TB, name string, args ...string) *proc {
	p := &proc{t: t, name: name, args: args, logPath: filepath.Join(t.TempDir(), name+".log")}
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM, 20*time.Second)
		if t.Failed() {
			t.Logf("last log lines of %s:\n%s", name, p.tail(40))
		}
	})
	return p
}

// start runs the process; the log file keeps the output of every run.
func (p *proc) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
}

// stop sends sig and waits for the process to end, killing it after within; it returns how
// long the process took to end.
func (p *proc) stop(sig syscall.Signal, within time.Duration) time.Duration {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return 0
	}
	start := time.Now()
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(within):
		_ = cmd.Process.Kill()
		<-exited
	}
	return time.Since(start)
}

// stopAsync sends sig and returns a channel that receives how long the process took to end
// (it is killed after within).
func (p *proc) stopAsync(sig syscall.Signal, within time.Duration) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	go func() { out <- p.stop(sig, within) }()
	return out
}

func (p *proc) logs() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimSpace(p.logs()), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// network is a controller process, routers as processes and admin access through the
// management API.
type network struct {
	*harness.Network
	t         testing.TB
	ctl       *proc
	routerBin string
	api       string
	probe     *http.Client
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startNetwork initialises a controller, with tweaks applied to its configuration, and runs it
// as an ostium-controller process.
func startNetwork(t *testing.T, tweaks ...func(*controller.Config)) *network {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the controller and routers as processes; skipped in -short mode")
	}
	ctlBin, routerBin := binaries(t)
	dir := t.TempDir()
	cfg := controller.DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.API.Listen = freeAddr(t)
	cfg.Routers.Listen = freeAddr(t)
	cfg.Cluster.Listen = freeAddr(t)
	cfg.Log.Level = "info"
	for _, tweak := range tweaks {
		tweak(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := controller.Init(ctx, cfg, controller.InitOptions{AdminPassword: harness.AdminPassword}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("init controller: %v", err)
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "controller.yml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.Load(cfg.PKIConfigFiles())
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.CAPool(), MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	n := &network{t: t, ctl: newProc(t, "controller", ctlBin, "run", "--config", cfgPath), routerBin: routerBin,
		api: cfg.API.Listen, probe: &http.Client{Timeout: time.Second, Transport: tr}}
	n.startController()
	n.Network = harness.Attach(t, cfg, ca.CAPool())
	return n
}

// startController runs the controller process and waits for its API.
func (n *network) startController() {
	n.t.Helper()
	n.ctl.start()
	waitFor(n.t, "the controller's API", time.Minute, func() bool {
		resp, err := n.probe.Get("https://" + n.api + "/version")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// stopController ends the controller process with SIGTERM.
func (n *network) stopController() { n.ctl.stop(syscall.SIGTERM, 20*time.Second) }

// routerProc is an enrolled router run as an ostium-router process.
type routerProc struct {
	*proc
	*harness.Router
	edge string
}

// router enrolls a router and runs it as a process; extra is more router.yml (top-level keys).
func (n *network) router(name, extra string) *routerProc {
	n.t.Helper()
	r := n.EnrollRouter(name)
	cfg := r.Config()
	edge := freeAddr(n.t)
	conf := filepath.Join(filepath.Dir(cfg.Identity.Cert), "router.yml")
	text := fmt.Sprintf("identity:\n  cert: %s\n  key: %s\n  serverCert: %s\n  serverKey: %s\n  ca: %s\n"+
		"controller:\n  endpoint: %s\n  apiURL: %s\nedge:\n  listen: %s\nlog:\n  level: debug\n%s",
		cfg.Identity.Cert, cfg.Identity.Key, cfg.Identity.ServerCert, cfg.Identity.ServerKey, cfg.Identity.CA,
		cfg.Controller.Endpoint, cfg.Controller.APIURL, edge, extra)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		n.t.Fatal(err)
	}
	p := &routerProc{proc: newProc(n.t, "router-"+name, n.routerBin, "run", "--config", conf), Router: r, edge: edge}
	p.start()
	p.WaitOnline()
	return p
}

// startAccepting starts the router process and returns when its edge listener accepts TCP
// connections, with the time it first did.
func (p *routerProc) startAccepting() time.Time {
	p.t.Helper()
	p.start()
	var at time.Time
	waitFor(p.t, "the router's edge listener", 30*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", p.edge, 100*time.Millisecond)
		if err != nil {
			return false
		}
		at = time.Now()
		c.Close()
		return true
	})
	return at
}

// terminatorsByRouter counts the terminators the controller lists, by router id.
func (n *network) terminatorsByRouter() map[string]int {
	var list []struct {
		Router struct {
			ID string `json:"id"`
		} `json:"router"`
	}
	n.Mgmt("GET", "/terminators?limit=500", nil, &list)
	out := map[string]int{}
	for _, t := range list {
		out[t.Router.ID]++
	}
	return out
}

func waitFor(t testing.TB, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %s", what, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// logBuffer collects an sdk Context's logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// client enrolls an identity and returns an sdk Context whose logs go to the returned buffer.
func (n *network) client(name string, roles ...string) (*sdk.Context, *logBuffer) {
	n.t.Helper()
	id := n.Identity(name, roles...)
	logs := &logBuffer{}
	c, err := sdk.New(id, sdk.Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { _ = c.Close() })
	return c, logs
}

func serveEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
	}
}

// echoOnce dials service and checks one round trip.
func echoOnce(c *sdk.Context, service string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := c.Dial(ctx, service)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	msg := []byte("ping " + time.Now().String())
	if _, err := conn.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo mismatch")
	}
	return nil
}

// untilEcho dials every interval until a round trip works and returns when it did, with the
// number of failed attempts.
func untilEcho(t testing.TB, c *sdk.Context, service string, interval, limit time.Duration) (time.Time, int) {
	t.Helper()
	deadline := time.Now().Add(limit)
	failed := 0
	for {
		err := echoOnce(c, service, 2*time.Second)
		if err == nil {
			return time.Now(), failed
		}
		failed++
		if time.Now().After(deadline) {
			t.Fatalf("no echo through %s within %s: %v", service, limit, err)
		}
		time.Sleep(interval)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
