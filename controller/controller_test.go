package controller

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testConfig is a configuration in a temporary directory with free ports.
func testConfig(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Cluster.Listen = "127.0.0.1:0"
	cfg.Routers.Listen = "127.0.0.1:0"
	return cfg
}

func initController(t *testing.T, cfg Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Init(ctx, cfg, InitOptions{AdminPassword: "a password"}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("init: %v", err)
	}
}

func serverCert(t *testing.T, cfg Config) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(cfg.PKIConfigFiles().ServerCert)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatal("server certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestServerCertificateNames checks that the certificate init makes answers
// to localhost and the loopback addresses as well as every name the
// configuration gives the controller.
func TestServerCertificateNames(t *testing.T) {
	cfg := testConfig(t)
	cfg.API.Advertise = "ctrl.example.com:1280"
	cfg.Routers.Advertise = "routers.example.com:6262"
	cfg.PKI.DNSNames = []string{"ctrl.internal"}
	cfg.PKI.IPAddresses = []string{"192.0.2.10"}
	initController(t, cfg)
	cert := serverCert(t, cfg)
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "ctrl.example.com", "routers.example.com", "ctrl.internal", "192.0.2.10"} {
		if err := cert.VerifyHostname(name); err != nil {
			t.Errorf("server certificate does not cover %s: %v (DNS %v, IP %v)", name, err, cert.DNSNames, cert.IPAddresses)
		}
	}
	if cert.Subject.CommonName != "ctrl.internal" {
		t.Errorf("common name %q, want the first configured name", cert.Subject.CommonName)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "ctrl.db")); err != nil {
		t.Errorf("init made no database: %v", err)
	}
}

// TestInitNeedsNoClusterPort: init prepares a network while its cluster
// port is taken, and the controller it made starts on that port once free,
// as the single voter it was bootstrapped as.
func TestInitNeedsNoClusterPort(t *testing.T) {
	// The cluster port is free only once init is done, and another test
	// running meanwhile may take it in the moment before Start binds it:
	// then the test starts over on another port.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ctl *Controller
	var cfg Config
	for attempt := 1; ctl == nil; attempt++ {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg = testConfig(t)
		cfg.Cluster.Listen = busy.Addr().String()
		initController(t, cfg)
		if err := busy.Close(); err != nil {
			t.Fatal(err)
		}
		ctl, err = Start(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil && attempt < 3 && strings.Contains(err.Error(), "address already in use") {
			t.Logf("the freed cluster port was taken before Start bound it (%v); again on another", err)
			continue
		}
		if err != nil {
			t.Fatalf("start after init: %v", err)
		}
	}
	defer ctl.Close()
	if got := ctl.r.node.Addr(); got != cfg.Cluster.Listen {
		t.Errorf("cluster address %s, want %s", got, cfg.Cluster.Listen)
	}
	if !ctl.r.node.IsLeader() {
		t.Error("the initialised node does not lead its cluster")
	}
}
