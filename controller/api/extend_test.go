package api_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/sdk/renew"
)

// enrolledIdentity creates an identity, enrolls it by ott and returns its
// id with the issued certificate and key.
func enrolledIdentity(t *testing.T, c *testCtl, admin *apiClient, name string) (string, *tls.Certificate) {
	t.Helper()
	id, jwt := identityEnrollment(t, admin, name, map[string]any{"ott": true})
	key, csr := newCSR(t, name)
	status, env := c.clientAPI(t, nil).post("/enroll?method=ott&token="+jwtToken(t, jwt), "application/x-pem-file", csr)
	if status != 200 {
		t.Fatalf("enroll %s: %d %v", name, status, env)
	}
	return id, tlsCert(t, []byte(data(env)["cert"].(string)), key)
}

// certLogin authenticates with cert and returns the status and, on success,
// a client API client holding the session token over that certificate.
func certLogin(t *testing.T, c *testCtl, cert *tls.Certificate) (int, *apiClient, map[string]any) {
	t.Helper()
	cl := c.clientAPI(t, cert)
	status, env := cl.do("POST", "/authenticate?method=cert", map[string]any{})
	if status == 200 {
		cl.token = data(env)["token"].(string)
	}
	return status, cl, env
}

// liveConn is an HTTP/2 client API connection, kept open, that reports
// whether each request reused it.
type liveConn struct {
	t      *testing.T
	c      *testCtl
	client *http.Client
	token  string
}

