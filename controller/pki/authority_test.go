package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fullsailor/pkcs7"
)

func TestSignClientCSRChainsToBundle(t *testing.T) {
	a, _ := newAuthority(t, InitOptions{})
	csr := mustCSR(t, mustKey(t, KeyECDSAP256), "chosen-by-client")
	start := time.Now()
	issued, err := a.SignClientCSR(csr, ClientProfile{CommonName: "identity-1"})
	if err != nil {
		t.Fatalf("SignClientCSR: %v", err)
	}
	cert := issued.Cert
	if cert.Subject.CommonName != "identity-1" {
		t.Errorf("CN %q, want the profile's", cert.Subject.CommonName)
	}
	if !bytes.Equal(issued.DER, cert.Raw) {
		t.Error("DER differs from Cert.Raw")
	}
	sum := sha1.Sum(cert.Raw)
	if issued.Fingerprint != hex.EncodeToString(sum[:]) || issued.Fingerprint != Fingerprint(issued.DER) {
		t.Errorf("fingerprint %q", issued.Fingerprint)
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || cert.IsCA {
		t.Errorf("ExtKeyUsage %v IsCA %v, want client auth leaf", cert.ExtKeyUsage, cert.IsCA)
	}
	if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v is not a positive 128-bit number", cert.SerialNumber)
	}
	if !cert.NotBefore.Before(start) {
		t.Errorf("NotBefore %v not backdated", cert.NotBefore)
	}
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	if want := DefaultIdentityLifetime + backdate; lifetime < want-time.Hour || lifetime > want+time.Hour {
		t.Errorf("lifetime %v, want about %v", lifetime, want)
	}

	// Verify with crypto/x509 alone, from the published bundle and chain.
	roots := x509.NewCertPool()
	inters := x509.NewCertPool()
	for _, ca := range a.CABundle() {
		if bytes.Equal(ca.RawIssuer, ca.RawSubject) {
			roots.AddCert(ca)
		} else {
			inters.AddCert(ca)
		}
	}
	chains, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatalf("Verify against CABundle: %v", err)
	}
	if len(chains[0]) != 3 || !chains[0][1].Equal(a.SigningCert()) {
		t.Errorf("chain of %d, want leaf → intermediate → root", len(chains[0]))
	}
	chainPEM, err := ParseCertificatesPEM(issued.ChainPEM)
	if err != nil || len(chainPEM) != 2 || !chainPEM[0].Equal(cert) || !chainPEM[1].Equal(a.SigningCert()) {
		t.Errorf("ChainPEM: %d certificates, %v; want leaf + intermediate", len(chainPEM), err)
	}
	leafPEM, err := ParseCertificatesPEM(issued.PEM)
	if err != nil || len(leafPEM) != 1 || !leafPEM[0].Equal(cert) {
		t.Errorf("PEM does not hold the leaf alone: %v", err)
	}
	if err := a.VerifyClientCert([]*x509.Certificate{cert}); err != nil {
		t.Errorf("VerifyClientCert: %v", err)
	}

	short, err := a.SignClientCSR(csr, ClientProfile{CommonName: "api-session", Lifetime: a.Lifetimes().APISessionCert})
	if err != nil {
		t.Fatal(err)
	}
	if got := short.Cert.NotAfter.Sub(short.Cert.NotBefore); got != 12*time.Hour+backdate {
		t.Errorf("API-session certificate lifetime %v, want 12h (+backdate)", got)
	}
	if short.Fingerprint == issued.Fingerprint || short.Cert.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Error("two issued certificates share a serial or fingerprint")
	}
}

func TestSignClientCSRCommonName(t *testing.T) {
	a, _ := newAuthority(t, InitOptions{})
	key := mustKey(t, KeyECDSAP256)
	issued, err := a.SignClientCSR(mustCSR(t, key, "from-csr"), ClientProfile{})
	if err != nil {
		t.Fatal(err)
	}
	if issued.Cert.Subject.CommonName != "from-csr" {
		t.Errorf("CN %q, want the request's when the profile has none", issued.Cert.Subject.CommonName)
	}
	if _, err := a.SignClientCSR(mustCSR(t, key, ""), ClientProfile{}); err == nil {
		t.Error("signed a certificate without any common name")
	}
}

