package loadgen

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"
)

// Relay is the baseline the data plane is measured against: a TLS relay
// chain on loopback doing the work a router does at its simplest. A client
// speaks TLS to the relay, which opens a TLS connection to an echo server
// for each client connection and copies both ways. Measured in the same run
// as an Ostium path, it turns figures that depend on the machine into
// ratios that do not.
type Relay struct {
	front, back net.Listener
	dialCfg     *tls.Config
	wg          sync.WaitGroup
}

// StartRelay starts the echo server and the relay in front of it on
// 127.0.0.1, with a certificate made for the run.
func StartRelay() (*Relay, error) {
	srvCfg, cliCfg, err := ephemeralTLS()
	if err != nil {
		return nil, err
	}
	back, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		return nil, fmt.Errorf("relay: echo server: %w", err)
	}
	front, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		_ = back.Close()
		return nil, fmt.Errorf("relay: front: %w", err)
	}
	r := &Relay{front: front, back: back, dialCfg: cliCfg}
	r.wg.Add(2)
	go func() { defer r.wg.Done(); ServeEcho(back) }()
	go func() { defer r.wg.Done(); r.serve() }()
	return r, nil
}

func (r *Relay) serve() {
	for {
		in, err := r.front.Accept()
		if err != nil {
			return
		}
		go r.relay(in)
	}
}

func (r *Relay) relay(in net.Conn) {
	relayTo(in, func() (net.Conn, error) { return tls.Dial("tcp", r.back.Addr().String(), r.dialCfg) })
}

// Target dials the relay.
func (r *Relay) Target() Target {
	return Target{Name: "tls-relay", Dial: func(ctx context.Context) (net.Conn, error) {
		d := tls.Dialer{Config: r.dialCfg}
		return d.DialContext(ctx, "tcp", r.front.Addr().String())
	}}
}

// Close stops accepting; connections in progress end with their clients.
func (r *Relay) Close() error {
	err := errors.Join(r.front.Close(), r.back.Close())
	r.wg.Wait()
	return err
}

// ephemeralTLS makes a self-signed P-256 certificate for 127.0.0.1 and the
// server and client configurations that use and trust it.
func ephemeralTLS() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("relay key: %w", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "loadgen relay"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("relay certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("relay certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, nil
}
