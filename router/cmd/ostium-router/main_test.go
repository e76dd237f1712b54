package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ostium-net/ostium/router"
	"github.com/ostium-net/ostium/sdk/enroll"
)

// testCA signs the CSRs of the fake enrollment endpoint.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
	next atomic.Int64
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "network CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
	ca.next.Store(1)
	return ca
}

// sign issues a certificate for a CSR with the given common name and usage.
func (ca *testCA) sign(t *testing.T, csr *x509.CertificateRequest, cn string, usage x509.ExtKeyUsage) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.next.Add(1)), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: csr.DNSNames, IPAddresses: csr.IPAddresses}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		t.Error(err)
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// fakeController serves POST /edge/client/v1/enroll/erott for one token.
func fakeController(t *testing.T, ca *testCA, routerID, token string, serverCSR *atomic.Pointer[x509.CertificateRequest]) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method != http.MethodPost || r.URL.Path != "/edge/client/v1/enroll/erott" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"NOT_FOUND","message":"no such route"}}`))
			return
		}
		var req struct {
			Token         string `json:"token"`
			CertCsr       string `json:"certCsr"`
			ServerCertCsr string `json:"serverCertCsr"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Token != token {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"code":"INVALID_ENROLLMENT_TOKEN","message":"the enrollment token is not valid"}}`))
			return
		}
		parse := func(p string) *x509.CertificateRequest {
			block, _ := pem.Decode([]byte(p))
			if block == nil || block.Type != "CERTIFICATE REQUEST" {
				t.Errorf("not a PEM CSR: %q", p)
				return nil
			}
			csr, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil || csr.CheckSignature() != nil {
				t.Errorf("bad CSR: %v", err)
				return nil
			}
			return csr
		}
		client, server := parse(req.CertCsr), parse(req.ServerCertCsr)
		if client == nil || server == nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		serverCSR.Store(server)
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]string{
			"cert":       ca.sign(t, client, routerID, x509.ExtKeyUsageClientAuth),
			"serverCert": ca.sign(t, server, routerID, x509.ExtKeyUsageServerAuth),
			"ca":         ca.pem,
		}, "meta": map[string]any{}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testConfig(t *testing.T, dir, extra string) router.Config {
	t.Helper()
	path := filepath.Join(dir, "router.yml")
	yml := "identity:\n  cert: id/client.cert\n  key: id/client.key\n  serverCert: id/server.cert\n  serverKey: id/server.key\n  ca: id/ca.pem\n" + extra
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := router.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestEnrollWritesTheIdentity(t *testing.T) {
	ca := newTestCA(t)
	var serverCSR atomic.Pointer[x509.CertificateRequest]
	srv := fakeController(t, ca, "router-42", "one-time", &serverCSR)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	cfg := testConfig(t, t.TempDir(), "edge:\n  listen: 0.0.0.0:3022\n  advertise: edge.example.com:3022\n")

	claims := &enroll.Claims{Issuer: srv.URL, Token: "one-time", Method: methodERott, Subject: "router-42"}
	id, err := enrollRouter(context.Background(), cfg, claims, pool, nil)
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if id != "router-42" {
		t.Errorf("router id = %q", id)
	}
	if csr := serverCSR.Load(); csr == nil || len(csr.DNSNames) != 1 || csr.DNSNames[0] != "edge.example.com" || len(csr.IPAddresses) != 0 {
		t.Errorf("server CSR names %v / %v, want the DNS name edge.example.com", csr.DNSNames, csr.IPAddresses)
	}
	for path, want := range map[string]os.FileMode{
		cfg.Identity.Key: 0o600, cfg.Identity.ServerKey: 0o600,
		cfg.Identity.Cert: 0o644, cfg.Identity.ServerCert: 0o644, cfg.Identity.CA: 0o644,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatalf("identity file: %v", err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
	loaded, err := router.LoadIdentity(cfg.Identity)
	if err != nil {
		t.Fatalf("the written identity does not load: %v", err)
	}
	if loaded.RouterID != "router-42" {
		t.Errorf("loaded router id = %q", loaded.RouterID)
	}
	if _, err := loaded.Client.Leaf.Verify(x509.VerifyOptions{Roots: loaded.CAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the client certificate does not chain to the written CA: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(cfg.Identity.Key))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestEnrollWithAnIPAdvertiseAndARefusal(t *testing.T) {
	ca := newTestCA(t)
	var serverCSR atomic.Pointer[x509.CertificateRequest]
	srv := fakeController(t, ca, "router-7", "good", &serverCSR)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	cfg := testConfig(t, t.TempDir(), "edge:\n  listen: 192.0.2.10:3022\n")

	_, err := enrollRouter(context.Background(), cfg, &enroll.Claims{Issuer: srv.URL, Token: "spent", Method: methodERott}, pool, nil)
	if err == nil || !strings.Contains(err.Error(), "INVALID_ENROLLMENT_TOKEN") {
		t.Fatalf("enroll with a bad token = %v, want the controller's error code", err)
	}
	if _, err := os.Stat(cfg.Identity.Key); !os.IsNotExist(err) {
		t.Errorf("a failed enrollment wrote the key (stat: %v)", err)
	}

	if _, err := enrollRouter(context.Background(), cfg, &enroll.Claims{Issuer: srv.URL, Token: "good", Method: methodERott}, pool, nil); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if csr := serverCSR.Load(); len(csr.IPAddresses) != 1 || !csr.IPAddresses[0].Equal(net.ParseIP("192.0.2.10")) || len(csr.DNSNames) != 0 {
		t.Errorf("server CSR names %v / %v, want the IP 192.0.2.10", csr.DNSNames, csr.IPAddresses)
	}
}

func TestEnrollRefusesAnUntrustedController(t *testing.T) {
	ca := newTestCA(t)
	var serverCSR atomic.Pointer[x509.CertificateRequest]
	srv := fakeController(t, ca, "router-1", "tok", &serverCSR)
	cfg := testConfig(t, t.TempDir(), "")
	other := x509.NewCertPool()
	other.AddCert(ca.cert)
	if _, err := enrollRouter(context.Background(), cfg, &enroll.Claims{Issuer: srv.URL, Token: "tok", Method: methodERott}, other, nil); err == nil {
		t.Fatal("enrolled with a controller whose certificate the pool does not trust")
	}
	if serverCSR.Load() != nil {
		t.Error("the CSRs reached an untrusted controller")
	}
}

func TestRunServesTheEdgeAndStopsOnCancel(t *testing.T) {
	ca := newTestCA(t)
	var serverCSR atomic.Pointer[x509.CertificateRequest]
	srv := fakeController(t, ca, "router-9", "tok", &serverCSR)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	cfg := testConfig(t, t.TempDir(), "")
	if _, err := enrollRouter(context.Background(), cfg, &enroll.Claims{Issuer: srv.URL, Token: "tok", Method: methodERott}, pool, nil); err != nil {
		t.Fatal(err)
	}

	// A free port for the edge listener; the controller is unreachable, which must not stop
	// the data plane from serving.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Edge.Listen = probe.Addr().String()
	_ = probe.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Controller.Endpoint = "tls:" + dead.Addr().String()
	_ = dead.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg.Log.Level = "error"
	go func() { done <- router.Run(ctx, cfg) }()

	// An edge client with a certificate of the network completes the TLS handshake.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrPEM, err := newCSR(key, "client", "")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(csrPEM))
	csr, _ := x509.ParseCertificateRequest(block.Bytes)
	certPEM := ca.sign(t, csr, "client", x509.ExtKeyUsageClientAuth)
	keyBytes, _ := keyPEM(key)
	clientCert, err := tls.X509KeyPair([]byte(certPEM), keyBytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := tls.Dial("tcp", cfg.Edge.Listen, &tls.Config{Certificates: []tls.Certificate{clientCert}, RootCAs: roots, ServerName: "127.0.0.1"})
		if err == nil {
			err = conn.Handshake()
			_ = conn.Close()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge listener never completed a handshake: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}
