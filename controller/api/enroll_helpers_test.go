package api_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fullsailor/pkcs7"

	"github.com/ostium-net/ostium/controller"
	"github.com/ostium-net/ostium/controller/enroll"
	"github.com/ostium-net/ostium/controller/pki"
)

const clientPrefix = "/edge/client/v1"

// newAdvertisedController starts a test controller whose advertised address
// is the one it listens on, so that the iss of its JWTs can be dialled.
func newAdvertisedController(t *testing.T) *testCtl {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg := controller.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.API.Listen, cfg.API.Advertise = addr, addr
	cfg.Cluster.Listen = "127.0.0.1:0"
	cfg.Routers.Listen = "127.0.0.1:0" // never the default port another test or a quickstart may hold
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := controller.Init(ctx, cfg, controller.InitOptions{AdminPassword: testAdminPassword}, log); err != nil {
		t.Fatalf("init: %v", err)
	}
	ctl, err := controller.Start(ctx, cfg, log)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = ctl.Close() })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ctl.CAPool(), MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &testCtl{ctl: ctl, cfg: cfg, base: "https://" + ctl.Addr(), client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// clientAPI is an unauthenticated client-API client, presenting cert in the
// TLS handshake when it is not nil.
func (c *testCtl) clientAPI(t testing.TB, cert *tls.Certificate) *apiClient {
	t.Helper()
	cc := *c
	if cert != nil {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.ctl.CAPool(), Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}}
		t.Cleanup(tr.CloseIdleConnections)
		cc.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	return &apiClient{t: t, ctl: &cc, prefix: clientPrefix}
}

// post sends a raw body and decodes the answer as an envelope.
func (a *apiClient) post(path, contentType string, body []byte) (int, map[string]any) {
	a.t.Helper()
	status, _, out := a.raw("POST", path, contentType, body)
	env := decodeEnvelope(a.t, out)
	if status >= 500 {
		a.t.Fatalf("POST %s: server error %d: %s", path, status, out)
	}
	return status, env
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCSR makes a PEM CSR for a new key.
func newCSR(t testing.TB, cn string, dns ...string) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key := newKey(t)
	csr, err := pki.GenerateCSR(key, cn, dns, nil)
	if err != nil {
		t.Fatal(err)
	}
	return key, csr
}

