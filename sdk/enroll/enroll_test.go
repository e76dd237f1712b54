package enroll

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fullsailor/pkcs7"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// fakeController is a TLS server standing in for a controller's enrollment
// endpoints, with its own CA.
type fakeController struct {
	srv      *httptest.Server
	ca       *x509.Certificate
	caKey    *ecdsa.PrivateKey
	srvKey   *ecdsa.PrivateKey
	cacerts  []*x509.Certificate
	enrolled int
}

func newFakeController(t *testing.T) *fakeController {
	t.Helper()
	f := &fakeController{}
	f.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &f.caKey.PublicKey, f.caKey)
	f.ca, _ = x509.ParseCertificate(der)
	f.cacerts = []*x509.Certificate{f.ca}
	f.srvKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ctrl"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, _ := x509.CreateCertificate(rand.Reader, srvTmpl, f.ca, &f.srvKey.PublicKey, f.caKey)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/est/cacerts", func(w http.ResponseWriter, r *http.Request) {
		var all []byte
		for _, c := range f.cacerts {
			all = append(all, c.Raw...)
		}
		p7, _ := pkcs7.DegenerateCertificate(all)
		w.Header().Set("Content-Type", "application/pkcs7-mime")
		_, _ = io.WriteString(w, base64.StdEncoding.EncodeToString(p7))
	})
	mux.HandleFunc("POST /edge/client/v1/enroll", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		block, _ := pem.Decode(body)
		if r.URL.Query().Get("method") != "ott" || r.Header.Get("Content-Type") != "application/x-pem-file" || block == nil {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":{"code":"COULD_NOT_PROCESS_CSR","message":"bad"}}`)
			return
		}
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil || csr.CheckSignature() != nil {
			w.WriteHeader(400)
			return
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: csr.Subject.CommonName},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, f.ca, csr.PublicKey, f.caKey)
		f.enrolled++
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]string{"cert": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}, "meta": map[string]any{}})
	})
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: f.srvKey}}}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeController) jwt(t *testing.T, method string, exp time.Time, key *ecdsa.PrivateKey) string {
	t.Helper()
	tok := jwt.New()
	_ = tok.Set(jwt.IssuerKey, f.srv.URL)
	_ = tok.Set(jwt.SubjectKey, "identity-1")
	_ = tok.Set(jwt.JwtIDKey, "one-time-token")
	_ = tok.Set(jwt.AudienceKey, []string{""})
	_ = tok.Set(jwt.ExpirationKey, exp)
	_ = tok.Set("em", method)
	_ = tok.Set("ctrls", []string{f.srv.URL})
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, key))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

func TestEnrollOTTVerifiesIssuerThenEnrolls(t *testing.T) {
	f := newFakeController(t)
	res, err := Enroll(context.Background(), f.jwt(t, "ott", time.Now().Add(time.Hour), f.srvKey), Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Identity
	if id == nil || id.ControllerURL != f.srv.URL || id.Chain[0].Subject.CommonName != "identity-1" || f.enrolled != 1 {
		t.Fatalf("identity: %+v enrolled=%d", id, f.enrolled)
	}
	if _, err := id.Chain[0].Verify(x509.VerifyOptions{Roots: id.CAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued chain does not verify with the pinned CAs: %v", err)
	}
}

func TestEnrollRefusesUntrustedTokens(t *testing.T) {
	f := newFakeController(t)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err := Enroll(context.Background(), f.jwt(t, "ott", time.Now().Add(time.Hour), other), Options{})
	if !errors.Is(err, ErrUntrusted) {
		t.Fatalf("JWT signed by another key: %v", err)
	}
	if _, err := Enroll(context.Background(), f.jwt(t, "ott", time.Now().Add(-time.Minute), f.srvKey), Options{}); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v", err)
	}
	// A controller whose certificate does not chain to the CAs it serves.
	f2 := newFakeController(t)
	f2.cacerts = f.cacerts
	if _, err := Enroll(context.Background(), f2.jwt(t, "ott", time.Now().Add(time.Hour), f2.srvKey), Options{}); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("foreign cacerts: %v", err)
	}
	if f.enrolled+f2.enrolled != 0 {
		t.Fatal("a CSR was sent to an untrusted controller")
	}
	if _, err := Peek("not.a.jwt"); err == nil {
		t.Fatal("garbage token accepted")
	}
}

func FuzzPeek(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJodHRwczovL3giLCJqdGkiOiJ0IiwiZW0iOiJvdHQifQ.c2ln")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := Peek(token)
		if err == nil && (c.Issuer == "" || c.Token == "" || c.Method == "") {
			t.Fatal("accepted claims without iss, jti or em")
		}
	})
}

func FuzzParseCACerts(f *testing.F) {
	f.Add([]byte("MIIB"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, body []byte) {
		certs, err := ParseCACerts(body)
		if err == nil && len(certs) == 0 {
			t.Fatal("empty bundle accepted")
		}
	})
}

func TestEnrollOTTWithRSAKey(t *testing.T) {
	f := newFakeController(t)
	res, err := Enroll(context.Background(), f.jwt(t, "ott", time.Now().Add(time.Hour), f.srvKey), Options{KeyAlgorithm: "rsa-2048"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Identity.Key.(*rsa.PrivateKey); !ok {
		t.Fatalf("key is %T, want RSA", res.Identity.Key)
	}
	if _, err := Enroll(context.Background(), f.jwt(t, "ott", time.Now().Add(time.Hour), f.srvKey), Options{KeyAlgorithm: "dsa"}); err == nil {
		t.Fatal("unknown key algorithm accepted")
	}
}
