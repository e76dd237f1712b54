package api_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/enroll"
	"github.com/ostium-net/ostium/controller/pki"
)

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