func TestSignClientCSRRefusesTamperedRequest(t *testing.T) {
	a, _ := newAuthority(t, InitOptions{})
	csr := mustCSR(t, mustKey(t, KeyECDSAP256), "victim")

	tamper := func(t *testing.T, der []byte) {
		t.Helper()
		forged, err := x509.ParseCertificateRequest(der)
		if err != nil {
			t.Fatalf("tampered request no longer parses: %v", err)
		}
		if _, err := a.SignClientCSR(forged, ClientProfile{CommonName: "x"}); !errors.Is(err, ErrInvalidCSR) {
			t.Fatalf("SignClientCSR = %v, want ErrInvalidCSR", err)
		}
		if _, err := a.SignServerCSR(forged, ServerProfile{CommonName: "x", DNSNames: []string{"x"}}); !errors.Is(err, ErrInvalidCSR) {
			t.Fatalf("SignServerCSR = %v, want ErrInvalidCSR", err)
		}
	}
	t.Run("signature", func(t *testing.T) {
		der := bytes.Clone(csr.Raw)
		i := bytes.LastIndex(der, csr.Signature)
		der[i+len(csr.Signature)/2] ^= 0x01
		tamper(t, der)
	})
	t.Run("subject", func(t *testing.T) {
		der := bytes.Clone(csr.Raw)
		i := bytes.Index(der, []byte("victim"))
		copy(der[i:], "attack")
		tamper(t, der)
	})
	t.Run("nil", func(t *testing.T) {
		if _, err := a.SignClientCSR(nil, ClientProfile{CommonName: "x"}); !errors.Is(err, ErrInvalidCSR) {
			t.Fatalf("SignClientCSR(nil) = %v, want ErrInvalidCSR", err)
		}
	})
}

func TestSignClientCSRKeyTypes(t *testing.T) {
	a, _ := newAuthority(t, InitOptions{})
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		signer func() crypto.Signer
		ok     bool
	}{
		{"ecdsa-p256", func() crypto.Signer { return mustKey(t, KeyECDSAP256) }, true},
		{"ecdsa-p384", func() crypto.Signer { return mustKey(t, KeyECDSAP384) }, true},
		{"ecdsa-p521", func() crypto.Signer { return p521 }, true},
		{"rsa-2048", func() crypto.Signer { return mustKey(t, KeyRSA2048) }, true},
		{"rsa-1024", func() crypto.Signer { return rsa1024 }, false},
		{"ed25519", func() crypto.Signer { return ed }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.signer()
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
			if err != nil {
				t.Fatal(err)
			}
			csr, err := ParseCSR(der, "application/pkcs10")
			if err != nil {
				t.Fatal(err)
			}
			issued, err := a.SignClientCSR(csr, ClientProfile{CommonName: tc.name})
			if tc.ok {
				if err != nil {
					t.Fatalf("SignClientCSR: %v", err)
				}
				if !keyMatches(issued.Cert, key) {
					t.Error("issued certificate does not carry the request's key")
				}
				return
			}
			if !errors.Is(err, ErrInvalidCSR) || !errors.Is(err, ErrUnsupportedKey) {
				t.Fatalf("SignClientCSR = %v, want ErrInvalidCSR and ErrUnsupportedKey", err)
			}
		})
	}
}

