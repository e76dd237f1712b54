package e2e

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
	"math/big"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ostium-net/ostium/sdk"
	"github.com/ostium-net/ostium/sdk/enroll"
	"github.com/ostium-net/ostium/tests/harness"
)

func enrollmentJWT(t *testing.T, n *harness.Network, name string, enrollment map[string]any, method string) string {
	t.Helper()
	id := n.Create("/identities", map[string]any{"name": name, "type": "User", "isAdmin": false, "enrollment": enrollment})
	var detail struct {
		Enrollment map[string]struct {
			JWT string `json:"jwt"`
		} `json:"enrollment"`
	}
	n.Mgmt("GET", "/identities/"+id, nil, &detail)
	jwt := detail.Enrollment[method].JWT
	if jwt == "" {
		t.Fatalf("no %s JWT for %s", method, name)
	}
	return jwt
}

func TestSDKEnrollsWithUpdb(t *testing.T) {
	n := harness.Start(t)
	jwt := enrollmentJWT(t, n, "updb-user", map[string]any{"updb": "updb-user"}, "updb")
	res, err := enroll.Enroll(context.Background(), jwt, enroll.Options{Username: "updb-user", Password: "a good password"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Identity != nil || res.Claims.Method != "updb" {
		t.Fatalf("updb result: %+v", res)
	}
	body, _ := json.Marshal(map[string]string{"username": "updb-user", "password": "a good password"})
	resp, err := http.Post(n.URL()+"/edge/client/v1/authenticate?method=password", "application/json", bytes.NewReader(body))
	if err == nil {
		resp.Body.Close()
		t.Fatal("expected the plain client to refuse the controller's certificate")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: n.Ctl.CAPool()}}}
	resp, err = hc.Post(n.URL()+"/edge/client/v1/authenticate?method=password", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("password login after updb enrollment: %d", resp.StatusCode)
	}
	if _, err := enroll.Enroll(context.Background(), jwt, enroll.Options{Password: "again"}); err == nil {
		t.Fatal("the updb token worked twice")
	}
}

func TestSDKEnrollsWithOttca(t *testing.T) {
	n := harness.Start(t)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Partner CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(cn string) (tls.Certificate, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	caID := n.Create("/cas", map[string]any{"name": "partner", "certPem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		"isAutoCaEnrollmentEnabled": false, "isOttCaEnrollmentEnabled": true, "isAuthEnabled": true, "identityRoles": []string{}})
	var ca struct {
		VerificationToken string `json:"verificationToken"`
	}
	n.Mgmt("GET", "/cas/"+caID, nil, &ca)
	_, proof := issue(ca.VerificationToken)
	if status, raw := n.MgmtRawWithType("POST", "/cas/"+caID+"/verify", "text/plain", proof); status != 200 {
		t.Fatalf("verify CA: %d %s", status, raw)
	}
	n.OpenPolicies()
	n.Service("partner-echo", true)
	r := n.Router("router-1")
	jwt := enrollmentJWT(t, n, "partner-device", map[string]any{"ottca": caID}, "ottca")
	cert, _ := issue("device-7")
	res, err := enroll.Enroll(context.Background(), jwt, enroll.Options{Certificate: &cert})
	if err != nil {
		t.Fatal(err)
	}
	var found []struct {
		ID string `json:"id"`
	}
	n.Mgmt("GET", "/identities?filter="+url.QueryEscape(`name="partner-device"`), nil, &found)
	if len(found) != 1 {
		t.Fatalf("identity partner-device: %+v", found)
	}
	n.Mgmt("PATCH", "/identities/"+found[0].ID, map[string]any{"roleAttributes": []string{"partner-echo-dial"}}, nil)

	// The enrolled third-party certificate authenticates with the sdk, and dials a service
	// through the router: the router trusts the verified CA the controller pushed.
	c, err := sdk.New(res.Identity, sdk.Options{DisableRenewal: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(context.Background()); err != nil {
		t.Fatalf("authenticate with the ottca identity: %v", err)
	}
	host := n.Context(n.Identity("partner-host", "partner-echo-bind"))
	ln, err := host.Listen("partner-echo")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveEcho(ln)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, "partner-echo")
	if err != nil {
		t.Fatalf("dial through %s with the ottca identity: %v", r.Name, err)
	}
	defer conn.Close()
	if err := echoOnce(conn, "hello from a partner device"); err != nil {
		t.Fatal(err)
	}

	// Deleting the CA ends the trust at once: the live connection is cut and the router
	// refuses the certificate from then on.
	if status, raw := n.MgmtRaw("DELETE", "/cas/"+caID, nil); status != 200 {
		t.Fatalf("delete CA: %d %s", status, raw)
	}
	waitUntil(t, "the partner's connection to be cut", 10*time.Second, func() bool { return echoOnce(conn, "still there?") != nil })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if again, err := c.Dial(ctx2, "partner-echo"); err == nil {
		again.Close()
		t.Fatal("a client of a deleted CA dialed again")
	}
}
