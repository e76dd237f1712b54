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
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
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

func TestEnrollOTT(t *testing.T) {
	t.Parallel()
	c := newAdvertisedController(t)
	admin := c.adminClient(t)
	client := c.clientAPI(t, nil)

	ident, jwt := identityEnrollment(t, admin, "ott-device", map[string]any{"ott": true})
	claims := clientSideCheck(t, jwt)
	if claims.Method != "ott" || claims.Subject != ident || claims.Issuer != "https://"+c.cfg.API.Advertise ||
		len(claims.Controllers) != 1 || claims.Controllers[0] != claims.Issuer {
		t.Fatalf("claims %+v", claims)
	}
	if ttl := time.Until(claims.ExpiresAt); ttl < 2*time.Hour || ttl > 3*time.Hour {
		t.Fatalf("default expiry in %s", ttl)
	}
	token := claims.TokenID
	// GET /enrollments shows the same token and a JWT carrying it.
	_, env := admin.do("GET", "/enrollments?filter="+urlQuery(fmt.Sprintf("identityId=%q", ident)), nil)
	if list := items(env); len(list) != 1 || list[0]["token"] != token || jwtToken(t, list[0]["jwt"].(string)) != token {
		t.Fatalf("enrollment list: %v", items(env))
	}

	// Bad CSRs are refused and leave the token usable.
	status, env := client.post("/enroll?method=ott&token="+token, "application/x-pem-file", []byte("not a CSR"))
	wantError(t, "garbage CSR", status, env, 400, "COULD_NOT_PROCESS_CSR")
	status, env = client.post("/enroll?method=ott&token="+token, "application/x-pem-file", tamperedCSR(t))
	wantError(t, "tampered CSR", status, env, 400, "COULD_NOT_PROCESS_CSR")
	// So is the token with another method.
	status, env = client.post("/enroll?method=updb&token="+token, "application/json", []byte(`{"password":"a-password-9"}`))
	wantError(t, "ott token as updb", status, env, 400, "INVALID_ENROLLMENT_TOKEN")
	status, env = client.do("POST", "/enroll/erott", map[string]any{"token": token, "certCsr": "x", "serverCertCsr": "y"})
	wantError(t, "ott token as erott", status, env, 400, "INVALID_ENROLLMENT_TOKEN")

	key, csr := newCSR(t, "requested-name")
	status, env = client.post("/enroll?method=ott&token="+token, "application/x-pem-file", csr)
	if status != 200 {
		t.Fatalf("enroll: %d %v", status, env)
	}
	chainPEM := []byte(data(env)["cert"].(string))
	certs, err := pki.ParseCertificatesPEM(chainPEM)
	if err != nil || len(certs) < 2 {
		t.Fatalf("cert chain: %v (%d)", err, len(certs))
	}
	if certs[0].Subject.CommonName != ident {
		t.Fatalf("certificate CN %q, want the identity id", certs[0].Subject.CommonName)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: c.ctl.CAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued certificate: %v", err)
	}

	// The enrollment is gone, the identity has a cert authenticator.
	_, env = admin.do("GET", "/identities/"+ident, nil)
	d := data(env)
	if enr := d["enrollment"].(map[string]any); enr["ott"] != nil {
		t.Fatalf("enrollment still pending: %v", enr)
	}
	if a := d["authenticators"].(map[string]any)["cert"].(map[string]any); a["fingerprint"] != pki.Fingerprint(certs[0].Raw) {
		t.Fatalf("cert authenticator: %v", a)
	}

	// Replay.
	_, csr2 := newCSR(t, "again")
	status, env = client.post("/enroll?method=ott&token="+token, "application/x-pem-file", csr2)
	wantError(t, "replay", status, env, 400, "INVALID_ENROLLMENT_TOKEN")

	// The issued certificate authenticates.
	mtls := c.clientAPI(t, tlsCert(t, chainPEM, key))
	status, env = mtls.do("POST", "/authenticate?method=cert", map[string]any{})
	if status != 200 || data(env)["identityId"] != ident || data(env)["isCertExtendable"] != true {
		t.Fatalf("cert authentication: %d %v", status, env)
	}

	// Re-enrollment: a new ott enrollment revokes the certificate at once.
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	again := admin.create("/enrollments", map[string]any{"method": "ott", "identityId": ident, "expiresAt": expires})
	if status, env := mtls.do("POST", "/authenticate?method=cert", map[string]any{}); status != 401 {
		t.Fatalf("revoked certificate authenticated: %d %v", status, env)
	}
	_, env = admin.do("GET", "/enrollments/"+again, nil)
	newToken := data(env)["token"].(string)
	if newToken == token {
		t.Fatal("the new enrollment reuses the old token")
	}
	key3, csr3 := newCSR(t, "renewed")
	status, env = client.post("/enroll?method=ott&token="+newToken, "text/plain", csr3)
	if status != 200 {
		t.Fatalf("re-enroll: %d %v", status, env)
	}
	renewed := c.clientAPI(t, tlsCert(t, []byte(data(env)["cert"].(string)), key3))
	if status, env := renewed.do("POST", "/authenticate?method=cert", map[string]any{}); status != 200 {
		t.Fatalf("renewed certificate: %d %v", status, env)
	}
}

