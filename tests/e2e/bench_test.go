package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
)

// The benchmarks here measure Ostium's data plane (sdk → router → sdk) next
// to two baselines run in the same process and the same run: raw TCP on
// loopback, and a minimal TLS-terminating relay (client TLS → relay → server
// TLS). They report ratios, which survive noisy machines better than figures.

const benchBulk = 64 << 20

// benchPath is one way to get bytes from a client to a server that echoes
// nothing: dial returns the client side; the server side discards.
type benchPath struct {
	name string
	dial func(b *testing.B) net.Conn
}

func tlsPair(b *testing.B) (server, client *tls.Config) {
	der, key := benchCert(b)
	return tlsConfigs(der, key)
}

// benchCert makes a self-signed certificate for 127.0.0.1, its own CA.
func benchCert(b *testing.B) ([]byte, *ecdsa.PrivateKey) {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"}, IsCA: true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	return der, key
}

// tlsConfigs returns a server configuration presenting the certificate and a client one
// trusting it.
func tlsConfigs(der []byte, key *ecdsa.PrivateKey) (server, client *tls.Config) {
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// sink accepts connections and answers each with what its handler writes.
func sink(b *testing.B, ln net.Listener, handle func(net.Conn)) {
	b.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
}

// discardThenAck reads until EOF and answers one byte, so the writer knows
// every byte arrived.
func discardThenAck(c net.Conn) {
	_, _ = io.Copy(io.Discard, c)
	_, _ = c.Write([]byte{1})
}

func echo(c net.Conn) { _, _ = io.Copy(c, c) }

func rawTCPPath(b *testing.B, handle func(net.Conn)) benchPath {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sink(b, ln, handle)
	return benchPath{"tcp", func(b *testing.B) net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		return c
	}}
}

// tlsRelayPath: client --TLS--> relay --TLS--> server.
func tlsRelayPath(b *testing.B, handle func(net.Conn)) benchPath {
	srvCfg, cliCfg := tlsPair(b)
	backend, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		b.Fatal(err)
	}
	sink(b, backend, handle)
	front, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		b.Fatal(err)
	}
	sink(b, front, func(in net.Conn) {
		out, err := tls.Dial("tcp", backend.Addr().String(), cliCfg)
		if err != nil {
			return
		}
		defer out.Close()
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(out, in)
			_ = out.CloseWrite()
			close(done)
		}()
		_, _ = io.Copy(in, out)
		<-done
	})
	return benchPath{"tls-relay", func(b *testing.B) net.Conn {
		c, err := tls.Dial("tcp", front.Addr().String(), cliCfg)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}}
}

func ostiumPath(b *testing.B, service string, encrypted bool, handle func(net.Conn)) (benchPath, *echoNetwork) {
	e := newEchoNetworkB(b, service, encrypted)
	ln, err := e.host.ListenWithOptions(service, &sdk.ListenOptions{MaxConnections: 2048})
	if err != nil {
		b.Fatal(err)
	}
	sink(b, ln, handle)
	name := "ostium"
	if encrypted {
		name = "ostium-e2ee"
	}
	return benchPath{name, func(b *testing.B) net.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c, err := e.client.Dial(ctx, service)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}}, e
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// bulk sends benchBulk bytes and waits for the acknowledgement.
func bulk(b *testing.B, p benchPath) time.Duration {
	c := p.dial(b)
	defer c.Close()
	buf := make([]byte, 32<<10)
	start := time.Now()
	for sent := 0; sent < benchBulk; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			b.Fatalf("%s: %v", p.name, err)
		}
	}
	closeWrite(c)
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		b.Fatalf("%s: no ack: %v", p.name, err)
	}
	return time.Since(start)
}

func BenchmarkBulkThroughput(b *testing.B) {
	paths := []benchPath{rawTCPPath(b, discardThenAck), tlsRelayPath(b, discardThenAck)}
	p, _ := ostiumPath(b, "bench-bulk", false, discardThenAck)
	pe, _ := ostiumPath(b, "bench-bulk-e2ee", true, discardThenAck)
	paths = append(paths, p, pe)
	total := map[string]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range paths {
			total[p.name] += bulk(b, p)
		}
	}
	b.StopTimer()
	mbps := func(name string) float64 {
		return float64(benchBulk) * float64(b.N) / total[name].Seconds() / 1e6
	}
	for _, p := range paths {
		b.ReportMetric(mbps(p.name), "MB/s-"+p.name)
	}
	b.ReportMetric(mbps("ostium")/mbps("tls-relay"), "ratio-ostium/tls-relay")
	b.ReportMetric(mbps("ostium-e2ee")/mbps("tls-relay"), "ratio-ostium-e2ee/tls-relay")
	b.ReportMetric(mbps("ostium")/mbps("tcp"), "ratio-ostium/tcp")
}