// tamperedCSR is a well-formed CSR whose signature does not verify.
func tamperedCSR(t testing.TB) []byte {
	t.Helper()
	_, csrPEM := newCSR(t, "tampered", "tampered.example")
	block, _ := pem.Decode(csrPEM)
	der := bytes.Clone(block.Bytes)
	der[len(der)-3] ^= 0x55 // inside the signature value
	if _, err := x509.ParseCertificateRequest(der); err != nil {
		t.Fatalf("the tampered CSR must still parse: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// tlsCert pairs a PEM certificate chain with its key for a TLS client.
func tlsCert(t testing.TB, chainPEM []byte, key crypto.Signer) *tls.Certificate {
	t.Helper()
	certs, err := pki.ParseCertificatesPEM(chainPEM)
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, c := range certs {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc
}

// issueClient issues a client certificate of a third-party CA, with its key.
func (ca *thirdPartyCA) issueClient(t testing.TB, cn string) *tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tlsCert(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key)
}

// registerCA registers a third-party CA, verified when verify is set.
func registerCA(t testing.TB, admin *apiClient, name string, verify bool, fields map[string]any) (string, *thirdPartyCA) {
	t.Helper()
	ca := newThirdPartyCA(t, name)
	body := caBody(name, ca.pem)
	for k, v := range fields {
		body[k] = v
	}
	id := admin.create("/cas", body)
	if verify {
		_, env := admin.do("GET", "/cas/"+id, nil)
		token, _ := data(env)["verificationToken"].(string)
		if st, _, out := admin.raw("POST", "/cas/"+id+"/verify", "text/plain", []byte(ca.issue(t, token))); st != 200 {
			t.Fatalf("verify CA: %d %s", st, out)
		}
	}
	return id, ca
}

// identityEnrollment creates an identity with one enrollment and returns its
// id and the enrollment's JWT, as an admin hands it over.
func identityEnrollment(t testing.TB, admin *apiClient, name string, enrollment map[string]any) (string, string) {
	t.Helper()
	id := admin.create("/identities", map[string]any{"name": name, "type": "Device", "isAdmin": false, "enrollment": enrollment})
	_, env := admin.do("GET", "/identities/"+id, nil)
	enr, _ := data(env)["enrollment"].(map[string]any)
	for _, m := range []string{"ott", "ottca", "updb"} {
		if e, ok := enr[m].(map[string]any); ok {
			jwt, _ := e["jwt"].(string)
			if jwt == "" {
				t.Fatalf("identity %s: %s enrollment without jwt: %v", name, m, e)
			}
			if tok, _ := e["token"].(string); tok != jwtToken(t, jwt) {
				t.Fatalf("identity %s: token %q is not the jti of the JWT", name, tok)
			}
			return id, jwt
		}
	}
	t.Fatalf("identity %s has no pending enrollment: %v", name, enr)
	return "", ""
}

// jwtToken reads the one-time token (jti) of an enrollment JWT.
func jwtToken(t testing.TB, jwt string) string {
	t.Helper()
	c, _, err := enroll.Peek(jwt)
	if err != nil {
		t.Fatalf("peek %q: %v", jwt, err)
	}
	return c.TokenID
}

// routerJWT is the enrollment JWT shown on a router's detail.
func routerJWT(t testing.TB, admin *apiClient, routerID string) string {
	t.Helper()
	_, env := admin.do("GET", "/edge-routers/"+routerID, nil)
	jwt, _ := data(env)["enrollmentJwt"].(string)
	if jwt == "" {
		t.Fatalf("router %s has no enrollment JWT: %v", routerID, data(env))
	}
	if tok, _ := data(env)["enrollmentToken"].(string); tok != jwtToken(t, jwt) {
		t.Fatalf("router token %q is not the jti of the JWT", tok)
	}
	return jwt
}

func wantError(t testing.TB, what string, status int, env map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || errorCode(env) != wantCode {
		t.Fatalf("%s: %d %v, want %d %s", what, status, env, wantStatus, wantCode)
	}
}

// clientSideCheck does what an OpenZiti client does with an enrollment JWT
// before trusting it: fetch the certificate served at iss without verifying
// it, verify the JWT with that certificate's key, fetch the CA bundle from
// iss, parse its PKCS#7 and verify the controller's chain with it.
func clientSideCheck(t *testing.T, jwt string) *enroll.Claims {
	t.Helper()
	unverified, hdr, err := enroll.Peek(jwt)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := url.Parse(unverified.Issuer)
	if err != nil || iss.Scheme != "https" || iss.Host == "" {
		t.Fatalf("iss %q: %v", unverified.Issuer, err)
	}
	conn, err := tls.Dial("tcp", iss.Host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("dial iss: %v", err)
	}
	served := conn.ConnectionState().PeerCertificates
	_ = conn.Close()
	if hdr.KeyID != pki.Fingerprint(served[0].Raw) {
		t.Fatalf("kid %q is not the served certificate's SHA-1 %q", hdr.KeyID, pki.Fingerprint(served[0].Raw))
	}
	claims, err := enroll.Parse(jwt, served[0].PublicKey)
	if err != nil {
		t.Fatalf("the JWT does not verify with the certificate served at iss: %v", err)
	}
	if claims.Expired(time.Now()) {
		t.Fatal("a fresh JWT is expired")
	}

	insecure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer insecure.CloseIdleConnections()
	resp, err := insecure.Get(unverified.Issuer + "/.well-known/est/cacerts")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(body), "\n", ""))
	if err != nil {
		t.Fatalf("cacerts is not base64: %v", err)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatalf("cacerts is not PKCS#7: %v", err)
	}
	pool := x509.NewCertPool()
	for _, c := range p7.Certificates {
		pool.AddCert(c)
	}
	inter := x509.NewCertPool()
	for _, c := range served[1:] {
		inter.AddCert(c)
	}
	if _, err := served[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: iss.Hostname()}); err != nil {
		t.Fatalf("the controller's chain does not verify with its CA bundle: %v", err)
	}
	return claims
}
