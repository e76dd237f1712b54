package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tests/harness"
)

// The mesh benchmarks compare a circuit across three routers (client → A → B → C → host:
// four TLS legs) with a chain of three TLS-terminating relays, the same four legs, in the
// same run.

// tlsChainPath: client --TLS--> relay --TLS--> relay --TLS--> relay --TLS--> server.
func tlsChainPath(b *testing.B, handle func(net.Conn)) benchPath {
	srvCfg, cliCfg := tlsPair(b)
	backend, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		b.Fatal(err)
	}
	sink(b, backend, handle)
	next := backend.Addr().String()
	for range 3 {
		front, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
		if err != nil {
			b.Fatal(err)
		}
		to := next
		sink(b, front, func(in net.Conn) { relay(in, to, cliCfg) })
		next = front.Addr().String()
	}
	first := next
	return benchPath{"tls-chain", func(b *testing.B) net.Conn {
		c, err := tls.Dial("tcp", first, cliCfg)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}}
}

// meshPath is a circuit A→B→C of in-process routers.
func meshPath(b *testing.B, service string, handle func(net.Conn)) benchPath {
	m := newMeshNetwork(b, service)
	ln, err := m.host.ListenWithOptions(service, &sdk.ListenOptions{MaxConnections: 2048})
	if err != nil {
		b.Fatal(err)
	}
	sink(b, ln, handle)
	m.waitPath(b, m.a, m.c)
	return benchPath{"mesh", func(b *testing.B) net.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c, err := m.client.Dial(ctx, service)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}}
}

func BenchmarkMeshThroughput(b *testing.B) {
	paths := []benchPath{tlsChainPath(b, discardThenAck), meshPath(b, "bench-mesh-bulk", discardThenAck)}
	total := map[string]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range paths {
			total[p.name] += bulk(b, p)
		}
	}
	b.StopTimer()
	mbps := func(name string) float64 { return float64(benchBulk) * float64(b.N) / total[name].Seconds() / 1e6 }
	for _, p := range paths {
		b.ReportMetric(mbps(p.name), "MB/s-"+p.name)
	}
	b.ReportMetric(mbps("mesh")/mbps("tls-chain"), "ratio-mesh/tls-chain")
}

func BenchmarkMeshRoundTrip64B(b *testing.B) {
	paths := []benchPath{tlsChainPath(b, echo), meshPath(b, "bench-mesh-rtt", echo)}
	samples := roundTrips(b, paths, nTimes(b))
	reportRoundTrips(b, paths, samples)
	b.ReportMetric(percentileMicros(samples["mesh"], 0.5)/percentileMicros(samples["tls-chain"], 0.5), "ratio-p50-mesh/tls-chain")
}

// BenchmarkMeshCircuitMemory opens 1,000 circuits over one link A→B→C, with routers as their
// own processes, moves a little data on each, and reports how much the middle router's
// resident memory grew per circuit.
func BenchmarkMeshCircuitMemory(b *testing.B) {
	const circuits = 1000
	bin := buildRouter(b)
	n := harness.Start(b)
	n.Service("bench-mesh-many", false)
	n.Create("/service-edge-router-policies", map[string]any{"name": "all-services", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	a := startRouterProc(b, n, bin, "bm-a", false)
	mid := startRouterProc(b, n, bin, "bm-b", true)
	c := startRouterProc(b, n, bin, "bm-c", false)
	n.Create("/edge-router-policies", map[string]any{"name": "client-on-a", "semantic": "AnyOf", "identityRoles": []string{"#bm-client"}, "edgeRouterRoles": []string{"@" + a.r.ID}})
	n.Create("/edge-router-policies", map[string]any{"name": "host-on-c", "semantic": "AnyOf", "identityRoles": []string{"#bm-host"}, "edgeRouterRoles": []string{"@" + c.r.ID}})
	host := n.Context(n.Identity("bm-host", "bench-mesh-many-bind", "bm-host"))
	client := n.Context(n.Identity("bm-client", "bench-mesh-many-dial", "bm-client"))
	ln, err := host.ListenWithOptions("bench-mesh-many", &sdk.ListenOptions{MaxConnections: 2 * circuits})
	if err != nil {
		b.Fatal(err)
	}
	sink(b, ln, echo)
	waitUntil(b, "two links", 30*time.Second, func() bool { return connectedLinks(n, "") == 2 })
	dial := func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return client.Dial(ctx, "bench-mesh-many")
	}
	waitUntil(b, "a first dial", 20*time.Second, func() bool {
		c, err := dial()
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	for i := 0; i < b.N; i++ {
		runtime.GC()
		time.Sleep(200 * time.Millisecond)
		before := rssOf(b, mid)
		conns := make([]net.Conn, circuits)
		for j := range conns {
			if conns[j], err = dial(); err != nil {
				b.Fatalf("circuit %d: %v", j, err)
			}
		}
		var wg sync.WaitGroup
		start := time.Now()
		for _, conn := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 1024)
				for range 4 {
					_, _ = conn.Write(buf)
					_, _ = io.ReadFull(conn, buf)
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		after := rssOf(b, mid)
		b.ReportMetric(float64(after-before)/circuits, "KiB-middle-router/circuit")
		b.ReportMetric(float64(circuits*4*2048)/elapsed.Seconds()/1e6, "MB/s-aggregate")
		for _, conn := range conns {
			_ = conn.Close()
		}
	}
}

// rssOf reads a router process's resident set size in KiB.
func rssOf(b *testing.B, p *routerProc) int64 {
	b.Helper()
	p.mu.Lock()
	pid := p.cmd.Process.Pid
	p.mu.Unlock()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kib
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// relay copies between in and a new TLS connection to addr, both ways, passing half-closes.
func relay(in net.Conn, addr string, cfg *tls.Config) {
	relayVia(in, func() (net.Conn, error) { return tls.Dial("tcp", addr, cfg) })
}

// relayVia copies between in and a connection from dial, both ways, passing half-closes.
func relayVia(in net.Conn, dial func() (net.Conn, error)) {
	out, err := dial()
	if err != nil {
		return
	}
	defer out.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, in)
		closeWrite(out)
		close(done)
	}()
	_, _ = io.Copy(in, out)
	closeWrite(in)
	<-done
}