func TestSignServerCSR(t *testing.T) {
	a, _ := newAuthority(t, InitOptions{})
	key := mustKey(t, KeyECDSAP256)
	pemCSR, err := GenerateCSR(key, "router-csr", []string{"router.from.csr"}, []net.IP{net.ParseIP("192.0.2.7")})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSR(pemCSR, "")
	if err != nil {
		t.Fatal(err)
	}

	issued, err := a.SignServerCSR(csr, ServerProfile{CommonName: "router-1", DNSNames: []string{"edge.example"}, Lifetime: time.Hour})
	if err != nil {
		t.Fatalf("SignServerCSR: %v", err)
	}
	cert := issued.Cert
	if cert.Subject.CommonName != "router-1" || !slices.Equal(cert.DNSNames, []string{"edge.example"}) || len(cert.IPAddresses) != 0 {
		t.Errorf("CN %q DNS %v IPs %v, want the profile's names only", cert.Subject.CommonName, cert.DNSNames, cert.IPAddresses)
	}
	if got := cert.NotAfter.Sub(cert.NotBefore); got != time.Hour+backdate {
		t.Errorf("lifetime %v", got)
	}
	if _, err := cert.Verify(x509.VerifyOptions{
		DNSName: "edge.example", Roots: a.CAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		t.Errorf("verify as server: %v", err)
	}
	if err := a.VerifyClientCert([]*x509.Certificate{cert}); err != nil {
		t.Errorf("router server certificate not usable as client (links): %v", err)
	}

	fromCSR, err := a.SignServerCSR(csr, ServerProfile{CommonName: "router-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fromCSR.Cert.DNSNames, []string{"router.from.csr"}) || len(fromCSR.Cert.IPAddresses) != 1 || !fromCSR.Cert.IPAddresses[0].Equal(net.ParseIP("192.0.2.7")) {
		t.Errorf("SANs %v %v, want the request's", fromCSR.Cert.DNSNames, fromCSR.Cert.IPAddresses)
	}
	if got := fromCSR.Cert.NotAfter.Sub(fromCSR.Cert.NotBefore); got != DefaultServerCertLifetime+backdate {
		t.Errorf("default lifetime %v", got)
	}

	if _, err := a.SignServerCSR(mustCSR(t, key, "bare"), ServerProfile{}); !errors.Is(err, ErrInvalidCSR) {
		t.Errorf("server certificate without names: %v, want ErrInvalidCSR", err)
	}
}

func TestIssuedLifetimeCappedBySigningCA(t *testing.T) {
	a, _ := newAuthority(t, InitOptions{IntermediateLifetime: 48 * time.Hour})
	issued, err := a.SignClientCSR(mustCSR(t, mustKey(t, KeyECDSAP256), "x"), ClientProfile{Lifetime: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if issued.Cert.NotAfter.After(a.SigningCert().NotAfter) {
		t.Errorf("issued certificate outlives its CA: %v > %v", issued.Cert.NotAfter, a.SigningCert().NotAfter)
	}
}

func TestVerifyClientCert(t *testing.T) {
	a, files := newAuthority(t, InitOptions{})
	other, _ := newAuthority(t, InitOptions{})
	key := mustKey(t, KeyECDSAP256)
	csr := mustCSR(t, key, "x")
	rootKey, err := readKey(files.RootKey)
	if err != nil {
		t.Fatal(err)
	}

	ours, err := a.SignClientCSR(csr, ClientProfile{CommonName: "ours"})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := other.SignClientCSR(csr, ClientProfile{CommonName: "theirs"})
	if err != nil {
		t.Fatal(err)
	}
	selfCA, selfKey := mustSelfSignedCA(t, "rogue")
	now := time.Now()
	rogue := mustLeaf(t, "rogue-leaf", selfCA, selfKey, key.Public(), now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	// Same issuer name as our signing CA, different key.
	impostorTemplate := *a.SigningCert()
	impostorCA := mustLeafCA(t, &impostorTemplate, selfKey)
	impostor := mustLeaf(t, "impostor", impostorCA, selfKey, key.Public(), now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	expired := mustLeaf(t, "expired", a.signingCert, a.signingKey, key.Public(), now.Add(-2*time.Hour), now.Add(-time.Hour), x509.ExtKeyUsageClientAuth)
	serverOnly := mustLeaf(t, "server-only", a.signingCert, a.signingKey, key.Public(), now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageServerAuth)
	byRoot := mustLeaf(t, "by-root", a.roots[0], rootKey, key.Public(), now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	// Ours, byte for byte, but for the last byte of its signature: checked
	// after the genuine one was verified (and remembered), it must still fail.
	forgedRaw := bytes.Clone(ours.Cert.Raw)
	forgedRaw[len(forgedRaw)-1] ^= 0x01
	forged, err := x509.ParseCertificate(forgedRaw)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
		want  error
	}{
		{"ours", []*x509.Certificate{ours.Cert}, nil},
		{"ours with client-sent intermediate", []*x509.Certificate{ours.Cert, a.SigningCert()}, nil},
		{"ours again, its signature remembered", []*x509.Certificate{ours.Cert}, nil},
		{"ours with an altered signature", []*x509.Certificate{forged}, ErrForeignCA},
		{"other authority", []*x509.Certificate{theirs.Cert}, ErrForeignCA},
		{"other authority with our intermediate sent along", []*x509.Certificate{theirs.Cert, a.SigningCert()}, ErrForeignCA},
		{"self-signed CA", []*x509.Certificate{rogue, selfCA}, ErrForeignCA},
		{"impostor with our issuer name", []*x509.Certificate{impostor}, ErrForeignCA},
		{"signed by our root directly", []*x509.Certificate{byRoot}, ErrForeignCA},
		{"expired", []*x509.Certificate{expired}, ErrInvalidCert},
		{"no client auth usage", []*x509.Certificate{serverOnly}, ErrInvalidCert},
		{"empty", nil, ErrInvalidCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.VerifyClientCert(tc.chain)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifyClientCert: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyClientCert = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyClientCertWithCA(t *testing.T) {
	ca, caKey := mustSelfSignedCA(t, "third-party")
	otherCA, _ := mustSelfSignedCA(t, "other")
	key := mustKey(t, KeyECDSAP256)
	now := time.Now()
	leaf := mustLeaf(t, "device", ca, caKey, key.Public(), now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	if err := VerifyClientCertWithCA([]*x509.Certificate{leaf}, ca); err != nil {
		t.Errorf("VerifyClientCertWithCA: %v", err)
	}
	if err := VerifyClientCertWithCA([]*x509.Certificate{leaf}, otherCA); !errors.Is(err, ErrForeignCA) {
		t.Errorf("against another CA: %v, want ErrForeignCA", err)
	}
	if err := VerifyClientCertWithCA(nil, ca); !errors.Is(err, ErrInvalidCert) {
		t.Errorf("empty chain: %v, want ErrInvalidCert", err)
	}
}

func TestCACertsPKCS7(t *testing.T) {
	extraCA, _ := newAuthority(t, InitOptions{Name: "Extra"})
	extraPath := filepath.Join(t.TempDir(), "extra.pem")
	if err := os.WriteFile(extraPath, extraCA.CAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, files := newAuthority(t, InitOptions{})
	cfg := files.Config()
	// The root listed again as "extra" must not be duplicated.
	cfg.ExtraTrustedCAs = []string{extraPath, files.RootCert}
	a, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bundle := a.CABundle()
	if len(bundle) != 4 {
		t.Fatalf("CABundle holds %d certificates, want root + intermediate + 2 extra", len(bundle))
	}

	body, err := a.CACertsPKCS7()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(body, []byte("\n")) {
		t.Error("body does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	for i, line := range lines {
		if len(line) > 64 || (i < len(lines)-1 && len(line) != 64) {
			t.Errorf("line %d has %d characters", i+1, len(line))
		}
	}
	der, err := base64.StdEncoding.DecodeString(string(body))
	if err != nil {
		t.Fatalf("base64: %v", err)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatalf("pkcs7.Parse: %v", err)
	}
	if len(p7.Certificates) != len(bundle) {
		t.Fatalf("PKCS#7 holds %d certificates, want %d", len(p7.Certificates), len(bundle))
	}
	if !slices.IsSortedFunc(p7.Certificates, func(x, y *x509.Certificate) int { return bytes.Compare(x.Raw, y.Raw) }) {
		t.Error("certificates are not in DER order")
	}
	for _, c := range bundle {
		if !slices.ContainsFunc(p7.Certificates, c.Equal) {
			t.Errorf("%q missing from PKCS#7", c.Subject)
		}
	}
	if len(p7.Signers) != 0 {
		t.Error("degenerate PKCS#7 has signers")
	}

	pemCerts, err := ParseCertificatesPEM(a.CAPEM())
	if err != nil || !slices.EqualFunc(pemCerts, bundle, (*x509.Certificate).Equal) {
		t.Errorf("CAPEM does not hold CABundle: %v", err)
	}
	for _, c := range bundle {
		if _, err := c.Verify(x509.VerifyOptions{Roots: a.CAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%q does not verify against CAPool: %v", c.Subject, err)
		}
	}
	// Callers cannot alter the authority through returned values.
	body[0] ^= 0xff
	again, _ := a.CACertsPKCS7()
	if bytes.Equal(body, again) {
		t.Error("CACertsPKCS7 returned shared memory")
	}
}

func TestLoadOperatorProvidedFiles(t *testing.T) {
	src, err := Init(filepath.Join(t.TempDir(), "made-elsewhere"), InitOptions{DNSNames: []string{"ctrl.example"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(p string) []byte {
		t.Helper()
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	// Keys as SEC 1 "EC PRIVATE KEY", server certificate without its chain.
	sec1 := func(p string) []byte {
		key, err := ParsePrivateKeyPEM(read(p))
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	serverCerts, err := readCertificates(src.ServerCert)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		RootCert:         write("ca.pem", read(src.RootCert)),
		SigningCert:      write("signing.pem", read(src.SigningCert)),
		SigningKey:       write("signing-key.pem", sec1(src.SigningKey)),
		ServerCert:       write("tls.crt", EncodeCertificatesPEM(serverCerts[0])),
		ServerKey:        write("tls.key", sec1(src.ServerKey)),
		IdentityLifetime: 24 * time.Hour,
	}
	a, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load operator files: %v", err)
	}
	if a.Lifetimes() != (Lifetimes{Identity: 24 * time.Hour, Router: DefaultRouterLifetime, APISessionCert: DefaultAPISessionCertLifetime, ServerCert: DefaultServerCertLifetime}) {
		t.Errorf("lifetimes %+v", a.Lifetimes())
	}
	tlsCert, err := a.ServerTLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if len(tlsCert.Certificate) != 2 || !bytes.Equal(tlsCert.Certificate[1], a.SigningCert().Raw) {
		t.Errorf("TLS chain has %d certificates, want server + intermediate", len(tlsCert.Certificate))
	}
	issued, err := a.SignClientCSR(mustCSR(t, mustKey(t, KeyECDSAP256), "x"), ClientProfile{CommonName: "op"})
	if err != nil {
		t.Fatal(err)
	}
	if got := issued.Cert.NotAfter.Sub(issued.Cert.NotBefore); got != 24*time.Hour+backdate {
		t.Errorf("configured identity lifetime not applied: %v", got)
	}
	if err := a.VerifyClientCert([]*x509.Certificate{issued.Cert}); err != nil {
		t.Error(err)
	}
	if a.ServerCertKID() != Fingerprint(serverCerts[0].Raw) {
		t.Error("ServerCertKID is not the server certificate's SHA-1")
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	_, files := newAuthority(t, InitOptions{})
	_, other := newAuthority(t, InitOptions{})
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"server key of another authority", func(c *Config) { c.ServerKey = other.ServerKey }},
		{"signing key of another authority", func(c *Config) { c.SigningKey = other.SigningKey }},
		{"signing CA of another root", func(c *Config) { c.RootCert = other.RootCert }},
		{"server certificate of another authority", func(c *Config) { c.ServerCert, c.ServerKey = other.ServerCert, other.ServerKey }},
		{"server certificate as signing CA", func(c *Config) { c.SigningCert, c.SigningKey = files.ServerCert, files.ServerKey }},
		{"missing file", func(c *Config) { c.RootCert = filepath.Join(t.TempDir(), "absent.pem") }},
		{"key file as certificate", func(c *Config) { c.RootCert = files.RootKey }},
		{"empty path", func(c *Config) { c.ServerKey = "" }},
		{"negative lifetime", func(c *Config) { c.RouterLifetime = -time.Hour }},
		{"missing extra CA file", func(c *Config) { c.ExtraTrustedCAs = []string{filepath.Join(t.TempDir(), "nope")} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := files.Config()
			tc.mutate(&cfg)
			if _, err := Load(cfg); err == nil {
				t.Fatal("Load accepted bad files")
			}
		})
	}
}

func TestServerTLSHandshakeWithIssuedClientCert(t *testing.T) {
	a, _ := newAuthority(t, InitOptions{})
	serverTLS, err := a.ServerTLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	clientKey := mustKey(t, KeyECDSAP256)
	issued, err := a.SignClientCSR(mustCSR(t, clientKey, "x"), ClientProfile{CommonName: "identity-tls"})
	if err != nil {
		t.Fatal(err)
	}
	clientTLS := tls.Certificate{Certificate: [][]byte{issued.DER, a.SigningCert().Raw}, PrivateKey: clientKey}

	serverConn, clientConn := net.Pipe()
	defer serverConn.Close()
	defer clientConn.Close()
	server := tls.Server(serverConn, &tls.Config{
		Certificates: []tls.Certificate{serverTLS},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	client := tls.Client(clientConn, &tls.Config{
		ServerName:   "localhost",
		RootCAs:      a.CAPool(),
		Certificates: []tls.Certificate{clientTLS},
		MinVersion:   tls.VersionTLS12,
	})
	done := make(chan error, 1)
	go func() {
		if err := server.Handshake(); err != nil {
			done <- err
			return
		}
		done <- a.VerifyClientCert(server.ConnectionState().PeerCertificates)
		// Drain the client's close.
		_, _ = io.Copy(io.Discard, server)
	}()
	if err := client.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server side: %v", err)
	}
	_ = client.Close()
}

func TestVerifyCAOwnership(t *testing.T) {
	ca, caKey := mustSelfSignedCA(t, "third-party")
	otherCA, otherKey := mustSelfSignedCA(t, "other")
	caPEM := EncodeCertificatesPEM(ca)
	key := mustKey(t, KeyECDSAP256)
	now := time.Now()
	const token = "0f9c2a7e-verification"
	proof := EncodeCertificatesPEM(mustLeaf(t, token, ca, caKey, key.Public(), now.Add(-time.Hour), now.Add(time.Hour)))
	wrongCN := EncodeCertificatesPEM(mustLeaf(t, "something-else", ca, caKey, key.Public(), now.Add(-time.Hour), now.Add(time.Hour)))
	otherSigner := EncodeCertificatesPEM(mustLeaf(t, token, otherCA, otherKey, key.Public(), now.Add(-time.Hour), now.Add(time.Hour)))
	leafAsCA := proof

	if err := VerifyCAOwnership(caPEM, proof, token); err != nil {
		t.Fatalf("VerifyCAOwnership: %v", err)
	}
	for _, tc := range []struct {
		name         string
		ca, proof    []byte
		verification string
	}{
		{"wrong common name", caPEM, wrongCN, token},
		{"signed by another CA", caPEM, otherSigner, token},
		{"empty token", caPEM, proof, ""},
		{"token prefix", caPEM, proof, token[:5]},
		{"CA is not a CA", leafAsCA, proof, token},
		{"proof is not PEM", caPEM, []byte("not a certificate"), token},
		{"CA is not PEM", nil, proof, token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := VerifyCAOwnership(tc.ca, tc.proof, tc.verification); !errors.Is(err, ErrCAOwnership) {
				t.Fatalf("VerifyCAOwnership = %v, want ErrCAOwnership", err)
			}
		})
	}
}

// mustLeafCA self-signs a copy of template (a CA) with key.
func mustLeafCA(t *testing.T, template *x509.Certificate, key crypto.Signer) *x509.Certificate {
	t.Helper()
	template.PublicKey = nil
	template.SubjectKeyId = nil
	template.AuthorityKeyId = nil
	cert, err := issue(template, template, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestDeriveSecretIsStableAndBoundToPurpose(t *testing.T) {
	dir := t.TempDir()
	files, err := Init(dir, InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a1, err := Load(files.Config())
	if err != nil {
		t.Fatal(err)
	}
	a2, err := Load(files.Config())
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := a1.DeriveSecret("tokens")
	s2, _ := a2.DeriveSecret("tokens")
	s3, _ := a1.DeriveSecret("other")
	if len(s1) != 32 || string(s1) != string(s2) || string(s1) == string(s3) {
		t.Fatal("derived secrets must be stable per key and differ per purpose")
	}
	other, _ := Init(t.TempDir(), InitOptions{})
	a3, _ := Load(other.Config())
	s4, _ := a3.DeriveSecret("tokens")
	if string(s1) == string(s4) {
		t.Fatal("two networks derived the same secret")
	}
}
