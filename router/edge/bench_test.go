package edge

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk/wire"
)

// BenchmarkThroughput moves bulk data through one circuit of the router and, in the same run
// and on the same machine, through a plain TCP connection and through a minimal TLS relay
// (client TLS → relay → server TLS), the least a TLS-terminating proxy has to do. It reports
// the MB/s of each and the router's ratios to the other two.
func BenchmarkThroughput(b *testing.B) {
	const (
		perIteration = 8 << 20
		chunk        = 32 << 10
	)
	payload := make([]byte, perIteration)
	for i := range payload {
		payload[i] = byte(i * 7)
	}

	env := startRouter(b, nil)
	hostID, dialerID := env.newIdentity("host"), env.newIdentity("dialer")
	bindToken, _ := env.session(hostID, "svc", SessionTypeBind, nil)
	dialToken, _ := env.session(dialerID, "svc", SessionTypeDial, nil)
	host, dialer := connect(b, env, hostID), connect(b, env, dialerID)
	listener := host.bind(bindToken, wire.BindOptions{})
	p := establish(b, dialer, host, dialToken, listener, nil)
	throughRouter := func() {
		received := make(chan struct{})
		go func() {
			defer close(received)
			inbox := host.inbox(p.hostConnID)
			for n := 0; n < perIteration; {
				m := <-inbox
				n += len(m.Body)
				m.Release()
			}
		}()
		for off := 0; off < perIteration; off += chunk {
			dialer.send(wire.NewData(p.dialerConnID, 0, 0, payload[off:off+chunk]))
		}
		<-received
	}

	tcpSend, tcpReceived := tcpPath(b, perIteration)
	throughTCP := func() {
		if _, err := tcpSend.Write(payload); err != nil {
			b.Fatal(err)
		}
		<-tcpReceived
	}

	relaySend, relayReceived := tlsRelayPath(b, env, perIteration)
	throughRelay := func() {
		if _, err := relaySend.Write(payload); err != nil {
			b.Fatal(err)
		}
		<-relayReceived
	}

	var router, tcp, relay time.Duration
	timed := func(f func()) time.Duration {
		start := time.Now()
		f()
		return time.Since(start)
	}
	b.ResetTimer()
	for b.Loop() {
		router += timed(throughRouter)
		tcp += timed(throughTCP)
		relay += timed(throughRelay)
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 {
		return float64(b.N) * perIteration / (1 << 20) / d.Seconds()
	}
	b.ReportMetric(mbps(router), "router-MB/s")
	b.ReportMetric(mbps(tcp), "tcp-MB/s")
	b.ReportMetric(mbps(relay), "tlsrelay-MB/s")
	b.ReportMetric(mbps(router)/mbps(tcp), "router/tcp")
	b.ReportMetric(mbps(router)/mbps(relay), "router/tlsrelay")
}

// countingReceiver reads conn forever and signals each time another n bytes arrived.
func countingReceiver(conn net.Conn, n int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 64<<10)
		got := 0
		for {
			k, err := conn.Read(buf)
			got += k
			for got >= n {
				got -= n
				done <- struct{}{}
			}
			if err != nil {
				return
			}
		}
	}()
	return done
}

func listenLocal(b *testing.B) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	return ln
}

func acceptOne(b *testing.B, ln net.Listener) <-chan net.Conn {
	out := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(out)
			return
		}
		b.Cleanup(func() { c.Close() })
		if tc, ok := c.(*tls.Conn); ok {
			if err := tc.Handshake(); err != nil {
				close(out)
				return
			}
		}
		out <- c
	}()
	return out
}

// tcpPath is a plain TCP connection: the sending end and the signal of n bytes received.
func tcpPath(b *testing.B, n int) (net.Conn, <-chan struct{}) {
	ln := listenLocal(b)
	accepted := acceptOne(b, ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c, countingReceiver(<-accepted, n)
}

// tlsRelayPath is client TLS → relay → server TLS, the relay copying plaintext between its
// two TLS connections.
func tlsRelayPath(b *testing.B, env *testEnv, n int) (net.Conn, <-chan struct{}) {
	serverCert := env.ca.issue(b, "server", true)
	serverConf := &tls.Config{Certificates: []tls.Certificate{serverCert}}
	clientConf := &tls.Config{RootCAs: env.ca.pool, ServerName: "127.0.0.1"}

	serverLn := listenLocal(b)
	serverAccepted := acceptOne(b, tls.NewListener(serverLn, serverConf))
	relayLn := listenLocal(b)
	relayAccepted := acceptOne(b, tls.NewListener(relayLn, serverConf))

	client, err := tls.Dial("tcp", relayLn.Addr().String(), clientConf)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	relayIn := <-relayAccepted
	relayOut, err := tls.Dial("tcp", serverLn.Addr().String(), clientConf)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { relayOut.Close() })
	go func() { _, _ = io.Copy(relayOut, relayIn) }()
	go func() { _, _ = io.Copy(relayIn, relayOut) }()
	return client, countingReceiver(<-serverAccepted, n)
}
