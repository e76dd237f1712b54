package tests

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/tests/harness"
)

// TestJoinWithATokenAndLead makes a join token on a running controller, and
// prepares a second controller from nothing but that token: it must get
// its own server certificate for its own addresses (no copy of the first
// one's files, no root key), join, receive the state, refuse to let the
// token be used again, and, once it leads, sign enrollments with the
// network's CA.
func TestJoinWithATokenAndLead(t *testing.T) {
	n := harness.Start(t)
	n.Service("before-join", false)
	var tok struct {
		Token string `json:"token"`
	}
	n.Mgmt("POST", "/cluster/join-tokens", map[string]any{"expiresInSeconds": 600}, &tok)
	if !strings.HasPrefix(tok.Token, "ostium-join-v1.") {
		t.Fatalf("token %q", tok.Token)
	}

	cfg := controller.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.API.Listen, cfg.Cluster.Listen, cfg.Routers.Listen = freeAddr(t), freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := controller.InitJoin(ctx, cfg, tok.Token, harness.Logger()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.PKIDir(), pki.RootKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the joining controller holds a root key: %v", err)
	}
	leaf := firstCert(t, filepath.Join(cfg.PKIDir(), pki.ServerCertFile))
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatalf("its server certificate does not cover its address: %v", err)
	}
	if leaf.Equal(firstCert(t, n.Config.PKIConfigFiles().ServerCert)) {
		t.Fatal("the joining controller has the first one's server certificate")
	}
	if err := controller.Init(ctx, cfg, controller.InitOptions{AdminPassword: "another-admin"}, harness.Logger()); err == nil {
		t.Fatal("init without --join bootstrapped a controller prepared to join")
	}

	// The token works once.
	status, raw := n.MgmtRaw("POST", "/cluster/join", map[string]any{"token": tok.Token})
	if status != 401 || !strings.Contains(string(raw), "INVALID_AUTH") {
		t.Fatalf("a used token: %d %s", status, raw)
	}
	for _, bad := range []map[string]any{{"token": "ostium-join-v1.e30"}, {"token": 5}, {}} {
		if status, raw := n.MgmtRaw("POST", "/cluster/join", bad); status != 400 {
			t.Fatalf("join with %v: %d %s", bad, status, raw)
		}
	}

	joined, err := controller.Start(ctx, cfg, harness.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = joined.Close() })
	members, err := n.Ctl.Node().Members()
	if err != nil || len(members) != 2 {
		t.Fatalf("members %v %v", members, err)
	}
	n.Mgmt("POST", "/cluster/transfer-leadership", map[string]any{"id": joined.Node().ID()}, nil)
	waitFor(t, 20*time.Second, "the joined controller to lead", joined.Node().IsLeader)
	// The state arrived, and the new leader signs what the old one would.
	var services []struct {
		Name string `json:"name"`
	}
	n.Mgmt("GET", `/services?filter=name="before-join"`, nil, &services)
	if len(services) != 1 {
		t.Fatalf("services %v", services)
	}
	id := n.Identity("enrolled-by-the-joined")
	if _, err := id.Chain[0].Verify(x509.VerifyOptions{Roots: n.Ctl.CAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("a certificate signed under the joined leader does not chain to the network CA: %v", err)
	}
}

func firstCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("no certificate in %s", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
