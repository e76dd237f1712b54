package e2e

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/tests/harness"
)

// meshProcessPath is a circuit A→B→C over routers run as ostium-router processes, as they
// are deployed: the client is held to A and the host to C by edge-router policies, and only
// B listens for links. Client and host run in this process.
func meshProcessPath(b *testing.B, service string, handle func(net.Conn)) benchPath {
	bin := buildRouter(b)
	n := harness.Start(b)
	n.Service(service, false)
	n.Create("/service-edge-router-policies", map[string]any{"name": "all-services", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	a := startRouterProc(b, n, bin, "bp-a", false)
	startRouterProc(b, n, bin, "bp-b", true)
	c := startRouterProc(b, n, bin, "bp-c", false)
	n.Create("/edge-router-policies", map[string]any{"name": "client-on-a", "semantic": "AnyOf", "identityRoles": []string{"#bp-client"}, "edgeRouterRoles": []string{"@" + a.r.ID}})
	n.Create("/edge-router-policies", map[string]any{"name": "host-on-c", "semantic": "AnyOf", "identityRoles": []string{"#bp-host"}, "edgeRouterRoles": []string{"@" + c.r.ID}})
	host := n.Context(n.Identity("bp-host", service+"-bind", "bp-host"))
	client := n.Context(n.Identity("bp-client", service+"-dial", "bp-client"))
	ln, err := host.ListenWithOptions(service, &sdk.ListenOptions{MaxConnections: 64})
	if err != nil {
		b.Fatal(err)
	}
	sink(b, ln, handle)
	waitUntil(b, "two links", 30*time.Second, func() bool { return connectedLinks(n, "") == 2 })
	dial := func() (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return client.Dial(ctx, service)
	}
	waitUntil(b, "a first dial", 20*time.Second, func() bool {
		c, err := dial()
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	return benchPath{"mesh-processes", func(b *testing.B) net.Conn {
		c, err := dial()
		if err != nil {
			b.Fatal(err)
		}
		return c
	}}
}

// BenchmarkMeshProcessRoundTrip64B is BenchmarkMeshRoundTrip64B with the three routers, and
// the three relays of the chain it is compared with, each a process of its own. Round trips
// of the two paths alternate.
func BenchmarkMeshProcessRoundTrip64B(b *testing.B) {
	paths := []benchPath{tlsChainProcessPath(b, echo), meshProcessPath(b, "bench-mesh-proc-rtt", echo)}
	samples := roundTrips(b, paths, b.Loop)
	reportRoundTrips(b, paths, samples)
	b.ReportMetric(percentileMicros(samples["mesh-processes"], 0.5)/percentileMicros(samples["tls-chain-processes"], 0.5), "ratio-p50-mesh/tls-chain")
}

// BenchmarkMeshProcessThroughput is BenchmarkMeshThroughput with routers and relays as
// processes.
func BenchmarkMeshProcessThroughput(b *testing.B) {
	paths := []benchPath{tlsChainProcessPath(b, discardThenAck), meshProcessPath(b, "bench-mesh-proc-bulk", discardThenAck)}
	total := map[string]time.Duration{}
	for b.Loop() {
		for _, p := range paths {
			total[p.name] += bulk(b, p)
		}
	}
	rate := func(name string) float64 { return 1 / total[name].Seconds() }
	for _, p := range paths {
		b.ReportMetric(float64(benchBulk)*rate(p.name)*float64(b.N)/1e6, "MB/s-"+p.name)
	}
	b.ReportMetric(rate("mesh-processes")/rate("tls-chain-processes"), "ratio-mesh/tls-chain")
}
