package ha

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/controller/pki"
)

// childConfigEnv, when set, makes the test binary run one controller with the
// configuration file it names instead of the tests: the cluster's nodes are
// this binary, started again as separate processes.
const childConfigEnv = "OSTIUM_HA_CONTROLLER_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(childConfigEnv); path != "" {
		os.Exit(runController(path))
	}
	os.Exit(m.Run())
}

func runController(path string) int {
	cfg, err := controller.LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load config:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := controller.Run(ctx, cfg, log); err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		return 1
	}
	return 0
}

const adminPassword = "ha-admin-password"

// haNode is one controller process.
type haNode struct {
	index   int
	id      string
	cfg     controller.Config
	cfgPath string
	logPath string
	api     string // https://host:port
	cmd     *exec.Cmd
	exited  chan struct{}
	// alive is read by the clients while the nemesis kills and restarts.
	alive atomic.Bool
}

// haCluster is three controller processes with a fault-injecting proxy on
// their cluster port.
type haCluster struct {
	t      testing.TB
	nodes  []*haNode
	faults *faultNet
	hc     *http.Client
	token  string
}

func freePort(t testing.TB, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatalf("listen on %s: %v", host, err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startCluster initialises node 0, starts it, and joins two more to it.
func startCluster(t testing.TB, size int) *haCluster {
	t.Helper()
	c := &haCluster{t: t, faults: newFaultNet()}
	t.Cleanup(c.stop)
	sources := map[string]int{}
	for i := range size {
		sources[fmt.Sprintf("127.0.0.%d", 11+i)] = i
	}
	root := t.TempDir()
	for i := range size {
		n := &haNode{index: i, id: fmt.Sprintf("ctrl-%d", i)}
		cfg := controller.DefaultConfig()
		cfg.DataDir = filepath.Join(root, n.id)
		cfg.API.Listen = freePort(t, "127.0.0.1")
		cfg.Routers.Listen = freePort(t, "127.0.0.1")
		bind := freePort(t, fmt.Sprintf("127.0.0.%d", 11+i))
		adv, err := c.faults.addProxy(i, bind, sources)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Cluster = controller.ClusterConfig{NodeID: n.id, Listen: bind, Advertise: adv}
		cfg.PKI.IPAddresses = []string{"127.0.0.1"}
		cfg.Log.Level = "warn"
		n.cfg = cfg
		n.api = "https://" + cfg.API.Listen
		n.cfgPath = filepath.Join(root, n.id+".yml")
		n.logPath = filepath.Join(root, n.id+".log")
		c.nodes = append(c.nodes, n)
	}
	first := c.nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := controller.Init(ctx, first.cfg, controller.InitOptions{AdminPassword: adminPassword}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("init: %v", err)
	}
	ca, err := pki.Load(first.cfg.PKIConfigFiles())
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.CAPool(), MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 16}
	c.hc = &http.Client{Transport: tr, Timeout: 15 * time.Second}
	for _, n := range c.nodes[1:] {
		// Until join tokens: a joining controller holds the network's PKI.
		copyDir(t, first.cfg.PKIDir(), n.cfg.PKIDir())
		n.cfg.Cluster.Join = first.cfg.Cluster.Advertise
	}
	for _, n := range c.nodes {
		c.writeConfig(n)
		c.start(n)
		c.waitUp(n, time.Minute)
	}
	status, env := c.call(first, "POST", "/authenticate?method=password", map[string]string{"username": "admin", "password": adminPassword}, nil)
	if status != 200 {
		t.Fatalf("admin login: %d %v", status, env)
	}
	c.token = env["data"].(map[string]any)["token"].(string)
	return c
}

func copyDir(t testing.TB, from, to string) {
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

func (c *haCluster) writeConfig(n *haNode) {
	b, err := yaml.Marshal(n.cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(n.cfgPath, b, 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// start runs the node's process.
func (c *haCluster) start(n *haNode) {
	exe, err := os.Executable()
	if err != nil {
		c.t.Fatal(err)
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childConfigEnv+"="+n.cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	n.cmd = cmd
	n.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(n.exited)
	}()
}

// kill sends SIGKILL and waits for the process to go.
func (c *haCluster) kill(n *haNode) {
	if n.cmd == nil {
		return
	}
	n.alive.Store(false)
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
	n.cmd = nil
}

func (c *haCluster) stop() {
	for _, n := range c.nodes {
		if n.cmd != nil {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-n.exited:
			case <-time.After(15 * time.Second):
				c.kill(n)
			}
			n.cmd = nil
		}
	}
	c.faults.close()
	if c.hc != nil {
		c.hc.CloseIdleConnections()
	}
	if c.t.Failed() {
		for _, n := range c.nodes {
			b, _ := os.ReadFile(n.logPath)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 30 {
				lines = lines[len(lines)-30:]
			}
			c.t.Logf("last log lines of %s:\n%s", n.id, strings.Join(lines, "\n"))
		}
	}
}

// waitUp waits until the node's API answers.
func (c *haCluster) waitUp(n *haNode, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			b, _ := os.ReadFile(n.logPath)
			c.t.Fatalf("%s exited while starting:\n%s", n.id, b)
		default:
		}
		resp, err := c.hc.Get(n.api + "/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				n.alive.Store(true)
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("%s did not come up within %v", n.id, within)
}

// call makes a management API call through node n.
func (c *haCluster) call(n *haNode, method, path string, body any, headers map[string]string) (int, map[string]any) {
	status, _, env, err := c.do(context.Background(), n, method, path, body, headers)
	if err != nil {
		c.t.Fatalf("%s %s via %s: %v", method, path, n.id, err)
	}
	return status, env
}

// do makes a management API call and reports transport errors.
func (c *haCluster) do(ctx context.Context, n *haNode, method, path string, body any, headers map[string]string) (int, http.Header, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.api+"/edge/management/v1"+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("zt-session", c.token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	env := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &env); err != nil {
			return resp.StatusCode, resp.Header, nil, fmt.Errorf("answer %d is not JSON: %q", resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, resp.Header, env, nil
}

// leader asks every running node who leads and returns the node most of them
// name, or nil.
func (c *haCluster) leader() *haNode {
	votes := map[string]int{}
	for _, n := range c.nodes {
		if !n.alive.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		status, _, env, err := c.do(ctx, n, "GET", "/cluster/members", nil, map[string]string{"Ostium-Consistency": "stale"})
		cancel()
		if err != nil || status != 200 {
			continue
		}
		list, _ := env["data"].([]any)
		for _, m := range list {
			mm, _ := m.(map[string]any)
			if mm["leader"] == true {
				votes[mm["id"].(string)]++
			}
		}
	}
	best, most := "", 0
	for id, v := range votes {
		if v > most {
			best, most = id, v
		}
	}
	for _, n := range c.nodes {
		if n.id == best && n.alive.Load() {
			return n
		}
	}
	return nil
}

// waitLeader waits until a running node leads.
func (c *haCluster) waitLeader(within time.Duration) *haNode {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if l := c.leader(); l != nil {
			return l
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("no leader within %v", within)
	return nil
}
