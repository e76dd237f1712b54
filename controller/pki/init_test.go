package pki

import (
	"bytes"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestInitCreatesFilesWithModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	files, err := Init(dir, InitOptions{})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if *files != *FilesIn(dir) {
		t.Fatalf("Init returned %+v, want %+v", files, FilesIn(dir))
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode %o, want 0700", got)
	}
	for _, key := range []string{files.RootKey, files.SigningKey, files.ServerKey} {
		st, err := os.Stat(key)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode %o, want 0600", filepath.Base(key), got)
		}
		data, err := os.ReadFile(key)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(data), "-----BEGIN PRIVATE KEY-----") {
			t.Errorf("%s is not a PEM private key", filepath.Base(key))
		}
	}

	root := readOne(t, files.RootCert)
	inter := readOne(t, files.SigningCert)
	server, err := readCertificates(files.ServerCert)
	if err != nil {
		t.Fatal(err)
	}
	if len(server) != 2 || !server[1].Equal(inter) {
		t.Fatalf("server.cert holds %d certificates, want server + intermediate", len(server))
	}
	if !root.IsCA || root.CheckSignatureFrom(root) != nil {
		t.Error("root is not a self-signed CA")
	}
	if !inter.IsCA || inter.MaxPathLen != 0 || !inter.MaxPathLenZero {
		t.Errorf("intermediate: IsCA=%v MaxPathLen=%d zero=%v, want CA with pathlen 0", inter.IsCA, inter.MaxPathLen, inter.MaxPathLenZero)
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		t.Errorf("intermediate not signed by root: %v", err)
	}
	if err := server[0].CheckSignatureFrom(inter); err != nil {
		t.Errorf("server not signed by intermediate: %v", err)
	}
	if years := root.NotAfter.Sub(root.NotBefore).Hours() / 24 / 365; years < 9.9 || years > 10.1 {
		t.Errorf("root lifetime %.2f years, want 10", years)
	}
	if years := inter.NotAfter.Sub(inter.NotBefore).Hours() / 24 / 365; years < 4.9 || years > 5.1 {
		t.Errorf("intermediate lifetime %.2f years, want 5", years)
	}
	leaf := server[0]
	if !slices.Equal(leaf.DNSNames, []string{"localhost"}) || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("server SANs %v %v, want localhost and 127.0.0.1", leaf.DNSNames, leaf.IPAddresses)
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("server ExtKeyUsage %v, want server and client auth", leaf.ExtKeyUsage)
	}
	if leaf.IsCA {
		t.Error("server certificate is a CA")
	}
}

func TestInitSANsFromOptions(t *testing.T) {
	a, _ := newAuthority(t, InitOptions{
		DNSNames:    []string{"ctrl.example.net", "ctrl"},
		IPAddresses: []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("::1")},
		Name:        "Example",
	})
	leaf := a.ServerCert()
	if leaf.Subject.CommonName != "ctrl.example.net" {
		t.Errorf("server CN %q", leaf.Subject.CommonName)
	}
	for _, host := range []string{"ctrl.example.net", "ctrl", "10.0.0.5", "::1"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("VerifyHostname(%s): %v", host, err)
		}
	}
	if err := leaf.VerifyHostname("localhost"); err == nil {
		t.Error("default localhost SAN added although names were given")
	}
	if got := a.CABundle()[0].Subject.CommonName; got != "Example Root CA" {
		t.Errorf("root CN %q", got)
	}
}

func TestInitIsIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	first, err := Init(dir, InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, first)
	second, err := Init(dir, InitOptions{KeyAlgorithm: KeyECDSAP384, DNSNames: []string{"other"}})
	if err != nil {
		t.Fatalf("second Init: %v", err)
	}
	if *first != *second {
		t.Fatalf("paths changed: %+v vs %+v", first, second)
	}
	for path, data := range snapshot(t, second) {
		if !bytes.Equal(data, before[path]) {
			t.Errorf("%s was rewritten", filepath.Base(path))
		}
	}
}

func TestInitCompletesMissingServerCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	files, err := Init(dir, InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, files)
	for _, p := range []string{files.ServerCert, files.ServerKey} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Init(dir, InitOptions{DNSNames: []string{"new.example"}}); err != nil {
		t.Fatalf("Init after removing the server certificate: %v", err)
	}
	after := snapshot(t, files)
	for _, p := range []string{files.RootCert, files.RootKey, files.SigningCert, files.SigningKey} {
		if !bytes.Equal(before[p], after[p]) {
			t.Errorf("%s changed", filepath.Base(p))
		}
	}
	a, err := Load(files.Config())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := a.ServerCert().VerifyHostname("new.example"); err != nil {
		t.Errorf("new server certificate: %v", err)
	}
}

func TestInitRefusesInconsistentDirectory(t *testing.T) {
	t.Run("key without certificate", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "pki")
		files, err := Init(dir, InitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(files.ServerCert); err != nil {
			t.Fatal(err)
		}
		if _, err := Init(dir, InitOptions{}); err == nil || !strings.Contains(err.Error(), "server.key") {
			t.Fatalf("Init = %v, want an error naming server.key", err)
		}
		if _, err := os.Stat(files.ServerKey); err != nil {
			t.Errorf("server key touched: %v", err)
		}
	})
	t.Run("intermediate missing below existing server", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "pki")
		files, err := Init(dir, InitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{files.SigningCert, files.SigningKey} {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := Init(dir, InitOptions{}); err == nil {
			t.Fatal("Init accepted a server certificate without its signing CA")
		}
	})
	t.Run("bad key algorithm", func(t *testing.T) {
		if _, err := Init(t.TempDir(), InitOptions{KeyAlgorithm: "dsa-1024"}); err == nil {
			t.Fatal("Init accepted an unknown key algorithm")
		}
	})
}

func TestInitRSA(t *testing.T) {
	a, files := newAuthority(t, InitOptions{KeyAlgorithm: KeyRSA2048})
	for _, c := range append(a.CABundle(), a.ServerCert()) {
		if c.PublicKeyAlgorithm != x509.RSA {
			t.Errorf("%q has a %s key, want RSA", c.Subject, c.PublicKeyAlgorithm)
		}
	}
	if a.ServerCert().KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		t.Error("RSA server certificate lacks key encipherment")
	}
	// An ECDSA client signed by an RSA CA.
	issued, err := a.SignClientCSR(mustCSR(t, mustKey(t, KeyECDSAP256), "x"), ClientProfile{CommonName: "id-rsa"})
	if err != nil {
		t.Fatalf("SignClientCSR: %v", err)
	}
	if issued.Cert.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("signature algorithm %s", issued.Cert.SignatureAlgorithm)
	}
	if err := a.VerifyClientCert([]*x509.Certificate{issued.Cert}); err != nil {
		t.Errorf("VerifyClientCert: %v", err)
	}
	if _, err := Load(files.Config()); err != nil {
		t.Errorf("reload: %v", err)
	}
}

func readOne(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	certs, err := readCertificates(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 1 {
		t.Fatalf("%s holds %d certificates, want 1", path, len(certs))
	}
	return certs[0]
}

func snapshot(t *testing.T, f *Files) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range []string{f.RootCert, f.RootKey, f.SigningCert, f.SigningKey, f.ServerCert, f.ServerKey} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = data
	}
	return out
}
