package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/pki"
)

// thirdPartyCA is a certificate authority outside the network, made by a test.
type thirdPartyCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func nextSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

// decodeEnvelope decodes a raw JSON answer.
func decodeEnvelope(t testing.TB, body []byte) map[string]any {
	t.Helper()
	env := map[string]any{}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("answer is not JSON: %q", body)
		}
	}
	return env
}

func urlQuery(s string) string { return url.QueryEscape(s) }

func newThirdPartyCA(t testing.TB, name string) *thirdPartyCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &thirdPartyCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue signs a client certificate with common name cn.
func (ca *thirdPartyCA) issue(t testing.TB, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// networkClientCert is a client certificate issued by the controller's own CA.
func networkClientCert(t testing.TB, c *testCtl, cn string) (certPEM, fingerprint string) {
	t.Helper()
	authority, err := pki.Load(c.cfg.PKIConfigFiles())
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.GenerateKey(pki.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, err := pki.GenerateCSR(key, cn, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.ParseCSR(csrPEM, "")
	if err != nil {
		t.Fatal(err)
	}
	issued, err := authority.SignClientCSR(csr, pki.ClientProfile{})
	if err != nil {
		t.Fatal(err)
	}
	return string(issued.PEM), issued.Fingerprint
}

func caBody(name, certPEM string) map[string]any {
	return map[string]any{"name": name, "certPem": certPEM, "isAutoCaEnrollmentEnabled": true,
		"isOttCaEnrollmentEnabled": true, "isAuthEnabled": true, "identityRoles": []string{"from-ca"}}
}

func TestCACRUDAndVerification(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	third := newThirdPartyCA(t, "Third Party Root")

	id := admin.create("/cas", caBody("third", third.pem))
	status, env := admin.do("GET", "/cas/"+id, nil)
	if status != 200 {
		t.Fatalf("detail: %d %v", status, env)
	}
	d := data(env)
	token, _ := d["verificationToken"].(string)
	if d["isVerified"] != false || token == "" || d["fingerprint"] != pki.Fingerprint(third.cert.Raw) || d["name"] != "third" {
		t.Fatalf("new CA detail: %v", d)
	}
	if roles, _ := d["identityRoles"].([]any); len(roles) != 1 || roles[0] != "from-ca" {
		t.Fatalf("identityRoles: %v", d["identityRoles"])
	}

	// The same certificate cannot be registered twice.
	if status, env := admin.do("POST", "/cas", caBody("again", third.pem)); status != 409 || errorCode(env) != "CONFLICT" {
		t.Fatalf("duplicate CA: %d %v", status, env)
	}

	verify := func(proof string) (int, map[string]any) {
		t.Helper()
		st, _, body := admin.raw("POST", "/cas/"+id+"/verify", "text/plain", []byte(proof))
		return st, decodeEnvelope(t, body)
	}
	// A proof with the wrong common name, or signed by another CA, is refused.
	other := newThirdPartyCA(t, "Someone Else")
	for name, proof := range map[string]string{
		"wrong common name": third.issue(t, "not-the-token"),
		"foreign signer":    other.issue(t, token),
		"not a certificate": "hello",
	} {
		if st, env := verify(proof); st != 400 || (errorCode(env) != "INVALID_CA_VERIFICATION" && errorCode(env) != "COULD_NOT_VALIDATE") {
			t.Fatalf("%s: %d %v", name, st, env)
		}
	}
	if _, env := admin.do("GET", "/cas/"+id, nil); data(env)["isVerified"] != false {
		t.Fatal("a refused proof verified the CA")
	}
	if st, env := verify(third.issue(t, token)); st != 200 {
		t.Fatalf("verify: %d %v", st, env)
	}
	_, env = admin.do("GET", "/cas/"+id, nil)
	if data(env)["isVerified"] != true {
		t.Fatalf("after verify: %v", data(env))
	}
	if tok, has := data(env)["verificationToken"]; has && tok != nil {
		t.Fatalf("a verified CA still shows its verification token: %v", tok)
	}

	// PATCH changes only what is given; PUT replaces the mutable fields.
	if status, env := admin.do("PATCH", "/cas/"+id, map[string]any{"isAuthEnabled": false}); status != 200 {
		t.Fatalf("patch: %d %v", status, env)
	}
	_, env = admin.do("GET", "/cas/"+id, nil)
	if d := data(env); d["isAuthEnabled"] != false || d["isOttCaEnrollmentEnabled"] != true || d["name"] != "third" {
		t.Fatalf("after patch: %v", d)
	}
	put := map[string]any{"name": "renamed", "isAutoCaEnrollmentEnabled": false, "isOttCaEnrollmentEnabled": false,
		"isAuthEnabled": true, "identityRoles": []string{}, "identityNameFormat": "[caName]-[commonName]",
		"externalIdClaim": map[string]any{"location": "COMMON_NAME", "matcher": "ALL", "parser": "NONE", "index": 0}}
	if status, env := admin.do("PUT", "/cas/"+id, put); status != 200 {
		t.Fatalf("put: %d %v", status, env)
	}
	_, env = admin.do("GET", "/cas/"+id, nil)
	if d := data(env); d["name"] != "renamed" || d["isOttCaEnrollmentEnabled"] != false || d["identityNameFormat"] != "[caName]-[commonName]" ||
		d["externalIdClaim"].(map[string]any)["location"] != "COMMON_NAME" || d["isVerified"] != true {
		t.Fatalf("after put: %v", d)
	}
	if status, env := admin.do("GET", "/cas?filter="+urlQuery(`name="renamed"`), nil); status != 200 || len(items(env)) != 1 {
		t.Fatalf("filtered list: %d %v", status, env)
	}

	// The CA's auto-enrollment JWT (checked in depth by TestEnrollCA).
	if st, _, body := admin.raw("GET", "/cas/"+id+"/jwt", "", nil); st != 200 || jwtToken(t, string(body)) != id {
		t.Fatalf("jwt: %d %s", st, body)
	}
	if status, _ := admin.do("DELETE", "/cas/"+id, nil); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	if status, env := admin.do("GET", "/cas/"+id, nil); status != 404 || errorCode(env) != "NOT_FOUND" {
		t.Fatalf("after delete: %d %v", status, env)
	}

	// Bad input, on the same controller.
	t.Run("bad input", func(t *testing.T) { caBadInput(t, c) })
}

// caBadInput sends bad input to every operation of the entity.
func caBadInput(t *testing.T, c *testCtl) {
	admin := c.adminClient(t)
	third := newThirdPartyCA(t, "Root")
	leaf := third.issue(t, "leaf")
	for name, body := range map[string]any{
		"malformed JSON":     `{"name": `,
		"wrong type":         map[string]any{"name": 7, "certPem": third.pem, "isAutoCaEnrollmentEnabled": true, "isOttCaEnrollmentEnabled": true, "isAuthEnabled": true, "identityRoles": []string{}},
		"missing certPem":    map[string]any{"name": "x", "isAutoCaEnrollmentEnabled": true, "isOttCaEnrollmentEnabled": true, "isAuthEnabled": true, "identityRoles": []string{}},
		"not PEM":            caBody("x", "not a certificate"),
		"not a CA":           caBody("x", leaf),
		"over-long name":     caBody(strings.Repeat("n", 300), third.pem),
		"bad claim location": map[string]any{"name": "x", "certPem": third.pem, "isAutoCaEnrollmentEnabled": true, "isOttCaEnrollmentEnabled": true, "isAuthEnabled": true, "identityRoles": []string{}, "externalIdClaim": map[string]any{"location": "NOWHERE", "matcher": "ALL", "parser": "NONE", "index": 0}},
	} {
		if status, env := admin.do("POST", "/cas", body); status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Errorf("%s: %d %v", name, status, env)
		}
	}
	for _, op := range []struct{ method, path string }{
		{"GET", "/cas/nope"}, {"DELETE", "/cas/nope"}, {"GET", "/cas/nope/jwt"},
	} {
		if status, env := admin.do(op.method, op.path, nil); status != 404 || errorCode(env) != "NOT_FOUND" {
			t.Errorf("%s %s: %d %v", op.method, op.path, status, env)
		}
	}
	if status, env := admin.do("PATCH", "/cas/nope", map[string]any{"name": "x"}); status != 404 {
		t.Errorf("patch unknown: %d %v", status, env)
	}
	if st, _, body := admin.raw("POST", "/cas/nope/verify", "text/plain", []byte(leaf)); st != 404 {
		t.Errorf("verify unknown: %d %s", st, body)
	}
}
