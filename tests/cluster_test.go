package tests

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/tests/harness"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestControllersJoinForwardWritesAndSignOnLeader starts a second controller
// with --cluster-join semantics and uses its API: management writes reach
// the leader, and an enrollment sent to the follower is signed by the leader
// and recorded for both.
func TestControllersJoinForwardWritesAndSignOnLeader(t *testing.T) {
	n := harness.Start(t)
	cfg2 := controller.DefaultConfig()
	cfg2.DataDir = t.TempDir()
	cfg2.API.Listen, cfg2.Cluster.Listen, cfg2.Routers.Listen = freeAddr(t), freeAddr(t), freeAddr(t)
	cfg2.Cluster.Join = n.Ctl.ClusterAddr()
	// A joining controller holds a copy of the network's PKI.
	copyDir(t, n.Config.PKIDir(), cfg2.PKIDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	follower, err := controller.Start(ctx, cfg2, harness.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	if follower.Node().IsLeader() {
		t.Fatal("the joining node became leader")
	}

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: follower.CAPool()}}}
	defer hc.CloseIdleConnections()
	call := func(method, url, token string, body any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, url, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("zt-session", token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		env := map[string]any{}
		_ = json.Unmarshal(raw, &env)
		return resp.StatusCode, env
	}
	base := "https://" + follower.Addr()
	status, env := call("POST", base+"/edge/management/v1/authenticate?method=password", "", map[string]string{"username": "admin", "password": harness.AdminPassword})
	if status != 200 {
		t.Fatalf("admin login on the follower: %d %v", status, env)
	}
	token := env["data"].(map[string]any)["token"].(string)
	status, env = call("POST", base+"/edge/management/v1/identities", token, map[string]any{"name": "via-follower", "type": "Device", "isAdmin": false, "enrollment": map[string]any{"ott": true}})
	if status != 201 {
		t.Fatalf("create through the follower: %d %v", status, env)
	}
	id := env["data"].(map[string]any)["id"].(string)
	var detail struct {
		Enrollment struct {
			Ott struct {
				Token string `json:"token"`
			} `json:"ott"`
		} `json:"enrollment"`
	}
	n.Mgmt("GET", "/identities/"+id, nil, &detail) // visible on the leader
	if detail.Enrollment.Ott.Token == "" {
		t.Fatal("no enrollment token")
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	req, _ := http.NewRequest("POST", base+"/edge/client/v1/enroll?method=ott&token="+detail.Enrollment.Ott.Token, bytes.NewReader(csr))
	req.Header.Set("Content-Type", "application/x-pem-file")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("enroll through the follower: %d %s", resp.StatusCode, raw)
	}
	var out struct {
		Data struct {
			Cert string `json:"cert"`
		} `json:"data"`
	}
	_ = json.Unmarshal(raw, &out)
	block, _ := pem.Decode([]byte(out.Data.Cert))
	if block == nil {
		t.Fatalf("no certificate in %s", raw)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || cert.Subject.CommonName != id {
		t.Fatalf("issued certificate: %v %v", err, cert)
	}
	// The leader knows the new certificate authenticator.
	var ident struct {
		Authenticators struct {
			Cert *struct {
				Fingerprint string `json:"fingerprint"`
			} `json:"cert"`
		} `json:"authenticators"`
	}
	n.Mgmt("GET", "/identities/"+id, nil, &ident)
	if ident.Authenticators.Cert == nil {
		t.Fatal("the leader does not know the enrolled certificate")
	}
}
