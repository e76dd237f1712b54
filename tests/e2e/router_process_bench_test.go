package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tests/harness"
)

// BenchmarkRouterProcessMemory runs ostium-router as its own process, the
// way operators run it, and opens 1,000 connections through it from sdk
// clients in this process. The router's resident memory is read from
// /proc before and after, so the figure is the router's alone.
func BenchmarkRouterProcessMemory(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc to read the router's resident memory")
	}
	const conns = 1000
	const perConn = 64 << 10
	n := harness.Start(b)
	n.OpenPolicies()
	n.Service("bench-proc", false)
	router := startRouterProcess(b, n, "router-proc")

	host := n.Context(n.Identity("host", "bench-proc-bind"))
	client := n.Context(n.Identity("client", "bench-proc-dial"))
	ln, err := host.ListenWithOptions("bench-proc", &sdk.ListenOptions{MaxConnections: 2 * conns})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	sink(b, ln, discardThenAck)
	dial := func() net.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, "bench-proc")
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	// One connection first, so that channels, sessions and TLS are up.
	warm := dial()
	defer warm.Close()

	for i := 0; i < b.N; i++ {
		before := router.rssKiB(b)
		cs := make([]net.Conn, conns)
		for j := range cs {
			cs[j] = dial()
		}
		open := router.rssKiB(b) // connected, nothing sent yet
		start := time.Now()
		var wg sync.WaitGroup
		buf := make([]byte, 16<<10)
		for _, c := range cs {
			wg.Add(1)
			go func(c net.Conn) {
				defer wg.Done()
				for sent := 0; sent < perConn; sent += len(buf) {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
				closeWrite(c)
				_, _ = io.ReadFull(c, make([]byte, 1))
			}(c)
		}
		wg.Wait()
		elapsed := time.Since(start)
		moved := router.rssKiB(b) // every connection still open; includes buffers freed but not yet returned
		for _, c := range cs {
			_ = c.Close()
		}
		b.ReportMetric(float64(open-before)/conns, "KiB-router-rss/conn-open")
		b.ReportMetric(float64(moved-before)/conns, "KiB-router-rss/conn-after-transfer")
		b.ReportMetric(float64(moved)/1024, "MiB-router-rss")
		b.ReportMetric(float64(conns*perConn)/elapsed.Seconds()/1e6, "MB/s-aggregate")
	}
}

// routerProcess is an ostium-router running as a child process.
type routerProcess struct {
	cmd *exec.Cmd
}

// startRouterProcess builds ostium-router, enrolls it with the network's
// controller and runs it until the benchmark ends.
func startRouterProcess(b *testing.B, n *harness.Network, name string) *routerProcess {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "ostium-router")
	build := exec.Command("go", "build", "-o", bin, "github.com/ostium-net/ostium/router/cmd/ostium-router")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building ostium-router: %v\n%s", err, out)
	}
	id := n.Create("/edge-routers", map[string]any{"name": name, "isTunnelerEnabled": false, "roleAttributes": []string{"harness"}})
	var detail struct {
		EnrollmentJWT string `json:"enrollmentJwt"`
	}
	n.Mgmt("GET", "/edge-routers/"+id, nil, &detail)
	jwtPath := filepath.Join(dir, "router.jwt")
	if err := os.WriteFile(jwtPath, []byte(detail.EnrollmentJWT), 0o600); err != nil {
		b.Fatal(err)
	}
	edge := freeLocalAddr(b)
	cfgPath := filepath.Join(dir, "router.yml")
	cfg := fmt.Sprintf("identity:\n  cert: id/client.cert\n  key: id/client.key\n  serverCert: id/server.cert\n  serverKey: id/server.key\n  ca: id/ca.pem\n"+
		"controller:\n  endpoint: tls:%s\n  apiURL: %s\nedge:\n  listen: %s\nlog:\n  level: warn\n", n.Config.Routers.Listen, n.URL(), edge)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(bin, "enroll", "--jwt", jwtPath, "--config", cfgPath).CombinedOutput(); err != nil {
		b.Fatalf("ostium-router enroll: %v\n%s", err, out)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st struct {
			IsOnline bool `json:"isOnline"`
		}
		n.Mgmt("GET", "/edge-routers/"+id, nil, &st)
		if st.IsOnline {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the router process never came online:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &routerProcess{cmd: cmd}
}

// rssKiB reads the router's resident set size.
func (r *routerProcess) rssKiB(b *testing.B) int64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", r.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kib
		}
	}
	b.Fatal("no VmRSS in the router's status")
	return 0
}

func freeLocalAddr(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
