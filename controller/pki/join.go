package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"
)

// JoinMaterial is what a controller joining a cluster receives from a
// member: the network's root certificates and the signing CA with its key.
// Every controller of a cluster signs with the same CA (enrollments go to
// whichever leads, and secrets are derived from its key); each makes its own
// server certificate for its own addresses.
type JoinMaterial struct {
	RootsPEM       []byte
	SigningCertPEM []byte
	SigningKeyPEM  []byte
}

// JoinMaterial exports the roots and the signing CA for a joining controller.
func (a *Authority) JoinMaterial() (JoinMaterial, error) {
	key, err := MarshalPrivateKeyPEM(a.signingKey)
	if err != nil {
		return JoinMaterial{}, err
	}
	signing := append(EncodeCertificatesPEM(a.signingCert), EncodeCertificatesPEM(a.signingChain...)...)
	return JoinMaterial{RootsPEM: EncodeCertificatesPEM(a.roots...), SigningCertPEM: signing, SigningKeyPEM: key}, nil
}

// RootFingerprint is the hex SHA-256 of a certificate's DER encoding, as a
// join token pins the network's root CA by it.
func RootFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// RootFingerprints are the SHA-256 fingerprints of the authority's roots.
func (a *Authority) RootFingerprints() []string {
	out := make([]string, 0, len(a.roots))
	for _, r := range a.roots {
		out = append(out, RootFingerprint(r.Raw))
	}
	return out
}

// InitJoined writes the material of a cluster a controller joins into an
// empty dir, then creates the controller's own server certificate for the
// addresses opts names. The root CA's key is not part of it: Init later
// keeps a root certificate without its key when the signing CA is present.
func InitJoined(dir string, m JoinMaterial, opts InitOptions) (*Files, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("pki join: %w", err)
	}
	files := FilesIn(dir)
	for _, p := range []string{files.RootCert, files.RootKey, files.SigningCert, files.SigningKey, files.ServerCert, files.ServerKey} {
		ok, err := exists(p)
		if err != nil {
			return nil, fmt.Errorf("pki join: %w", err)
		}
		if ok {
			return nil, fmt.Errorf("pki join: %s already exists: a joining controller starts with an empty PKI directory", p)
		}
	}
	roots, err := ParseCertificatesPEM(m.RootsPEM)
	if err != nil {
		return nil, fmt.Errorf("pki join: roots: %w", err)
	}
	signing, err := ParseCertificatesPEM(m.SigningCertPEM)
	if err != nil {
		return nil, fmt.Errorf("pki join: signing CA: %w", err)
	}
	key, err := ParsePrivateKeyPEM(m.SigningKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki join: signing key: %w", err)
	}
	if !keyMatches(signing[0], key) {
		return nil, errors.New("pki join: the signing key does not match the signing CA")
	}
	if _, err := signing[0].Verify(verifyCAOptions(roots, signing[1:])); err != nil {
		return nil, fmt.Errorf("pki join: the signing CA does not chain to the roots: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki join: create directory: %w", err)
	}
	if err := writeNewFile(files.RootCert, EncodeCertificatesPEM(roots...), 0o644); err != nil {
		return nil, fmt.Errorf("pki join: %w", err)
	}
	if err := writePair(files.SigningCert, files.SigningKey, key, signing...); err != nil {
		return nil, fmt.Errorf("pki join: %w", err)
	}
	if err := createServer(files, opts, time.Now(), signing[0], key); err != nil {
		return nil, fmt.Errorf("pki join: server certificate: %w", err)
	}
	return files, nil
}

func verifyCAOptions(roots, chain []*x509.Certificate) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: poolOf(roots), Intermediates: poolOf(chain), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
}
