package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Errors of certificate verification.
var (
	// ErrForeignCA means a certificate was not issued by the expected CA.
	ErrForeignCA = errors.New("certificate not issued by a trusted CA")
	// ErrInvalidCert means a certificate from the expected CA is not
	// acceptable: expired, not yet valid, or without client-auth usage.
	ErrInvalidCert = errors.New("invalid certificate")
	// ErrCAOwnership means a proof of CA possession was refused.
	ErrCAOwnership = errors.New("CA ownership not proven")
)

// VerifyClientCert checks a client's certificate chain, leaf first (as a TLS
// handshake presents it): the leaf must be signed by this authority's signing
// CA, be valid now and allow client authentication, and the CAs above it must
// be valid now. A leaf from any other CA fails with ErrForeignCA; other
// failures wrap ErrInvalidCert. Intermediates sent by the client are ignored.
//
// It runs on every certificate authentication, so it verifies one signature:
// the signing CA's path to the root was verified by Load.
func (a *Authority) VerifyClientCert(chain []*x509.Certificate) error {
	if len(chain) == 0 || chain[0] == nil {
		return fmt.Errorf("%w: no client certificate", ErrInvalidCert)
	}
	leaf := chain[0]
	if !bytes.Equal(leaf.RawIssuer, a.signingCert.RawSubject) || !a.signedBySigningCA(leaf) {
		return fmt.Errorf("%w: %q is not signed by %q", ErrForeignCA, leaf.Subject, a.signingCert.Subject)
	}
	now := time.Now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("%w: %q is valid from %s to %s", ErrInvalidCert, leaf.Subject,
			leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	if len(leaf.UnhandledCriticalExtensions) > 0 {
		return fmt.Errorf("%w: %q has unhandled critical extensions", ErrInvalidCert, leaf.Subject)
	}
	if !allowsClientAuth(leaf) {
		return fmt.Errorf("%w: %q does not allow client authentication", ErrInvalidCert, leaf.Subject)
	}
	for _, ca := range a.signingPath {
		if now.Before(ca.NotBefore) || now.After(ca.NotAfter) {
			return fmt.Errorf("%w: issuing CA %q is valid from %s to %s", ErrInvalidCert, ca.Subject,
				ca.NotBefore.Format(time.RFC3339), ca.NotAfter.Format(time.RFC3339))
		}
	}
	return nil
}

// signedBySigningCA checks the leaf's signature once per certificate: a
// client that signs in again and again presents the same bytes, and the
// signing CA of an Authority never changes. Only good signatures are
// remembered, by a hash of the whole certificate.
func (a *Authority) signedBySigningCA(leaf *x509.Certificate) bool {
	key := sha256.Sum256(leaf.Raw)
	if a.goodSignatures.has(key) {
		return true
	}
	if leaf.CheckSignatureFrom(a.signingCert) != nil {
		return false
	}
	a.goodSignatures.add(key)
	return true
}

// signatureMemo is a bounded set of certificate hashes; when full it starts
// again empty, which costs a verification per certificate and nothing else.
type signatureMemo struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]struct{}
}

const signatureMemoMax = 1 << 14

func (m *signatureMemo) has(k [sha256.Size]byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.seen[k]
	return ok
}

func (m *signatureMemo) add(k [sha256.Size]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil || len(m.seen) >= signatureMemoMax {
		m.seen = make(map[[sha256.Size]byte]struct{})
	}
	m.seen[k] = struct{}{}
}

// allowsClientAuth follows crypto/x509: no extended key usage means any.
func allowsClientAuth(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny)
}

// VerifyClientCertWithCA checks a client's certificate chain, leaf first,
// against one CA (for instance a third-party CA registered for enrollment):
// the leaf, helped by the intermediates in the chain, must chain to ca, be
// valid now and allow client authentication. A leaf that does not chain to ca
// fails with ErrForeignCA; other failures wrap ErrInvalidCert.
func VerifyClientCertWithCA(chain []*x509.Certificate, ca *x509.Certificate) error {
	if len(chain) == 0 || chain[0] == nil {
		return fmt.Errorf("%w: no client certificate", ErrInvalidCert)
	}
	if ca == nil {
		return fmt.Errorf("%w: no CA to verify against", ErrForeignCA)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		if c != nil {
			intermediates.AddCert(c)
		}
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return classifyVerifyError(chain[0], err)
	}
	return nil
}

func classifyVerifyError(leaf *x509.Certificate, err error) error {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return fmt.Errorf("%w: %q: %v", ErrForeignCA, leaf.Subject, err)
	}
	return fmt.Errorf("%w: %q: %v", ErrInvalidCert, leaf.Subject, err)
}

// VerifyCAOwnership checks a proof that the holder of a third-party CA's key
// controls it: proofPEM must hold a certificate signed by the CA in caCertPEM
// whose subject common name equals verificationToken. Failures wrap
// ErrCAOwnership.
func VerifyCAOwnership(caCertPEM, proofPEM []byte, verificationToken string) error {
	if verificationToken == "" {
		return fmt.Errorf("%w: empty verification token", ErrCAOwnership)
	}
	cas, err := ParseCertificatesPEM(caCertPEM)
	if err != nil {
		return fmt.Errorf("%w: CA certificate: %w", ErrCAOwnership, err)
	}
	ca := cas[0]
	if !isCA(ca) {
		return fmt.Errorf("%w: %q is not a CA certificate", ErrCAOwnership, ca.Subject)
	}
	proofs, err := ParseCertificatesPEM(proofPEM)
	if err != nil {
		return fmt.Errorf("%w: proof certificate: %w", ErrCAOwnership, err)
	}
	proof := proofs[0]
	if err := proof.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("%w: proof is not signed by %q: %v", ErrCAOwnership, ca.Subject, err)
	}
	if subtle.ConstantTimeCompare([]byte(proof.Subject.CommonName), []byte(verificationToken)) != 1 {
		return fmt.Errorf("%w: proof common name %q is not the verification token", ErrCAOwnership, proof.Subject.CommonName)
	}
	return nil
}

// ControllerOU marks the server certificates of controllers. Certificates
// signed from CSRs never carry it (signing sets the subject itself), so a
// peer presenting it on the cluster port is a controller of this network.
const ControllerOU = "ostium-controller"

// IsControllerCert reports whether cert carries the controller marker.
func IsControllerCert(cert *x509.Certificate) bool {
	for _, ou := range cert.Subject.OrganizationalUnit {
		if ou == ControllerOU {
			return true
		}
	}
	return false
}
