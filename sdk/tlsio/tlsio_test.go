package tlsio

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// configs returns a server and a client TLS configuration for 127.0.0.1.
func configs(t *testing.T) (*tls.Config, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsio"}, IsCA: true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

// countingConn counts the writes that reach a real TCP connection.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// pair connects a client Conn over real TCP (its writes counted) to a plain crypto/tls server.
func pair(t *testing.T) (*Conn, *countingConn, *tls.Conn) {
	t.Helper()
	srvCfg, cliCfg := configs(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingConn{Conn: raw}
	cliCfg.ServerName = "127.0.0.1"
	client := Client(counted, cliCfg)
	srvRaw := <-accepted
	if srvRaw == nil {
		t.Fatal("accept failed")
	}
	server := tls.Server(srvRaw, srvCfg)
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, counted, server
}

// TestWriteOfManyRecordsIsOneSocketWrite: a 40 KiB write, three TLS records, reaches the
// socket in one write, and the peer, plain crypto/tls, reads exactly what was written. The
// handshake, started by the first Write, still completes (its messages are not held back).
func TestWriteOfManyRecordsIsOneSocketWrite(t *testing.T) {
	client, counted, server := pair(t)
	payload := make([]byte, 40<<10)
	_, _ = rand.Read(payload)
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 2*len(payload))
		_, err := io.ReadFull(server, buf)
		if err != nil {
			got <- nil
			return
		}
		got <- buf
	}()
	if _, err := client.Write(payload); err != nil { // runs the handshake first
		t.Fatal(err)
	}
	before := counted.writes.Load()
	if _, err := client.Write(payload); err != nil {
		t.Fatal(err)
	}
	if n := counted.writes.Load() - before; n != 1 {
		t.Fatalf("a write of three records took %d socket writes, want 1", n)
	}
	b := <-got
	if !bytes.Equal(b, append(payload, payload...)) {
		t.Fatal("the peer read something other than what was written")
	}
}

// TestConcurrentWritesStayWhole: writes from many goroutines at once each arrive whole (a
// record split by another write would fail the peer's decryption), in some order.
func TestConcurrentWritesStayWhole(t *testing.T) {
	client, _, server := pair(t)
	go func() { _ = server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 50
	message := func(w, i int) []byte {
		body := bytes.Repeat([]byte{byte(w)}, 1000+(w*i*131)%40000)
		head := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
		sum := sha256.Sum256(body)
		return append(append(head, sum[:]...), body...)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := client.Write(message(w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for n := range writers * each {
		var head [4 + sha256.Size]byte
		if _, err := io.ReadFull(server, head[:]); err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		body := make([]byte, binary.LittleEndian.Uint32(head[:4]))
		if _, err := io.ReadFull(server, body); err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		if sha256.Sum256(body) != [sha256.Size]byte(head[4:]) {
			t.Fatalf("message %d arrived mixed with another", n)
		}
	}
	wg.Wait()
}

// TestWriteToAClosedPeerFails: once the peer is gone, a write reports it.
func TestWriteToAClosedPeerFails(t *testing.T) {
	client, _, server := pair(t)
	go func() { _ = server.Handshake(); _ = server.Close() }()
	if err := client.HandshakeContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	var err error
	for range 100 {
		if _, err = client.Write(make([]byte, 64<<10)); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err == nil {
		t.Fatal("writes to a closed peer kept succeeding")
	}
	if errors.Is(err, io.EOF) {
		t.Fatalf("a write failed with %v", err)
	}
}

// TestDialHandshakes: Dial returns a connection that completed its handshake with the server
// named by the address.
func TestDialHandshakes(t *testing.T) {
	srvCfg, cliCfg := configs(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = io.Copy(c, c)
			_ = c.Close()
		}
	}()
	c, err := Dial(context.Background(), &net.Dialer{Timeout: 5 * time.Second}, ln.Addr().String(), cliCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.ConnectionState().HandshakeComplete {
		t.Fatal("Dial returned before the handshake")
	}
	if _, ok := c.NetConn().(*net.TCPConn); !ok {
		t.Fatalf("NetConn is %T, want the TCP connection", c.NetConn())
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
}
