package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ostium-net/ostium/tests/harness"
)

// buildRouter builds ostium-router into the test's temporary directory.
func buildRouter(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ostium-router")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ostium-net/ostium/router/cmd/ostium-router").CombinedOutput()
	if err != nil {
		t.Fatalf("building ostium-router: %v\n%s", err, out)
	}
	return bin
}

// routerProc is an enrolled router run as its own ostium-router process.
type routerProc struct {
	t    testing.TB
	r    *harness.Router
	bin  string
	conf string
	mu   sync.Mutex
	cmd  *exec.Cmd
	logs *bytes.Buffer
}

// startRouterProc enrolls a router and runs it as a process; with link set it listens for
// links on a fixed free port (kept across restarts).
func startRouterProc(t testing.TB, n *harness.Network, bin, name string, link bool) *routerProc {
	t.Helper()
	r := n.EnrollRouter(name)
	cfg := r.Config()
	edge := freeAddrT(t)
	linkSection := ""
	if link {
		linkSection = fmt.Sprintf("link:\n  listen: %s\n", freeAddrT(t))
	}
	conf := filepath.Join(filepath.Dir(cfg.Identity.Cert), "router.yml")
	text := fmt.Sprintf("identity:\n  cert: %s\n  key: %s\n  serverCert: %s\n  serverKey: %s\n  ca: %s\n"+
		"controller:\n  endpoint: %s\n  apiURL: %s\nedge:\n  listen: %s\n%slog:\n  level: info\n",
		cfg.Identity.Cert, cfg.Identity.Key, cfg.Identity.ServerCert, cfg.Identity.ServerKey, cfg.Identity.CA,
		cfg.Controller.Endpoint, cfg.Controller.APIURL, edge, linkSection)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &routerProc{t: t, r: r, bin: bin, conf: conf}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func freeAddrT(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (p *routerProc) start() {
	p.t.Helper()
	var logs bytes.Buffer
	cmd := exec.Command(p.bin, "run", "--config", p.conf)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.cmd, p.logs = cmd, &logs
	p.mu.Unlock()
	p.r.WaitOnline()
}

// kill ends the process with SIGKILL: no goodbye to anyone.
func (p *routerProc) kill() {
	p.mu.Lock()
	cmd := p.cmd
	p.cmd = nil
	p.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

func (p *routerProc) stop() {
	p.mu.Lock()
	cmd := p.cmd
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	if p.t.Failed() && os.Getenv("OSTIUM_TEST_LOG") != "" {
		p.t.Logf("router %s logs:\n%s", p.r.Name, p.logs.String())
	}
}

type linkView struct {
	Source struct {
		ID string `json:"id"`
	} `json:"sourceRouter"`
	Dest struct {
		ID string `json:"id"`
	} `json:"destRouter"`
	State string `json:"state"`
}

// connectedLinks counts the connected links touching router id (any router when empty).
func connectedLinks(n *harness.Network, id string) int {
	var links []linkView
	n.Mgmt("GET", "/links?limit=500", nil, &links)
	c := 0
	for _, l := range links {
		if l.State == "connected" && (id == "" || l.Source.ID == id || l.Dest.ID == id) {
			c++
		}
	}
	return c
}

func waitUntil(t testing.TB, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %s", what, limit)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Since(start)
}

// TestMeshRoutersAsProcessesSurviveAKilledMiddleRouter runs four ostium-router processes: the
// client may use only A, the host only C, and only B and D listen for links, so circuits
// cross A→B→C or A→D→C. Killing the middle router (SIGKILL) with a flow running moves its
// circuit to the other middle router and the flow goes on, its echo intact; a new dial takes
// the other path at once; the killed router, restarted, is linked again.
func TestMeshRoutersAsProcessesSurviveAKilledMiddleRouter(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs four router processes; skipped in -short mode")
	}
	bin := buildRouter(t)
	n := harness.Start(t)
	n.Service("proc-echo", false)
	n.Create("/service-edge-router-policies", map[string]any{"name": "all-services", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	a := startRouterProc(t, n, bin, "proc-a", false)
	b := startRouterProc(t, n, bin, "proc-b", true)
	c := startRouterProc(t, n, bin, "proc-c", false)
	d := startRouterProc(t, n, bin, "proc-d", true)
	n.Create("/edge-router-policies", map[string]any{"name": "client-on-a", "semantic": "AnyOf", "identityRoles": []string{"#proc-client"}, "edgeRouterRoles": []string{"@" + a.r.ID}})
	n.Create("/edge-router-policies", map[string]any{"name": "host-on-c", "semantic": "AnyOf", "identityRoles": []string{"#proc-host"}, "edgeRouterRoles": []string{"@" + c.r.ID}})
	host := n.Context(n.Identity("proc-host", "proc-echo-bind", "proc-host"))
	client := n.Context(n.Identity("proc-client", "proc-echo-dial", "proc-client"))
	ln, err := host.Listen("proc-echo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go serveEcho(ln)
	// A–B, A–D, C–B, C–D and B–D.
	took := waitUntil(t, "five links up", 30*time.Second, func() bool { return connectedLinks(n, "") == 5 })
	t.Logf("all links up %s after the routers started", took.Round(time.Millisecond))

	dial := func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return client.Dial(ctx, "proc-echo")
	}
	var conn net.Conn
	waitUntil(t, "a first dial across the mesh", 20*time.Second, func() bool {
		var err error
		conn, err = dial()
		return err == nil
	})
	defer conn.Close()
	if err := echoOnce(conn, "through a middle router process"); err != nil {
		t.Fatal(err)
	}
	const size = 4 << 20
	sum, got, err := echoBulk(conn, size)
	if err != nil || got != size || sum != patternSHA(size) {
		t.Fatalf("bulk echo: %d bytes, %v", got, err)
	}
	var circuits []struct {
		Path []string `json:"path"`
	}
	n.Mgmt("GET", "/circuits", nil, &circuits)
	// Paths follow measured latency: A→B→C, A→D→C, or, when the B–D link
	// measures cheaper than a direct one, A→B→D→C or A→D→B→C. Killing the
	// router after A leaves A→(the other)→C either way.
	if len(circuits) != 1 || len(circuits[0].Path) < 3 || len(circuits[0].Path) > 4 ||
		circuits[0].Path[0] != a.r.ID || circuits[0].Path[len(circuits[0].Path)-1] != c.r.ID {
		t.Fatalf("circuits: %+v, want one from A to C through B, D or both", circuits)
	}
	middle, other := b, d
	if circuits[0].Path[1] == d.r.ID {
		middle, other = d, b
	}
	if circuits[0].Path[1] != middle.r.ID {
		t.Fatalf("the circuit goes through %s, neither B nor D", circuits[0].Path[1])
	}

	// A flow runs while the middle router dies: each round trip checks its echo.
	var rounds atomic.Int64
	stopFlow := make(chan struct{})
	flowDone := make(chan error, 1)
	go func() {
		out, in := make([]byte, 32<<10), make([]byte, 32<<10)
		for i := 0; ; i++ {
			select {
			case <-stopFlow:
				flowDone <- nil
				return
			default:
			}
			for j := range out {
				out[j] = byte(i + j)
			}
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := conn.Write(out); err != nil {
				flowDone <- err
				return
			}
			if _, err := io.ReadFull(conn, in); err != nil {
				flowDone <- err
				return
			}
			if !bytes.Equal(in, out) {
				flowDone <- fmt.Errorf("round trip %d echoed other bytes", i)
				return
			}
			rounds.Add(1)
		}
	}()
	waitUntil(t, "the flow running", 10*time.Second, func() bool { return rounds.Load() > 10 })
	killed := time.Now()
	middle.kill()
	// The circuit moves to the other middle router and the flow goes on.
	before := rounds.Load()
	hang := time.After(20 * time.Second)
	for rounds.Load() < before+50 {
		select {
		case err := <-flowDone:
			t.Fatalf("the flow through the killed router ended %s after the kill: %v", time.Since(killed).Round(time.Millisecond), err)
		case <-hang:
			t.Fatal("the flow through the killed router hangs")
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Logf("the flow went on over the other path: 50 round trips done %s after the kill", time.Since(killed).Round(time.Millisecond))
	close(stopFlow)
	if err := <-flowDone; err != nil {
		t.Fatal(err)
	}

	// A new dial takes the other middle router too.
	var again net.Conn
	waitUntil(t, "a new dial after the kill", 15*time.Second, func() bool {
		var err error
		again, err = dial()
		return err == nil
	})
	t.Logf("a new dial worked %s after the kill", time.Since(killed).Round(time.Millisecond))
	defer again.Close()
	if err := echoOnce(again, "around the dead router"); err != nil {
		t.Fatal(err)
	}
	n.Mgmt("GET", "/circuits", nil, &circuits)
	if len(circuits) != 2 {
		t.Fatalf("after the kill, circuits %+v, want the moved one and the new one", circuits)
	}
	for _, c := range circuits {
		if len(c.Path) != 3 || c.Path[1] != other.r.ID {
			t.Fatalf("after the kill, circuits %+v, want both through %s", circuits, other.r.Name)
		}
	}

	// The killed router comes back, and its links with it.
	restarted := time.Now()
	middle.start()
	took = waitUntil(t, "the restarted router's links", 30*time.Second, func() bool { return connectedLinks(n, middle.r.ID) == 3 })
	t.Logf("the restarted router's three links were up %s after its start (%s after it was online)", time.Since(restarted).Round(time.Millisecond), took.Round(time.Millisecond))
}

func patternSHA(n int) [32]byte { return patternSum(7, int64(n)) }