// TestEnrollOTTEncodings enrolls through every accepted request form.
func TestEnrollOTTEncodings(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	client := c.clientAPI(t, nil)
	for _, tc := range []struct {
		name string
		send func(token string, csrPEM []byte) (int, map[string]any)
	}{
		{"text/plain", func(tok string, csr []byte) (int, map[string]any) {
			return client.post("/enroll?method=ott&token="+tok, "text/plain", csr)
		}},
		{"pkcs10 base64 DER", func(tok string, csr []byte) (int, map[string]any) {
			block, _ := pem.Decode(csr)
			return client.post("/enroll?method=ott&token="+tok, "application/pkcs10", []byte(base64.StdEncoding.EncodeToString(block.Bytes)))
		}},
		{"query JSON", func(tok string, csr []byte) (int, map[string]any) {
			body, _ := json.Marshal(map[string]any{"clientCsr": string(csr)})
			return client.post("/enroll?method=ott&token="+tok, "application/json", body)
		}},
		{"no method in query", func(tok string, csr []byte) (int, map[string]any) {
			return client.post("/enroll?token="+tok, "application/x-pem-file", csr)
		}},
		{"path", func(tok string, csr []byte) (int, map[string]any) {
			return client.do("POST", "/enroll/ott", map[string]any{"token": tok, "clientCsr": string(csr)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, jwt := identityEnrollment(t, admin, "enc-"+strings.ReplaceAll(tc.name, " ", "-"), map[string]any{"ott": true})
			_, csr := newCSR(t, "x")
			status, env := tc.send(jwtToken(t, jwt), csr)
			if status != 200 || !strings.Contains(data(env)["cert"].(string), "BEGIN CERTIFICATE") {
				t.Fatalf("%d %v", status, env)
			}
			status, env = tc.send(jwtToken(t, jwt), csr)
			wantError(t, "replay", status, env, 400, "INVALID_ENROLLMENT_TOKEN")
		})
	}
	// The path form refuses bad CSRs too.
	_, jwt := identityEnrollment(t, admin, "enc-bad", map[string]any{"ott": true})
	status, env := client.do("POST", "/enroll/ott", map[string]any{"token": jwtToken(t, jwt), "clientCsr": string(tamperedCSR(t))})
	wantError(t, "tampered CSR on /enroll/ott", status, env, 400, "COULD_NOT_PROCESS_CSR")
	status, env = client.do("POST", "/enroll/ott", map[string]any{"token": "6f1c8a52-0000-4000-8000-000000000000", "clientCsr": "x"})
	wantError(t, "unknown token", status, env, 400, "INVALID_ENROLLMENT_TOKEN")
}

func TestEnrollUpdb(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	client := c.clientAPI(t, nil)
	ident, jwt := identityEnrollment(t, admin, "updb-user", map[string]any{"updb": "pat-user"})
	claims, _, _ := enroll.Peek(jwt)
	if claims.Method != "updb" || claims.Subject != ident {
		t.Fatalf("claims %+v", claims)
	}
	token := claims.TokenID

	status, env := client.post("/enroll?method=ott&token="+token, "application/x-pem-file", []byte("x"))
	wantError(t, "updb token as ott", status, env, 400, "INVALID_ENROLLMENT_TOKEN")
	status, env = client.do("POST", "/enroll/updb?token="+token, map[string]any{"password": "abc"})
	wantError(t, "short password", status, env, 400, "COULD_NOT_VALIDATE")
	status, env = client.do("POST", "/enroll/updb?token="+token, map[string]any{"username": "someone-else", "password": "pat-password-1"})
	wantError(t, "other username", status, env, 400, "COULD_NOT_VALIDATE")

	status, env = client.do("POST", "/enroll/updb?token="+token, map[string]any{"password": "pat-password-1"})
	if status != 200 {
		t.Fatalf("enroll: %d %v", status, env)
	}
	status, env = client.do("POST", "/enroll/updb?token="+token, map[string]any{"password": "pat-password-2"})
	wantError(t, "replay", status, env, 400, "INVALID_ENROLLMENT_TOKEN")
	status, env = client.do("POST", "/authenticate?method=password", map[string]any{"username": "pat-user", "password": "pat-password-1"})
	if status != 200 || data(env)["identityId"] != ident {
		t.Fatalf("password login: %d %v", status, env)
	}

	// The query form.
	_, jwt2 := identityEnrollment(t, admin, "updb-user-2", map[string]any{"updb": "quinn-user"})
	status, env = client.post("/enroll?method=updb&token="+jwtToken(t, jwt2), "application/json", []byte(`{"password":"quinn-password-1"}`))
	if status != 200 {
		t.Fatalf("query form: %d %v", status, env)
	}
	if status, env := client.do("POST", "/authenticate?method=password", map[string]any{"username": "quinn-user", "password": "quinn-password-1"}); status != 200 {
		t.Fatalf("password login: %d %v", status, env)
	}
}

func TestEnrollRouter(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	client := c.clientAPI(t, nil)
	router := admin.create("/edge-routers", map[string]any{"name": "er-1", "isTunnelerEnabled": false})
	jwt := routerJWT(t, admin, router)
	claims, _, _ := enroll.Peek(jwt)
	if claims.Method != "erott" || claims.Subject != router {
		t.Fatalf("claims %+v", claims)
	}
	token := claims.TokenID

	_, certCSR := newCSR(t, "router-client")
	_, serverCSR := newCSR(t, "router-server", "er1.example.com", "localhost")
	_, noSANs := newCSR(t, "router-server")
	for name, body := range map[string]map[string]any{
		"garbage client CSR":    {"token": token, "certCsr": "garbage", "serverCertCsr": string(serverCSR)},
		"tampered client CSR":   {"token": token, "certCsr": string(tamperedCSR(t)), "serverCertCsr": string(serverCSR)},
		"tampered server CSR":   {"token": token, "certCsr": string(certCSR), "serverCertCsr": string(tamperedCSR(t))},
		"server CSR has no SAN": {"token": token, "certCsr": string(certCSR), "serverCertCsr": string(noSANs)},
	} {
		status, env := client.do("POST", "/enroll/erott", body)
		wantError(t, name, status, env, 400, "COULD_NOT_PROCESS_CSR")
	}
	status, env := client.post("/enroll?method=ott&token="+token, "application/x-pem-file", certCSR)
	wantError(t, "erott token as ott", status, env, 400, "INVALID_ENROLLMENT_TOKEN")

	status, env = client.do("POST", "/enroll/erott", map[string]any{"token": token, "certCsr": string(certCSR), "serverCertCsr": string(serverCSR)})
	if status != 200 {
		t.Fatalf("enroll: %d %v", status, env)
	}
	d := data(env)
	clientCerts, err := pki.ParseCertificatesPEM([]byte(d["cert"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	serverCerts, err := pki.ParseCertificatesPEM([]byte(d["serverCert"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	if cas, err := pki.ParseCertificatesPEM([]byte(d["ca"].(string))); err != nil || len(cas) == 0 {
		t.Fatalf("ca bundle: %v", err)
	}
	if clientCerts[0].Subject.CommonName != router || serverCerts[0].Subject.CommonName != router {
		t.Fatalf("CNs %q %q", clientCerts[0].Subject.CommonName, serverCerts[0].Subject.CommonName)
	}
	if _, err := serverCerts[0].Verify(x509.VerifyOptions{Roots: c.ctl.CAPool(), DNSName: "er1.example.com"}); err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	if got := strings.Join(serverCerts[0].DNSNames, ","); got != "er1.example.com,localhost" {
		t.Fatalf("server SANs %q", got)
	}
	_, env = admin.do("GET", "/edge-routers/"+router, nil)
	if rd := data(env); rd["isVerified"] != true || rd["fingerprint"] != pki.Fingerprint(clientCerts[0].Raw) || rd["enrollmentJwt"] != nil {
		t.Fatalf("router after enrollment: %v", rd)
	}
	status, env = client.do("POST", "/enroll/erott", map[string]any{"token": token, "certCsr": string(certCSR), "serverCertCsr": string(serverCSR)})
	wantError(t, "replay", status, env, 400, "INVALID_ENROLLMENT_TOKEN")

	// Re-enrollment clears the certificate and issues a new token; the query form works too.
	if status, env := admin.do("POST", "/edge-routers/"+router+"/re-enroll", nil); status != 200 {
		t.Fatalf("re-enroll: %d %v", status, env)
	}
	_, env = admin.do("GET", "/edge-routers/"+router, nil)
	if rd := data(env); rd["isVerified"] != false || rd["fingerprint"] != "" && rd["fingerprint"] != nil {
		t.Fatalf("router after re-enroll: %v", rd)
	}
	newToken := jwtToken(t, routerJWT(t, admin, router))
	if newToken == token {
		t.Fatal("re-enrollment kept the token")
	}
	body, _ := json.Marshal(map[string]any{"certCsr": string(certCSR), "serverCertCsr": string(serverCSR)})
	status, env = client.post("/enroll?method=erott&token="+newToken, "application/json", body)
	if status != 200 || data(env)["serverCert"] == nil {
		t.Fatalf("query form: %d %v", status, env)
	}
}

func TestEnrollOTTCA(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	caID, ca := registerCA(t, admin, "ottca-root", true, nil)
	unverifiedID, unverified := registerCA(t, admin, "unverified-root", false, nil)
	foreign := newThirdPartyCA(t, "foreign-root")

	ident, jwt := identityEnrollment(t, admin, "ottca-device", map[string]any{"ottca": caID})
	claims, _, _ := enroll.Peek(jwt)
	if claims.Method != "ottca" || claims.Subject != ident {
		t.Fatalf("claims %+v", claims)
	}
	token := claims.TokenID
	good := ca.issueClient(t, "device-1")

	status, env := c.clientAPI(t, nil).do("POST", "/enroll/ottca", map[string]any{"token": token})
	wantError(t, "no certificate", status, env, 401, "INVALID_AUTH")
	status, env = c.clientAPI(t, foreign.issueClient(t, "device-1")).do("POST", "/enroll/ottca", map[string]any{"token": token})
	wantError(t, "foreign CA", status, env, 401, "INVALID_AUTH")
	status, env = c.clientAPI(t, unverified.issueClient(t, "device-1")).do("POST", "/enroll/ottca", map[string]any{"token": token})
	wantError(t, "certificate of another registered CA", status, env, 401, "INVALID_AUTH")
	status, env = c.clientAPI(t, good).post("/enroll?method=ott&token="+token, "application/x-pem-file", []byte("x"))
	wantError(t, "ottca token as ott", status, env, 400, "INVALID_ENROLLMENT_TOKEN")

	status, env = c.clientAPI(t, good).do("POST", "/enroll/ottca", map[string]any{"token": token})
	if status != 200 {
		t.Fatalf("enroll: %d %v", status, env)
	}
	_, env = admin.do("GET", "/identities/"+ident, nil)
	if a, _ := data(env)["authenticators"].(map[string]any)["cert"].(map[string]any); a == nil || a["fingerprint"] != pki.Fingerprint(good.Leaf.Raw) {
		t.Fatalf("authenticators: %v", data(env)["authenticators"])
	}
	status, env = c.clientAPI(t, good).do("POST", "/enroll/ottca", map[string]any{"token": token})
	wantError(t, "replay", status, env, 400, "INVALID_ENROLLMENT_TOKEN")

	// The enrolled third-party certificate logs in (its CA is verified and auth-enabled).
	if status, env := c.clientAPI(t, good).do("POST", "/authenticate?method=cert", map[string]any{}); status != 200 {
		t.Fatalf("cert login with the third-party certificate: %d %v", status, env)
	}
	// A certificate of the same CA that no identity holds does not.
	if status, _ := c.clientAPI(t, ca.issueClient(t, "stranger")).do("POST", "/authenticate?method=cert", map[string]any{}); status != 401 {
		t.Fatalf("unenrolled third-party certificate: %d", status)
	}

	// The same certificate cannot enroll a second identity.
	_, jwt2 := identityEnrollment(t, admin, "ottca-device-2", map[string]any{"ottca": caID})
	status, env = c.clientAPI(t, good).post("/enroll?method=ottca&token="+jwtToken(t, jwt2), "", nil)
	wantError(t, "certificate in use", status, env, 409, "CERT_IN_USE")
	status, env = c.clientAPI(t, ca.issueClient(t, "device-2")).post("/enroll?method=ottca&token="+jwtToken(t, jwt2), "", nil)
	if status != 200 {
		t.Fatalf("query form: %d %v", status, env)
	}

	// Turning ottca enrollment off on the CA stops its pending enrollments.
	_, jwt4 := identityEnrollment(t, admin, "ottca-device-4", map[string]any{"ottca": caID})
	if st, env := admin.do("PATCH", "/cas/"+caID, map[string]any{"isOttCaEnrollmentEnabled": false}); st != 200 {
		t.Fatalf("patch CA: %d %v", st, env)
	}
	status, env = c.clientAPI(t, ca.issueClient(t, "device-4")).do("POST", "/enroll/ottca", map[string]any{"token": jwtToken(t, jwt4)})
	wantError(t, "ottca enrollment off", status, env, 401, "INVALID_AUTH")

	// An enrollment naming an unverified CA never completes.
	_, jwt3 := identityEnrollment(t, admin, "ottca-device-3", map[string]any{"ottca": unverifiedID})
	status, env = c.clientAPI(t, unverified.issueClient(t, "device-3")).do("POST", "/enroll/ottca", map[string]any{"token": jwtToken(t, jwt3)})
	wantError(t, "unverified CA", status, env, 401, "INVALID_AUTH")
}

func TestEnrollCA(t *testing.T) {
	t.Parallel()
	c := newAdvertisedController(t)
	admin := c.adminClient(t)
	caID, ca := registerCA(t, admin, "auto-root", true, map[string]any{"identityNameFormat": "[caName]/[commonName]", "identityRoles": []string{"auto", "fleet"}})
	_, unverified := registerCA(t, admin, "auto-unverified", false, nil)
	_, noAuto := registerCA(t, admin, "auto-off", true, map[string]any{"isAutoCaEnrollmentEnabled": false})
	foreign := newThirdPartyCA(t, "auto-foreign")

	// The CA's JWT, verified as a client would.
	st, hdr, body := admin.raw("GET", "/cas/"+caID+"/jwt", "", nil)
	if st != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/jwt") {
		t.Fatalf("CA JWT: %d %s %s", st, hdr.Get("Content-Type"), body)
	}
	claims := clientSideCheck(t, string(body))
	if claims.Method != "ca" || claims.Subject != caID || claims.TokenID != caID {
		t.Fatalf("CA JWT claims %+v", claims)
	}
	if st, _, _ := admin.raw("GET", "/cas/nope/jwt", "", nil); st != 404 {
		t.Fatalf("JWT of an unknown CA: %d", st)
	}

	for name, cert := range map[string]*tls.Certificate{
		"unverified CA":       unverified.issueClient(t, "laptop"),
		"auto-enrollment off": noAuto.issueClient(t, "laptop"),
		"foreign CA":          foreign.issueClient(t, "laptop"),
	} {
		status, env := c.clientAPI(t, cert).post("/enroll/ca", "", nil)
		wantError(t, name, status, env, 401, "INVALID_AUTH")
	}
	status, env := c.clientAPI(t, nil).post("/enroll/ca", "", nil)
	wantError(t, "no certificate", status, env, 401, "INVALID_AUTH")

	cert := ca.issueClient(t, "laptop")
	status, env = c.clientAPI(t, cert).post("/enroll/ca", "", nil)
	if status != 200 {
		t.Fatalf("enroll: %d %v", status, env)
	}
	_, env = admin.do("GET", "/identities?filter="+urlQuery(`name="auto-root/laptop"`), nil)
	list := items(env)
	if len(list) != 1 {
		t.Fatalf("auto-enrolled identity: %v", list)
	}
	roles, _ := list[0]["roleAttributes"].([]any)
	if len(roles) != 2 || roles[0] != "auto" || roles[1] != "fleet" {
		t.Fatalf("roles %v", list[0]["roleAttributes"])
	}
	if a, _ := list[0]["authenticators"].(map[string]any)["cert"].(map[string]any); a == nil || a["fingerprint"] != pki.Fingerprint(cert.Leaf.Raw) {
		t.Fatalf("authenticators %v", list[0]["authenticators"])
	}
	status, env = c.clientAPI(t, cert).post("/enroll?method=ca", "", nil)
	wantError(t, "same certificate again", status, env, 409, "CERT_IN_USE")

	// The query form, with a requested name.
	if st, env := admin.do("PATCH", "/cas/"+caID, map[string]any{"identityNameFormat": "[requestedName]@[caName]"}); st != 200 {
		t.Fatalf("patch CA: %d %v", st, env)
	}
	status, env = c.clientAPI(t, ca.issueClient(t, "phone")).post("/enroll?method=ca", "application/json", []byte(`{"name":"pat-phone"}`))
	if status != 200 {
		t.Fatalf("query form: %d %v", status, env)
	}
	if _, env := admin.do("GET", "/identities?filter="+urlQuery(`name="pat-phone@auto-root"`), nil); len(items(env)) != 1 {
		t.Fatalf("requested name: %v", items(env))
	}
}

// TestEnrollExpiry lets an enrollment of every token method expire.
func TestEnrollExpiry(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	client := c.clientAPI(t, nil)
	caID, ca := registerCA(t, admin, "expiry-root", true, nil)

	ottID, _ := identityEnrollment(t, admin, "exp-ott", map[string]any{"ott": true})
	updbID, _ := identityEnrollment(t, admin, "exp-updb", map[string]any{"updb": "exp-user"})
	ottcaID, _ := identityEnrollment(t, admin, "exp-ottca", map[string]any{"ottca": caID})
	router := admin.create("/edge-routers", map[string]any{"name": "exp-router", "isTunnelerEnabled": false})

	enrollmentOf := func(filter string) string {
		t.Helper()
		_, env := admin.do("GET", "/enrollments?filter="+urlQuery(filter), nil)
		list := items(env)
		if len(list) != 1 {
			t.Fatalf("%s: %v", filter, list)
		}
		return list[0]["id"].(string)
	}
	ids := map[string]string{
		"ott":   enrollmentOf(fmt.Sprintf("identityId=%q", ottID)),
		"updb":  enrollmentOf(fmt.Sprintf("identityId=%q", updbID)),
		"ottca": enrollmentOf(fmt.Sprintf("identityId=%q", ottcaID)),
		"erott": enrollmentOf(fmt.Sprintf("edgeRouterId=%q", router)),
	}
	// Refresh each to expire shortly; the refresh also replaces the token.
	expiry := time.Now().Add(3 * time.Second)
	tokens := map[string]string{}
	for method, id := range ids {
		_, env := admin.do("GET", "/enrollments/"+id, nil)
		old := data(env)["token"].(string)
		status, env := admin.do("POST", "/enrollments/"+id+"/refresh", map[string]any{"expiresAt": expiry.UTC().Format("2006-01-02T15:04:05.000Z07:00")})
		if status != 200 {
			t.Fatalf("refresh %s: %d %v", method, status, env)
		}
		_, env = admin.do("GET", "/enrollments/"+id, nil)
		tokens[method] = data(env)["token"].(string)
		if tokens[method] == old || jwtToken(t, data(env)["jwt"].(string)) != tokens[method] {
			t.Fatalf("refresh of %s did not replace the token", method)
		}
		if method == "ott" {
			_, csr := newCSR(t, "x")
			status, env := client.post("/enroll?method=ott&token="+old, "application/x-pem-file", csr)
			wantError(t, "token replaced by refresh", status, env, 400, "INVALID_ENROLLMENT_TOKEN")
		}
	}
	time.Sleep(time.Until(expiry) + 100*time.Millisecond)

	_, csr := newCSR(t, "x")
	_, serverCSR := newCSR(t, "x", "x.example")
	attempts := map[string]func() (int, map[string]any){
		"ott": func() (int, map[string]any) {
			return client.post("/enroll?method=ott&token="+tokens["ott"], "application/x-pem-file", csr)
		},
		"updb": func() (int, map[string]any) {
			return client.do("POST", "/enroll/updb?token="+tokens["updb"], map[string]any{"password": "exp-password-1"})
		},
		"ottca": func() (int, map[string]any) {
			return c.clientAPI(t, ca.issueClient(t, "exp")).do("POST", "/enroll/ottca", map[string]any{"token": tokens["ottca"]})
		},
		"erott": func() (int, map[string]any) {
			return client.do("POST", "/enroll/erott", map[string]any{"token": tokens["erott"], "certCsr": string(csr), "serverCertCsr": string(serverCSR)})
		},
	}
	for method, attempt := range attempts {
		status, env := attempt()
		wantError(t, "expired "+method, status, env, 400, "ENROLLMENT_EXPIRED")
	}
}

// TestEnrollConcurrentUse sends the same token twice at once: raft lets
// exactly one request use it.
func TestEnrollConcurrentUse(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	for round := 0; round < 4; round++ {
		_, jwt := identityEnrollment(t, admin, fmt.Sprintf("race-%d", round), map[string]any{"ott": true})
		url := c.base + clientPrefix + "/enroll?method=ott&token=" + jwtToken(t, jwt)
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		codes := make([]string, 2)
		errs := make([]error, 2)
		start := make(chan struct{})
		for i := range statuses {
			_, csr := newCSR(t, "racer")
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resp, err := c.client.Post(url, "application/x-pem-file", bytes.NewReader(csr))
				if err != nil {
					errs[i] = err
					return
				}
				defer resp.Body.Close()
				statuses[i] = resp.StatusCode
				var env map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&env)
				codes[i] = errorCode(env)
			}()
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		ok, refused := 0, 0
		for i, st := range statuses {
			switch {
			case st == 200:
				ok++
			case st == 400 && codes[i] == "INVALID_ENROLLMENT_TOKEN":
				refused++
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d: statuses %v codes %v, want one success and one INVALID_ENROLLMENT_TOKEN", round, statuses, codes)
		}
	}
}

func TestEnrollJWKSChallengeAndNetworkJWTs(t *testing.T) {
	t.Parallel()
	c := newAdvertisedController(t)
	client := c.clientAPI(t, nil)
	conn, err := tls.Dial("tcp", c.ctl.Addr(), &tls.Config{RootCAs: c.ctl.CAPool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	served := conn.ConnectionState().PeerCertificates
	_ = conn.Close()
	kid := pki.Fingerprint(served[0].Raw)

	st, hdr, body := client.raw("GET", "/enroll/jwks", "", nil)
	if st != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("jwks: %d %s", st, body)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks %s: %v", body, err)
	}
	key := set.Keys[0]
	x5c, _ := key["x5c"].([]any)
	if key["kid"] != kid || key["d"] != nil || len(x5c) == 0 || x5c[0] != base64.StdEncoding.EncodeToString(served[0].Raw) {
		t.Fatalf("jwk %v", key)
	}

	nonce := "8d3b1f0e-4c5a-4e2b-9f1d-7a6c5b4e3d2c"
	status, env := client.do("POST", "/enroll/challenge", map[string]any{"nonce": nonce, "keyId": kid})
	if status != 200 {
		t.Fatalf("challenge: %d %v", status, env)
	}
	sig, err := base64.StdEncoding.DecodeString(env["signature"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if env["kid"] != kid || env["caPool"] == "" {
		t.Fatalf("challenge answer %v", env)
	}
	if err := enroll.VerifyChallenge(env["algorithm"].(string), served[0].PublicKey, []byte(nonce), sig); err != nil {
		t.Fatalf("challenge signature: %v", err)
	}
	status, env = client.do("POST", "/enroll/challenge", map[string]any{"nonce": nonce, "keyId": "unknown"})
	wantError(t, "unknown key", status, env, 404, "NOT_FOUND")
	status, env = client.do("POST", "/enroll/challenge", map[string]any{"nonce": "not-a-uuid", "keyId": kid})
	wantError(t, "bad nonce", status, env, 400, "COULD_NOT_VALIDATE")

	status, env = client.do("GET", "/network-jwts", nil)
	if status != 200 {
		t.Fatalf("network-jwts: %d %v", status, env)
	}
	list := items(env)
	if len(list) != 1 || list[0]["name"] != "default" {
		t.Fatalf("network-jwts %v", list)
	}
	claims := clientSideCheck(t, list[0]["token"].(string))
	if claims.Method != "network" || len(claims.Controllers) != 1 {
		t.Fatalf("network JWT claims %+v", claims)
	}
}
