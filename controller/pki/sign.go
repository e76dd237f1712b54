package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"
)

// ClientProfile says how to issue a client certificate.
type ClientProfile struct {
	// CommonName replaces the request's subject: the controller sets it to
	// the identity or router id. When empty, the request's common name is
	// used; one of the two must be set.
	CommonName string
	// Lifetime of the certificate; zero selects the identity lifetime.
	Lifetime time.Duration
}

// ServerProfile says how to issue a server certificate (a router's).
type ServerProfile struct {
	// CommonName replaces the request's subject, as in ClientProfile.
	CommonName string
	// DNSNames and IPs are the subject alternative names. When both are
	// empty, the request's DNS and IP names are used; the certificate must
	// end up with at least one.
	DNSNames []string
	IPs      []net.IP
	// Lifetime of the certificate; zero selects the server certificate lifetime.
	Lifetime time.Duration
}

// Issued is a certificate the authority signed.
type Issued struct {
	Cert *x509.Certificate
	DER  []byte
	// PEM is the certificate alone; ChainPEM is the certificate followed by
	// the signing CA (and any intermediates above it, short of the root).
	PEM      []byte
	ChainPEM []byte
	// Fingerprint is the lowercase hex SHA-1 of DER.
	Fingerprint string
}

// SignClientCSR issues a client-authentication certificate for the request's
// key. The request's signature and key are checked first; failures wrap
// ErrInvalidCSR. Nothing else is taken from the request.
func (a *Authority) SignClientCSR(csr *x509.CertificateRequest, p ClientProfile) (*Issued, error) {
	if err := checkCSR(csr); err != nil {
		return nil, err
	}
	cn, err := commonName(p.CommonName, csr)
	if err != nil {
		return nil, err
	}
	lifetime := p.Lifetime
	if lifetime == 0 {
		lifetime = a.lifetimes.Identity
	}
	template := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    leafKeyUsage(csr.PublicKey),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	issued, err := a.sign(template, csr, lifetime)
	if err != nil {
		return nil, fmt.Errorf("sign client certificate %q: %w", cn, err)
	}
	return issued, nil
}

// SignServerCSR issues a certificate usable for both server and client
// authentication, as routers need for their listeners and links. The request
// is checked as in SignClientCSR.
func (a *Authority) SignServerCSR(csr *x509.CertificateRequest, p ServerProfile) (*Issued, error) {
	if err := checkCSR(csr); err != nil {
		return nil, err
	}
	cn, err := commonName(p.CommonName, csr)
	if err != nil {
		return nil, err
	}
	dns, ips := p.DNSNames, p.IPs
	if len(dns) == 0 && len(ips) == 0 {
		dns, ips = csr.DNSNames, csr.IPAddresses
	}
	if len(dns) == 0 && len(ips) == 0 {
		return nil, fmt.Errorf("%w: a server certificate needs at least one DNS name or IP address", ErrInvalidCSR)
	}
	lifetime := p.Lifetime
	if lifetime == 0 {
		lifetime = a.lifetimes.ServerCert
	}
	template := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    leafKeyUsage(csr.PublicKey),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    slices.Clone(dns),
		IPAddresses: slices.Clone(ips),
	}
	issued, err := a.sign(template, csr, lifetime)
	if err != nil {
		return nil, fmt.Errorf("sign server certificate %q: %w", cn, err)
	}
	return issued, nil
}

func (a *Authority) sign(template *x509.Certificate, csr *x509.CertificateRequest, lifetime time.Duration) (*Issued, error) {
	if lifetime < 0 {
		return nil, fmt.Errorf("negative lifetime %s", lifetime)
	}
	now := time.Now()
	if !now.Before(a.signingCert.NotAfter) {
		return nil, fmt.Errorf("signing CA %q expired at %s", a.signingCert.Subject, a.signingCert.NotAfter.Format(time.RFC3339))
	}
	template.NotBefore = now.Add(-backdate)
	template.NotAfter = capTime(now.Add(lifetime), a.signingCert.NotAfter)
	cert, err := issue(template, a.signingCert, csr.PublicKey, a.signingKey)
	if err != nil {
		return nil, err
	}
	return &Issued{
		Cert:        cert,
		DER:         cert.Raw,
		PEM:         EncodeCertificatesPEM(cert),
		ChainPEM:    EncodeCertificatesPEM(slices.Concat([]*x509.Certificate{cert, a.signingCert}, a.signingChain)...),
		Fingerprint: Fingerprint(cert.Raw),
	}, nil
}

// checkCSR verifies the request's self-signature and its key type.
func checkCSR(csr *x509.CertificateRequest) error {
	if csr == nil {
		return fmt.Errorf("%w: no request", ErrInvalidCSR)
	}
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("%w: signature does not verify: %v", ErrInvalidCSR, err)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCSR, err)
	}
	return nil
}

func commonName(override string, csr *x509.CertificateRequest) (string, error) {
	if override != "" {
		return override, nil
	}
	if csr.Subject.CommonName != "" {
		return csr.Subject.CommonName, nil
	}
	return "", errors.New("no common name: the profile and the request both leave it empty")
}

// CheckCSR verifies a request's self-signature and key type, as signing
// does, so a controller can refuse a bad request before asking the leader to
// sign it. Failures wrap ErrInvalidCSR.
func CheckCSR(csr *x509.CertificateRequest) error { return checkCSR(csr) }

// Wrap describes a certificate this authority issued (for example on the
// raft leader) as an Issued, with its chain.
func (a *Authority) Wrap(der []byte) (*Issued, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse issued certificate: %w", err)
	}
	if err := cert.CheckSignatureFrom(a.signingCert); err != nil {
		return nil, fmt.Errorf("issued certificate is not from this signing CA: %w", err)
	}
	return &Issued{
		Cert:        cert,
		DER:         cert.Raw,
		PEM:         EncodeCertificatesPEM(cert),
		ChainPEM:    EncodeCertificatesPEM(slices.Concat([]*x509.Certificate{cert, a.signingCert}, a.signingChain)...),
		Fingerprint: Fingerprint(cert.Raw),
	}, nil
}