// BenchmarkRoundTrip64B measures 64-byte echo round trips (p50, p99).
func BenchmarkRoundTrip64B(b *testing.B) {
	p, _ := ostiumPath(b, "bench-rtt", false, echo)
	paths := []benchPath{rawTCPPath(b, echo), tlsRelayPath(b, echo), p}
	samples := roundTrips(b, paths, nTimes(b))
	reportRoundTrips(b, paths, samples)
	b.ReportMetric(percentileMicros(samples["ostium"], 0.5)/percentileMicros(samples["tls-relay"], 0.5), "ratio-p50-ostium/tls-relay")
}

// nTimes allows b.N iterations to roundTrips.
func nTimes(b *testing.B) func() bool {
	i := 0
	return func() bool { i++; return i <= b.N }
}

// roundTrips dials each path once, then, once per iteration more allows, writes 64 bytes on
// every path and reads their echo, starting with another path each time so that none always
// goes first. It returns each path's round trips.
func roundTrips(b *testing.B, paths []benchPath, more func() bool) map[string][]time.Duration {
	conns := make([]net.Conn, len(paths))
	for i, p := range paths {
		conns[i] = p.dial(b)
		defer conns[i].Close()
	}
	samples := map[string][]time.Duration{}
	msg, got := make([]byte, 64), make([]byte, 64)
	b.ResetTimer()
	for i := 0; more(); i++ {
		for j := range paths {
			k := (i + j) % len(paths)
			start := time.Now()
			if _, err := conns[k].Write(msg); err != nil {
				b.Fatalf("%s: %v", paths[k].name, err)
			}
			if _, err := io.ReadFull(conns[k], got); err != nil {
				b.Fatalf("%s: %v", paths[k].name, err)
			}
			samples[paths[k].name] = append(samples[paths[k].name], time.Since(start))
		}
	}
	b.StopTimer()
	return samples
}

// percentileMicros is the q-quantile of samples, in µs.
func percentileMicros(samples []time.Duration, q float64) float64 {
	s := slices.Clone(samples)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))].Nanoseconds()) / 1000
}

// reportRoundTrips reports each path's p50 and p99 round trip in µs.
func reportRoundTrips(b *testing.B, paths []benchPath, samples map[string][]time.Duration) {
	for _, p := range paths {
		b.ReportMetric(percentileMicros(samples[p.name], 0.5), "p50-µs-"+p.name)
		b.ReportMetric(percentileMicros(samples[p.name], 0.99), "p99-µs-"+p.name)
	}
}

// BenchmarkDialToFirstByte measures a Dial to the first echoed byte, with a
// session already cached and from cold (a new Context: authenticate, list
// services, create a session, connect to the router).
func BenchmarkDialToFirstByte(b *testing.B) {
	e := newEchoNetworkB(b, "bench-dial", false)
	ln, err := e.host.Listen("bench-dial")
	if err != nil {
		b.Fatal(err)
	}
	sink(b, ln, echo)
	clientID := e.clientIdentity
	var cached, cold time.Duration
	first := func(c net.Conn) {
		if _, err := c.Write([]byte{7}); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			b.Fatal(err)
		}
		_ = c.Close()
	}
	warm, _ := e.client.Dial(context.Background(), "bench-dial")
	first(warm)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c, err := e.client.Dial(context.Background(), "bench-dial")
		if err != nil {
			b.Fatal(err)
		}
		first(c)
		cached += time.Since(start)

		start = time.Now()
		ctx := e.n.Context(clientID)
		c, err = ctx.Dial(context.Background(), "bench-dial")
		if err != nil {
			b.Fatal(err)
		}
		first(c)
		cold += time.Since(start)
		_ = ctx.Close()
	}
	b.ReportMetric(float64(cached.Microseconds())/float64(b.N), "µs-cached")
	b.ReportMetric(float64(cold.Microseconds())/float64(b.N), "µs-cold")
}

// BenchmarkConcurrentConnections opens 1,000 connections through one router,
// moves data on all of them at once, and reports throughput and the heap
// the process grew by per connection (router and both sdk ends included).
func BenchmarkConcurrentConnections(b *testing.B) {
	const conns = 1000
	const perConn = 256 << 10
	p, _ := ostiumPath(b, "bench-many", false, discardThenAck)
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cs := make([]net.Conn, conns)
		for j := range cs {
			cs[j] = p.dial(b)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/conns/1024, "KiB-heap/conn")
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
				_ = c.Close()
			}(c)
		}
		wg.Wait()
		b.ReportMetric(float64(conns*perConn)/time.Since(start).Seconds()/1e6, "MB/s-aggregate")
	}
}
