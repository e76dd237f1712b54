package pki

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"path/filepath"
	"testing"
	"time"
)

// newAuthority initialises a fresh directory and loads it.
func newAuthority(t *testing.T, opts InitOptions) (*Authority, *Files) {
	t.Helper()
	files, err := Init(filepath.Join(t.TempDir(), "pki"), opts)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	a, err := Load(files.Config())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return a, files
}

func mustKey(t *testing.T, alg KeyAlgorithm) crypto.Signer {
	t.Helper()
	key, err := GenerateKey(alg)
	if err != nil {
		t.Fatalf("GenerateKey(%s): %v", alg, err)
	}
	return key
}

// mustCSR creates and parses a request for key.
func mustCSR(t *testing.T, key crypto.Signer, cn string) *x509.CertificateRequest {
	t.Helper()
	pemData, err := GenerateCSR(key, cn, nil, nil)
	if err != nil {
		t.Fatalf("GenerateCSR: %v", err)
	}
	csr, err := ParseCSR(pemData, "application/x-pem-file")
	if err != nil {
		t.Fatalf("ParseCSR: %v", err)
	}
	return csr
}

// mustSelfSignedCA makes a throwaway CA outside any authority.
func mustSelfSignedCA(t *testing.T, cn string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := mustKey(t, KeyECDSAP256)
	template := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	cert, err := issue(template, template, key.Public(), key)
	if err != nil {
		t.Fatalf("self-signed CA: %v", err)
	}
	return cert, key
}

// mustLeaf signs a leaf certificate for pub with the given parent.
func mustLeaf(t *testing.T, cn string, parent *x509.Certificate, parentKey crypto.Signer, pub crypto.PublicKey, notBefore, notAfter time.Time, eku ...x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	template := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: eku,
	}
	cert, err := issue(template, parent, pub, parentKey)
	if err != nil {
		t.Fatalf("leaf %q: %v", cn, err)
	}
	return cert
}
