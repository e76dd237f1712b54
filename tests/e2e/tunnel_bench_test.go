package e2e

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ostium-net/ostium/tests/harness"
	"github.com/ostium-net/ostium/tunnel"
)

// The tunneler benchmarks compare the tunneler's data path, a plain TCP client → proxy
// tunneler → router → host tunneler → plain TCP server, with a chain of three relays doing the
// same work in the same run: TCP → relay → TLS → relay → TLS → relay → TCP server. Both have a
// plain TCP leg at each end, two TLS legs in the middle and three places that copy. The
// tunneler is measured on a service without end-to-end encryption ("tunnel", the like-for-like
// comparison the goal is judged on) and on one with it ("tunnel-e2ee", which seals and opens
// every message once more than the chain does).

// tcpChainPath: client --TCP--> relay --TLS--> relay --TLS--> relay --TCP--> server.
func tcpChainPath(b *testing.B, handle func(net.Conn)) benchPath {
	srvCfg, cliCfg := tlsPair(b)
	listen := func(cfg *tls.Config) net.Listener {
		var ln net.Listener
		var err error
		if cfg == nil {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		} else {
			ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
		}
		if err != nil {
			b.Fatal(err)
		}
		return ln
	}
	backend := listen(nil)
	sink(b, backend, handle)
	last := listen(srvCfg)
	sink(b, last, func(in net.Conn) {
		relayVia(in, func() (net.Conn, error) { return net.Dial("tcp", backend.Addr().String()) })
	})
	mid := listen(srvCfg)
	sink(b, mid, func(in net.Conn) { relay(in, last.Addr().String(), cliCfg) })
	front := listen(nil)
	sink(b, front, func(in net.Conn) { relay(in, mid.Addr().String(), cliCfg) })
	return benchPath{"tcp-chain", func(b *testing.B) net.Conn {
		c, err := net.Dial("tcp", front.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		return c
	}}
}

// tunnelerPaths start a network with one router, a plain TCP server answering with handle, two
// services hosted on it by a host tunneler (one with end-to-end encryption, one without) and a
// proxy tunneler listening on 127.0.0.1 for each. The paths dial the proxy.
func tunnelerPaths(b *testing.B, handle func(net.Conn)) (plain, e2ee benchPath) {
	n := harness.Start(b)
	n.OpenPolicies()
	n.Router("router-1")
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sink(b, target, handle)
	addr := target.Addr().(*net.TCPAddr)
	services := []struct {
		name      string
		encrypted bool
	}{{"bench-tunnel", false}, {"bench-tunnel-e2ee", true}}
	var mappings []tunnel.Mapping
	var hostRoles, dialRoles []string
	for _, s := range services {
		id := n.Service(s.name, s.encrypted)
		hcfg := n.Create("/configs", map[string]any{"name": s.name + "-host", "configTypeId": "host.v1",
			"data": map[string]any{"protocol": "tcp", "address": addr.IP.String(), "port": addr.Port}})
		n.Mgmt("PATCH", "/services/"+id, map[string]any{"configs": []string{hcfg}}, nil)
		mappings = append(mappings, tunnel.Mapping{Service: s.name, Listen: "127.0.0.1:0"})
		hostRoles = append(hostRoles, s.name+"-bind")
		dialRoles = append(dialRoles, s.name+"-dial")
	}
	runTunneler(b, tunnelContext(b, n, n.Identity("bench-host-tunneler", hostRoles...)), n, "host")
	client := n.Context(n.Identity("bench-proxy-tunneler", dialRoles...))
	p, err := tunnel.StartProxy(client, mappings, n.Log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	addrs := p.Addrs()
	for i, s := range services {
		// Once the host tunneler has bound the service, one byte and a half-close get an
		// answer (the echo, or the sink's acknowledgement); before, the proxy hangs up.
		waitUntil(b, s.name+" through the tunnelers", 30*time.Second, func() bool {
			c, err := net.DialTimeout("tcp", addrs[i].String(), 5*time.Second)
			if err != nil {
				return false
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte{1}); err != nil {
				return false
			}
			closeWrite(c)
			got, _ := io.ReadAll(c)
			return len(got) > 0
		})
	}
	path := func(name string, addr net.Addr) benchPath {
		return benchPath{name, func(b *testing.B) net.Conn {
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				b.Fatal(err)
			}
			return c
		}}
	}
	return path("tunnel", addrs[0]), path("tunnel-e2ee", addrs[1])
}

// BenchmarkTunnelThroughput sends benchBulk bytes one way through each path per iteration, in a
// different order each time, and reports the tunneler's throughput over the chain's.
func BenchmarkTunnelThroughput(b *testing.B) {
	plain, e2ee := tunnelerPaths(b, discardThenAck)
	paths := []benchPath{tcpChainPath(b, discardThenAck), plain, e2ee}
	total := map[string]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range paths {
			p := paths[(i+j)%len(paths)]
			total[p.name] += bulk(b, p)
		}
	}
	b.StopTimer()
	mbps := func(name string) float64 { return float64(benchBulk) * float64(b.N) / total[name].Seconds() / 1e6 }
	for _, p := range paths {
		b.ReportMetric(mbps(p.name), "MB/s-"+p.name)
	}
	b.ReportMetric(mbps("tunnel")/mbps("tcp-chain"), "ratio-tunnel/tcp-chain")
	b.ReportMetric(mbps("tunnel-e2ee")/mbps("tcp-chain"), "ratio-tunnel-e2ee/tcp-chain")
}

// BenchmarkTunnelRoundTrip64B echoes 64 bytes through each path per iteration, on one
// connection per path, and reports the round trips' p50 and p99 over the chain's.
func BenchmarkTunnelRoundTrip64B(b *testing.B) {
	plain, e2ee := tunnelerPaths(b, echo)
	paths := []benchPath{tcpChainPath(b, echo), plain, e2ee}
	samples := roundTrips(b, paths, nTimes(b))
	reportRoundTrips(b, paths, samples)
	for _, name := range []string{"tunnel", "tunnel-e2ee"} {
		for _, q := range []struct {
			name string
			q    float64
		}{{"p50", 0.5}, {"p99", 0.99}} {
			b.ReportMetric(percentileMicros(samples[name], q.q)/percentileMicros(samples["tcp-chain"], q.q), "ratio-"+q.name+"-"+name+"/tcp-chain")
		}
	}
}