func newLiveConn(t *testing.T, c *testCtl, getCert func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) *liveConn {
	t.Helper()
	tr := &http.Transport{ForceAttemptHTTP2: true, MaxConnsPerHost: 1,
		TLSClientConfig: &tls.Config{RootCAs: c.ctl.CAPool(), GetClientCertificate: getCert, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &liveConn{t: t, c: c, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// do sends a request and returns the status, whether the connection was
// reused, and the decoded answer.
func (l *liveConn) do(method, path string, body any) (int, bool, map[string]any) {
	l.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = strings.NewReader(string(raw))
	}
	reused := false
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, l.c.base+clientPrefix+path, rd)
	if err != nil {
		l.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if l.token != "" {
		req.Header.Set("zt-session", l.token)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		l.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		l.t.Fatalf("%s %s: %s, want HTTP/2", method, path, resp.Proto)
	}
	env := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &env)
	return resp.StatusCode, reused, env
}

func TestExtendIdentityCertificate(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	ident, oldCert := enrolledIdentity(t, c, admin, "extend-device")

	// A live HTTP/2 connection made with the old certificate.
	live := newLiveConn(t, c, func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return oldCert, nil })
	status, _, env := live.do("POST", "/authenticate?method=cert", map[string]any{})
	if status != 200 {
		t.Fatalf("cert login: %d %v", status, env)
	}
	live.token = data(env)["token"].(string)
	authID, _ := data(env)["authenticatorId"].(string)
	if authID == "" {
		t.Fatalf("no authenticatorId in %v", data(env))
	}
	owner := c.clientAPI(t, nil)
	owner.token = live.token

	// Bad requests.
	status, env = owner.do("POST", "/current-identity/authenticators/"+authID+"/extend", map[string]any{"clientCertCsr": "garbage"})
	wantError(t, "garbage CSR", status, env, 400, "COULD_NOT_PROCESS_CSR")
	status, env = owner.do("POST", "/current-identity/authenticators/"+authID+"/extend", map[string]any{"clientCertCsr": string(tamperedCSR(t))})
	wantError(t, "tampered CSR", status, env, 400, "COULD_NOT_PROCESS_CSR")
	status, env = owner.do("POST", "/current-identity/authenticators/"+authID+"/extend-verify", map[string]any{"clientCert": string(pki.EncodeCertificatesPEM(oldCert.Leaf))})
	wantError(t, "verify without a pending extension", status, env, 400, "COULD_NOT_VALIDATE")

	// Extend: the new certificate is issued but pending.
	newKey, csr := newCSR(t, "anything")
	status, env = owner.do("POST", "/current-identity/authenticators/"+authID+"/extend", map[string]any{"clientCertCsr": string(csr)})
	if status != 200 {
		t.Fatalf("extend: %d %v", status, env)
	}
	issuedPEM, _ := data(env)["clientCert"].(string)
	caPEM, _ := data(env)["ca"].(string)
	chain, err := pki.ParseCertificatesPEM([]byte(issuedPEM))
	if err != nil {
		t.Fatalf("clientCert: %v", err)
	}
	cas, err := pki.ParseCertificatesPEM([]byte(caPEM))
	if err != nil || len(cas) == 0 {
		t.Fatalf("ca: %v", err)
	}
	if chain[0].Subject.CommonName != ident {
		t.Fatalf("new certificate CN %q, want the identity id", chain[0].Subject.CommonName)
	}
	verifyClientChain(t, chain, cas)
	newCert := tlsCert(t, []byte(issuedPEM), newKey)

	if status, _, env := certLogin(t, c, oldCert); status != 200 {
		t.Fatalf("old certificate before verify: %d %v", status, env)
	}
	if status, _, env := certLogin(t, c, newCert); status != 401 || errorCode(env) != "INVALID_AUTH" {
		t.Fatalf("new certificate before verify: %d %v", status, env)
	}

	// Verify with anything but the issued certificate is refused.
	status, env = owner.do("POST", "/current-identity/authenticators/"+authID+"/extend-verify", map[string]any{"clientCert": string(pki.EncodeCertificatesPEM(oldCert.Leaf))})
	wantError(t, "verify with the old certificate", status, env, 400, "COULD_NOT_VALIDATE")
	status, env = owner.do("POST", "/current-identity/authenticators/"+authID+"/extend-verify", map[string]any{"clientCert": "not a certificate"})
	wantError(t, "verify with garbage", status, env, 400, "COULD_NOT_VALIDATE")

	// Another identity cannot touch this authenticator, nor extend a password.
	bob, _ := clientFor(t, c, admin, "bob")
	_, other := newCSR(t, "bob")
	status, env = bob.do("POST", "/current-identity/authenticators/"+authID+"/extend", map[string]any{"clientCertCsr": string(other)})
	wantError(t, "extend another identity's authenticator", status, env, 404, "NOT_FOUND")
	status, env = bob.do("POST", "/current-identity/authenticators/"+authID+"/extend-verify", map[string]any{"clientCert": issuedPEM})
	wantError(t, "verify another identity's authenticator", status, env, 404, "NOT_FOUND")
	_, env = bob.do("GET", "/current-identity/authenticators", nil)
	bobAuth, _ := items(env)[0]["id"].(string)
	status, env = bob.do("POST", "/current-identity/authenticators/"+bobAuth+"/extend", map[string]any{"clientCertCsr": string(other)})
	wantError(t, "extend a password authenticator", status, env, 404, "NOT_FOUND")
	status, env = owner.do("POST", "/current-identity/authenticators/no-such-id/extend", map[string]any{"clientCertCsr": string(csr)})
	wantError(t, "extend an unknown authenticator", status, env, 404, "NOT_FOUND")

	// Verify: the new certificate becomes current, the old one is refused.
	status, env = owner.do("POST", "/current-identity/authenticators/"+authID+"/extend-verify", map[string]any{"clientCert": issuedPEM})
	if status != 200 {
		t.Fatalf("extend-verify: %d %v", status, env)
	}
	if status, _, env := certLogin(t, c, oldCert); status != 401 || errorCode(env) != "INVALID_AUTH" {
		t.Fatalf("old certificate after verify: %d %v", status, env)
	}
	if status, _, env := certLogin(t, c, newCert); status != 200 || data(env)["identityId"] != ident {
		t.Fatalf("new certificate after verify: %d %v", status, env)
	}
	_, env = admin.do("GET", "/identities/"+ident, nil)
	if a, _ := data(env)["authenticators"].(map[string]any)["cert"].(map[string]any); a["fingerprint"] != pki.Fingerprint(chain[0].Raw) {
		t.Fatalf("cert authenticator after verify: %v", a)
	}

	// The connection made with the old certificate keeps working.
	status, reused, env := live.do("GET", "/current-identity", nil)
	if status != 200 || !reused || data(env)["id"] != ident {
		t.Fatalf("live connection after the renewal: %d reused=%v %v", status, reused, env)
	}
}

// TestExtendIdentityWithRenewer renews an identity through sdk/renew: a
// connection made before the renewal stays up, new handshakes present the
// new certificate, and the old certificate stops authenticating.
func TestExtendIdentityWithRenewer(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	ident, first := enrolledIdentity(t, c, admin, "renewer-device")

	var r *renew.Renewer
	live := newLiveConn(t, c, func(info *tls.CertificateRequestInfo) (*tls.Certificate, error) { return r.GetClientCertificate(info) })
	var authID string
	r = renew.New(renew.Config{Certificate: *first, KeyAlgorithm: renew.ECDSAP384,
		Renew: func(ctx context.Context, key crypto.Signer) ([]*x509.Certificate, error) {
			return renew.ExtendIdentity(ctx, live.client, c.base+clientPrefix, live.token, authID, key)
		}})
	status, _, env := live.do("POST", "/authenticate?method=cert", map[string]any{})
	if status != 200 {
		t.Fatalf("cert login: %d %v", status, env)
	}
	live.token, authID = data(env)["token"].(string), data(env)["authenticatorId"].(string)

	for round := 1; round <= 2; round++ {
		before := r.Certificate()
		if err := r.RenewNow(context.Background()); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		after := r.Certificate()
		if after.Leaf.Subject.CommonName != ident || pki.Fingerprint(after.Leaf.Raw) == pki.Fingerprint(before.Leaf.Raw) {
			t.Fatalf("round %d: renewed certificate %q", round, after.Leaf.Subject.CommonName)
		}
		if status, reused, env := live.do("GET", "/current-api-session", nil); status != 200 || !reused {
			t.Fatalf("round %d: live connection: %d reused=%v %v", round, status, reused, env)
		}
		if status, _, env := certLogin(t, c, &before); status != 401 {
			t.Fatalf("round %d: the replaced certificate still authenticates: %d %v", round, status, env)
		}
		// A new handshake, through the renewer, presents the new certificate.
		fresh := newLiveConn(t, c, r.GetClientCertificate)
		if status, _, env := fresh.do("POST", "/authenticate?method=cert", map[string]any{}); status != 200 || data(env)["identityId"] != ident {
			t.Fatalf("round %d: login with the renewed certificate: %d %v", round, status, env)
		}
	}
}

func TestExtendIdentityHelperReportsErrors(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	bob, _ := clientFor(t, c, admin, "bob")
	key, err := renew.GenerateKey(renew.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	_, err = renew.ExtendIdentity(context.Background(), c.client, c.base+clientPrefix, bob.token, "no-such-id", key)
	var re *renew.ResponseError
	if !errors.As(err, &re) || re.Status != 404 || re.Code != "NOT_FOUND" {
		t.Fatalf("extend of an unknown authenticator: %v", err)
	}
}

func verifyClientChain(t *testing.T, chain, cas []*x509.Certificate) {
	t.Helper()
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, ca := range cas {
		roots.AddCert(ca)
	}
	for _, ca := range chain[1:] {
		inter.AddCert(ca)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued certificate does not verify against the CA bundle: %v", err)
	}
}

// enrolledRouter creates and enrolls an edge router; it returns its id and
// client certificate.
func enrolledRouter(t *testing.T, c *testCtl, admin *apiClient, name string) (string, *tls.Certificate) {
	t.Helper()
	router := admin.create("/edge-routers", map[string]any{"name": name, "isTunnelerEnabled": false})
	token := jwtToken(t, routerJWT(t, admin, router))
	key, certCSR := newCSR(t, "router")
	serverCSR, err := pki.GenerateCSR(key, "router", []string{"er.example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	status, env := c.clientAPI(t, nil).do("POST", "/enroll/erott", map[string]any{"token": token, "certCsr": string(certCSR), "serverCertCsr": string(serverCSR)})
	if status != 200 {
		t.Fatalf("enroll router: %d %v", status, env)
	}
	return router, tlsCert(t, []byte(data(env)["cert"].(string)), key)
}

func TestExtendRouter(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	router, oldCert := enrolledRouter(t, c, admin, "er-extend")
	_, identityCert := enrolledIdentity(t, c, admin, "not-a-router")

	_, certCSR := newCSR(t, "router")
	key, serverCSR := newCSR(t, "router", "er2.example.com", "localhost")
	clientCSR, err := pki.GenerateCSR(key, "router", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"certCsr": string(clientCSR), "serverCertCsr": string(serverCSR)}

	// Without a certificate, or with one that is not a router's.
	status, env := c.clientAPI(t, nil).do("POST", "/enroll/extend/router", body)
	wantError(t, "no certificate", status, env, 401, "INVALID_AUTH")
	status, env = c.clientAPI(t, identityCert).do("POST", "/enroll/extend/router", body)
	wantError(t, "an identity's certificate", status, env, 401, "INVALID_AUTH")
	_, foreign := registerCA(t, admin, "foreign-ca", false, nil)
	status, env = c.clientAPI(t, foreign.issueClient(t, router)).do("POST", "/enroll/extend/router", body)
	wantError(t, "a foreign certificate", status, env, 401, "INVALID_AUTH")

	mtls := c.clientAPI(t, oldCert)
	for name, bad := range map[string]map[string]any{
		"garbage client CSR":    {"certCsr": "garbage", "serverCertCsr": string(serverCSR)},
		"tampered server CSR":   {"certCsr": string(certCSR), "serverCertCsr": string(tamperedCSR(t))},
		"server CSR has no SAN": {"certCsr": string(certCSR), "serverCertCsr": string(certCSR)},
	} {
		status, env := mtls.do("POST", "/enroll/extend/router", bad)
		wantError(t, name, status, env, 400, "COULD_NOT_PROCESS_CSR")
	}

	status, env = mtls.do("POST", "/enroll/extend/router", body)
	if status != 200 {
		t.Fatalf("extend: %d %v", status, env)
	}
	d := data(env)
	clientChain, err := pki.ParseCertificatesPEM([]byte(d["cert"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	serverChain, err := pki.ParseCertificatesPEM([]byte(d["serverCert"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	cas, err := pki.ParseCertificatesPEM([]byte(d["ca"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	verifyClientChain(t, clientChain, cas)
	if clientChain[0].Subject.CommonName != router || serverChain[0].Subject.CommonName != router {
		t.Fatalf("CNs %q %q", clientChain[0].Subject.CommonName, serverChain[0].Subject.CommonName)
	}
	if got := strings.Join(serverChain[0].DNSNames, ","); got != "er2.example.com,localhost" {
		t.Fatalf("server SANs %q", got)
	}
	if _, err := serverChain[0].Verify(x509.VerifyOptions{Roots: c.ctl.CAPool(), DNSName: "er2.example.com"}); err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	_, env = admin.do("GET", "/edge-routers/"+router, nil)
	if rd := data(env); rd["fingerprint"] != pki.Fingerprint(clientChain[0].Raw) || rd["isVerified"] != true {
		t.Fatalf("router after extension: %v", rd)
	}

	// The old certificate is refused at once, on a new connection.
	status, env = c.clientAPI(t, oldCert).do("POST", "/enroll/extend/router", body)
	wantError(t, "the old certificate", status, env, 401, "INVALID_AUTH")

	// The new certificate extends again, through the sdk helper.
	newCert := tlsCert(t, []byte(d["cert"].(string)), key)
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: c.ctl.CAPool(), Certificates: []tls.Certificate{*newCert}, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	next, err := renew.GenerateKey(renew.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := renew.ExtendRouter(context.Background(), &http.Client{Transport: tr, Timeout: 30 * time.Second}, c.base+clientPrefix,
		next, []string{"er3.example.com"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("extend through the helper: %v", err)
	}
	if len(certs.CAs) == 0 || certs.Client[0].Subject.CommonName != router || !certs.Server[0].IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("helper answer: client %q, server SANs %v %v, %d CAs", certs.Client[0].Subject.CommonName,
			certs.Server[0].DNSNames, certs.Server[0].IPAddresses, len(certs.CAs))
	}
	_, err = renew.ExtendRouter(context.Background(), &http.Client{Transport: tr, Timeout: 30 * time.Second}, c.base+clientPrefix,
		next, []string{"er3.example.com"}, nil)
	var re *renew.ResponseError
	if !errors.As(err, &re) || re.Status != 401 || re.Code != "INVALID_AUTH" {
		t.Fatalf("extension with the replaced certificate: %v", err)
	}
}

// TestExtendRouterWithRenewer renews a router's certificates through
// sdk/renew: the router's connection made with the old certificate stays up,
// each renewal is made with the certificate then current, and a replaced
// certificate is refused at once.
func TestExtendRouterWithRenewer(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	router, first := enrolledRouter(t, c, admin, "er-renewer")

	var r *renew.Renewer
	getCert := func(info *tls.CertificateRequestInfo) (*tls.Certificate, error) { return r.GetClientCertificate(info) }
	// Each extension dials anew, so that it presents the certificate current then.
	extendTr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: c.ctl.CAPool(), GetClientCertificate: getCert, MinVersion: tls.VersionTLS12}}
	t.Cleanup(extendTr.CloseIdleConnections)
	extendClient := &http.Client{Transport: extendTr, Timeout: 30 * time.Second}
	var serverChain []*x509.Certificate
	r = renew.New(renew.Config{Certificate: *first,
		Renew: func(ctx context.Context, key crypto.Signer) ([]*x509.Certificate, error) {
			certs, err := renew.ExtendRouter(ctx, extendClient, c.base+clientPrefix, key, []string{"er.example.com"}, nil)
			if err != nil {
				return nil, err
			}
			serverChain = certs.Server
			return certs.Client, nil
		}})
	live := newLiveConn(t, c, getCert)
	if status, _, env := live.do("GET", "/version", nil); status != 200 {
		t.Fatalf("live connection: %d %v", status, env)
	}
	for round := 1; round <= 2; round++ {
		before := r.Certificate()
		if err := r.RenewNow(context.Background()); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		after := r.Certificate()
		if after.Leaf.Subject.CommonName != router || pki.Fingerprint(after.Leaf.Raw) == pki.Fingerprint(before.Leaf.Raw) {
			t.Fatalf("round %d: renewed certificate %q", round, after.Leaf.Subject.CommonName)
		}
		if len(serverChain) == 0 || serverChain[0].Subject.CommonName != router || serverChain[0].DNSNames[0] != "er.example.com" {
			t.Fatalf("round %d: server certificate %v", round, serverChain)
		}
		_, env := admin.do("GET", "/edge-routers/"+router, nil)
		if fp := data(env)["fingerprint"]; fp != pki.Fingerprint(after.Leaf.Raw) {
			t.Fatalf("round %d: router fingerprint %v, want the renewed certificate's", round, fp)
		}
		status, env := c.clientAPI(t, &before).do("POST", "/enroll/extend/router", map[string]any{"certCsr": "x", "serverCertCsr": "y"})
		wantError(t, "the replaced certificate", status, env, 401, "INVALID_AUTH")
		if status, reused, env := live.do("GET", "/version", nil); status != 200 || !reused {
			t.Fatalf("round %d: live connection: %d reused=%v %v", round, status, reused, env)
		}
	}
}

func TestAPISessionCertificates(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	alice, aliceID := clientFor(t, c, admin, "alice")

	status, env := alice.do("POST", "/current-api-session/certificates", map[string]any{"csr": "garbage"})
	wantError(t, "garbage CSR", status, env, 400, "COULD_NOT_PROCESS_CSR")
	status, env = alice.do("POST", "/current-api-session/certificates", map[string]any{"csr": string(tamperedCSR(t))})
	wantError(t, "tampered CSR", status, env, 400, "COULD_NOT_PROCESS_CSR")

	key, csr := newCSR(t, "alice-session")
	status, env = alice.do("POST", "/current-api-session/certificates", map[string]any{"csr": string(csr)})
	if status != 201 {
		t.Fatalf("create: %d %v", status, env)
	}
	d := data(env)
	certID, _ := d["id"].(string)
	chain, err := pki.ParseCertificatesPEM([]byte(d["certificate"].(string)))
	if err != nil || certID == "" {
		t.Fatalf("answer %v: %v", d, err)
	}
	cas, err := pki.ParseCertificatesPEM([]byte(d["cas"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	verifyClientChain(t, chain, cas)
	leaf := chain[0]
	if leaf.Subject.CommonName != aliceID {
		t.Fatalf("CN %q, want the identity id", leaf.Subject.CommonName)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 11*time.Hour || life > 13*time.Hour {
		t.Fatalf("lifetime %s, want about 12h", life)
	}
	presentToServer(t, tlsCert(t, []byte(d["certificate"].(string)), key), cas)

	// Listed and shown to its session only.
	_, env = alice.do("GET", "/current-api-session/certificates", nil)
	if list := items(env); len(list) != 1 || list[0]["id"] != certID || list[0]["fingerprint"] != pki.Fingerprint(leaf.Raw) {
		t.Fatalf("list: %v", env)
	}
	status, env = alice.do("GET", "/current-api-session/certificates/"+certID, nil)
	if status != 200 || data(env)["subject"] == "" || data(env)["validTo"] == nil || data(env)["certificate"] == nil {
		t.Fatalf("detail: %d %v", status, env)
	}
	other := &apiClient{t: t, ctl: c, prefix: clientPrefix}
	status, env = other.do("POST", "/authenticate?method=password", map[string]any{"username": "alice-user", "password": "alice-password"})
	if status != 200 {
		t.Fatalf("second login: %d %v", status, env)
	}
	other.token = data(env)["token"].(string)
	status, env = other.do("GET", "/current-api-session/certificates/"+certID, nil)
	wantError(t, "another session's certificate", status, env, 404, "NOT_FOUND")
	status, env = other.do("DELETE", "/current-api-session/certificates/"+certID, nil)
	wantError(t, "delete another session's certificate", status, env, 404, "NOT_FOUND")
	if _, env = other.do("GET", "/current-api-session/certificates", nil); len(items(env)) != 0 {
		t.Fatalf("another session lists %v", items(env))
	}

	// Deleted.
	if status, env := alice.do("DELETE", "/current-api-session/certificates/"+certID, nil); status != 200 {
		t.Fatalf("delete: %d %v", status, env)
	}
	if _, env = alice.do("GET", "/current-api-session/certificates", nil); len(items(env)) != 0 {
		t.Fatalf("list after delete: %v", items(env))
	}
	status, env = alice.do("DELETE", "/current-api-session/certificates/"+certID, nil)
	wantError(t, "delete again", status, env, 404, "NOT_FOUND")

	// Sessions made with a certificate get none.
	_, cert := enrolledIdentity(t, c, admin, "cert-holder")
	status, certSession, env := certLogin(t, c, cert)
	if status != 200 {
		t.Fatalf("cert login: %d %v", status, env)
	}
	_, csr2 := newCSR(t, "cert-session")
	status, env = certSession.do("POST", "/current-api-session/certificates", map[string]any{"csr": string(csr2)})
	wantError(t, "certificate for a cert session", status, env, 400, "COULD_NOT_VALIDATE")
	if msg, _ := env["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "certificate") {
		t.Fatalf("unclear message %q", msg)
	}

	// Logging out removes the session's certificates with it.
	_, csr3 := newCSR(t, "alice-2")
	if status, env := other.do("POST", "/current-api-session/certificates", map[string]any{"csr": string(csr3)}); status != 201 {
		t.Fatalf("create: %d %v", status, env)
	}
	if status, env := other.do("DELETE", "/current-api-session", nil); status != 200 {
		t.Fatalf("logout: %d %v", status, env)
	}
}

// presentToServer makes a TLS connection to a server that requires client
// certificates issued by cas, presenting cert.
func presentToServer(t *testing.T, cert *tls.Certificate, cas []*x509.Certificate) {
	t.Helper()
	pool := x509.NewCertPool()
	for _, ca := range cas {
		pool.AddCert(ca)
	}
	serverCert := newThirdPartyCA(t, "test-server-ca").issueClient(t, "localhost")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		Certificates: []tls.Certificate{*serverCert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	result := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			result <- err
			return
		}
		defer conn.Close()
		if err := conn.(*tls.Conn).Handshake(); err != nil {
			result <- err
			return
		}
		if peers := conn.(*tls.Conn).ConnectionState().PeerCertificates; len(peers) == 0 || !peers[0].Equal(cert.Leaf) {
			result <- errors.New("the server did not see the API-session certificate")
			return
		}
		result <- nil
	}()
	// The server's own certificate does not matter here: the client certificate is what is tested.
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
	if err == nil {
		err = conn.Handshake()
		// TLS 1.3 reports the server's verdict on the client certificate on the first read.
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = conn.Read(make([]byte, 1))
		_ = conn.Close()
	}
	if serr := <-result; serr != nil {
		t.Fatalf("server side: %v", serr)
	}
	if err != nil {
		t.Fatalf("client side: %v", err)
	}
}
