package pki

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/fullsailor/pkcs7"
	"golang.org/x/crypto/hkdf"
)

// Default lifetimes of the certificates the authority issues.
const (
	DefaultIdentityLifetime       = 365 * 24 * time.Hour
	DefaultRouterLifetime         = 365 * 24 * time.Hour
	DefaultAPISessionCertLifetime = 12 * time.Hour
)

// Config names the authority's files and the lifetimes of what it issues.
// Files created by Init and files an operator provides are loaded the same way.
type Config struct {
	// RootCert holds the trusted root CA certificate(s).
	RootCert string
	// SigningCert holds the CA certificate that signs issued certificates,
	// optionally followed by further intermediates up to (not including) a
	// root. SigningKey is its private key.
	SigningCert, SigningKey string
	// ServerCert holds the controller's TLS server certificate, optionally
	// followed by its chain; ServerKey is its private key.
	ServerCert, ServerKey string

	// IdentityLifetime is the lifetime of identity client certificates (1 year).
	IdentityLifetime time.Duration
	// RouterLifetime is the lifetime of router certificates (1 year).
	RouterLifetime time.Duration
	// APISessionCertLifetime is the lifetime of API-session certificates (12 h).
	APISessionCertLifetime time.Duration
	// ServerCertLifetime is the lifetime of server certificates signed with
	// SignServerCSR when the profile names none (1 year).
	ServerCertLifetime time.Duration

	// ExtraTrustedCAs are files of further CA certificates clients must trust,
	// published with ours in the CA bundle (for example the CA of an
	// operator-provided server certificate).
	ExtraTrustedCAs []string
}

// Lifetimes are the configured lifetimes of issued certificates.
type Lifetimes struct {
	Identity, Router, APISessionCert, ServerCert time.Duration
}

// Authority is a loaded certificate authority. It is immutable and safe for
// concurrent use.
type Authority struct {
	lifetimes Lifetimes

	roots        []*x509.Certificate
	signingCert  *x509.Certificate
	signingChain []*x509.Certificate // intermediates above signingCert, from its file
	signingKey   crypto.Signer
	signingPath  []*x509.Certificate // signingCert up to a root, as verified by Load
	serverCert   *x509.Certificate
	serverChain  []*x509.Certificate // served after the leaf in TLS
	serverKey    crypto.Signer

	bundle      []*x509.Certificate // roots, signing CAs, extra trusted CAs; no duplicates
	rootPool    *x509.CertPool
	bundlePool  *x509.CertPool
	interPool   *x509.CertPool // signing CA and its chain
	bundlePEM   []byte
	cacertsBody []byte

	goodSignatures signatureMemo
}

// Load reads and checks the authority's files: the signing CA must chain to a
// root and match its key, and the server certificate must match its key and
// chain to a root or an extra trusted CA.
func Load(cfg Config) (*Authority, error) {
	lifetimes, err := cfg.lifetimes()
	if err != nil {
		return nil, fmt.Errorf("pki load: %w", err)
	}
	a := &Authority{lifetimes: lifetimes}

	if cfg.RootCert == "" || cfg.SigningCert == "" || cfg.SigningKey == "" || cfg.ServerCert == "" || cfg.ServerKey == "" {
		return nil, fmt.Errorf("pki load: root, signing and server certificate and key paths are all required")
	}
	if a.roots, err = readCertificates(cfg.RootCert); err != nil {
		return nil, fmt.Errorf("pki load: root CA: %w", err)
	}
	for _, root := range a.roots {
		if !isCA(root) {
			return nil, fmt.Errorf("pki load: root %q in %s is not a CA certificate", root.Subject, cfg.RootCert)
		}
	}

	signing, err := readCertificates(cfg.SigningCert)
	if err != nil {
		return nil, fmt.Errorf("pki load: signing CA: %w", err)
	}
	a.signingCert, a.signingChain = signing[0], signing[1:]
	if !isCA(a.signingCert) || (a.signingCert.KeyUsage != 0 && a.signingCert.KeyUsage&x509.KeyUsageCertSign == 0) {
		return nil, fmt.Errorf("pki load: signing certificate %q in %s is not a CA allowed to sign certificates", a.signingCert.Subject, cfg.SigningCert)
	}
	if a.signingKey, err = readKey(cfg.SigningKey); err != nil {
		return nil, fmt.Errorf("pki load: signing key: %w", err)
	}
	if !keyMatches(a.signingCert, a.signingKey) {
		return nil, fmt.Errorf("pki load: signing key %s does not match %s", cfg.SigningKey, cfg.SigningCert)
	}

	var extra []*x509.Certificate
	for _, path := range cfg.ExtraTrustedCAs {
		certs, err := readCertificates(path)
		if err != nil {
			return nil, fmt.Errorf("pki load: extra trusted CAs: %w", err)
		}
		extra = append(extra, certs...)
	}

	a.rootPool = poolOf(a.roots)
	a.interPool = poolOf(signing)
	signingPaths, err := a.signingCert.Verify(x509.VerifyOptions{
		Roots:         a.rootPool,
		Intermediates: poolOf(a.signingChain),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fmt.Errorf("pki load: signing CA %q does not chain to the root CA: %w", a.signingCert.Subject, err)
	}
	a.signingPath = signingPaths[0]

	a.bundle = dedupe(slices.Concat(a.roots, signing, extra))
	a.bundlePool = poolOf(a.bundle)
	a.bundlePEM = EncodeCertificatesPEM(a.bundle...)
	if a.cacertsBody, err = degenerateBase64(a.bundle); err != nil {
		return nil, fmt.Errorf("pki load: CA bundle: %w", err)
	}

	server, err := readCertificates(cfg.ServerCert)
	if err != nil {
		return nil, fmt.Errorf("pki load: server certificate: %w", err)
	}
	a.serverCert = server[0]
	if a.serverKey, err = readKey(cfg.ServerKey); err != nil {
		return nil, fmt.Errorf("pki load: server key: %w", err)
	}
	if !keyMatches(a.serverCert, a.serverKey) {
		return nil, fmt.Errorf("pki load: server key %s does not match %s", cfg.ServerKey, cfg.ServerCert)
	}
	chains, err := a.serverCert.Verify(x509.VerifyOptions{
		Roots:         poolOf(slices.Concat(a.roots, extra)),
		Intermediates: poolOf(slices.Concat(server[1:], signing)),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("pki load: server certificate %q does not chain to a trusted CA: %w", a.serverCert.Subject, err)
	}
	if len(server) > 1 {
		a.serverChain = server[1:]
	} else {
		// Serve the verified intermediates (everything between leaf and root).
		chain := chains[0]
		a.serverChain = chain[1 : len(chain)-1]
	}
	return a, nil
}

func (c Config) lifetimes() (Lifetimes, error) {
	l := Lifetimes{
		Identity:       c.IdentityLifetime,
		Router:         c.RouterLifetime,
		APISessionCert: c.APISessionCertLifetime,
		ServerCert:     c.ServerCertLifetime,
	}
	defaults := []time.Duration{DefaultIdentityLifetime, DefaultRouterLifetime, DefaultAPISessionCertLifetime, DefaultServerCertLifetime}
	for i, d := range []*time.Duration{&l.Identity, &l.Router, &l.APISessionCert, &l.ServerCert} {
		if *d < 0 {
			return l, fmt.Errorf("negative certificate lifetime %s", *d)
		}
		if *d == 0 {
			*d = defaults[i]
		}
	}
	return l, nil
}

func isCA(c *x509.Certificate) bool { return c.BasicConstraintsValid && c.IsCA }

func poolOf(certs []*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

// dedupe drops repeated certificates, keeping the first of each.
func dedupe(certs []*x509.Certificate) []*x509.Certificate {
	seen := make(map[string]bool, len(certs))
	out := make([]*x509.Certificate, 0, len(certs))
	for _, c := range certs {
		if !seen[string(c.Raw)] {
			seen[string(c.Raw)] = true
			out = append(out, c)
		}
	}
	return out
}

// degenerateBase64 builds a certs-only PKCS#7 SignedData holding certs, sorted
// by their DER encodings so that the SET OF is in canonical DER order, and
// returns it base64-encoded in lines of 64 characters, each ending in "\n".
func degenerateBase64(certs []*x509.Certificate) ([]byte, error) {
	ders := make([][]byte, len(certs))
	for i, c := range certs {
		ders[i] = c.Raw
	}
	slices.SortFunc(ders, bytes.Compare)
	p7, err := pkcs7.DegenerateCertificate(bytes.Join(ders, nil))
	if err != nil {
		return nil, fmt.Errorf("build PKCS#7: %w", err)
	}
	encoded := base64.StdEncoding.EncodeToString(p7)
	var b strings.Builder
	b.Grow(len(encoded) + len(encoded)/64 + 1)
	for len(encoded) > 64 {
		b.WriteString(encoded[:64])
		b.WriteByte('\n')
		encoded = encoded[64:]
	}
	b.WriteString(encoded)
	b.WriteByte('\n')
	return []byte(b.String()), nil
}

// Lifetimes returns the configured lifetimes of issued certificates.
func (a *Authority) Lifetimes() Lifetimes { return a.lifetimes }

// CABundle returns every CA clients must trust: the root(s), the signing CA
// and its chain, and the extra trusted CAs, without duplicates.
func (a *Authority) CABundle() []*x509.Certificate { return slices.Clone(a.bundle) }

// CAPool returns a new pool holding CABundle.
func (a *Authority) CAPool() *x509.CertPool { return a.bundlePool.Clone() }

// CAPEM returns CABundle as consecutive PEM "CERTIFICATE" blocks.
func (a *Authority) CAPEM() []byte { return bytes.Clone(a.bundlePEM) }

// CACertsPKCS7 returns the body of GET /.well-known/est/cacerts: the base64
// text, in 64-character lines, of a degenerate certs-only PKCS#7 holding
// CABundle sorted by DER encoding.
func (a *Authority) CACertsPKCS7() ([]byte, error) { return bytes.Clone(a.cacertsBody), nil }

// SigningCert returns the CA certificate that signs issued certificates.
func (a *Authority) SigningCert() *x509.Certificate { return a.signingCert }

// ServerCert returns the controller's TLS server certificate.
func (a *Authority) ServerCert() *x509.Certificate { return a.serverCert }

// ServerSigner returns the private key of the server certificate. Enrollment
// JWTs are signed with it, since clients check them against the certificate
// the controller presents.
func (a *Authority) ServerSigner() crypto.Signer { return a.serverKey }

// ServerCertKID is the key id of enrollment JWTs: the hex SHA-1 of the server
// certificate's DER.
func (a *Authority) ServerCertKID() string { return Fingerprint(a.serverCert.Raw) }

// ServerTLSCertificate returns the server certificate, its chain and key for
// a TLS listener.
func (a *Authority) ServerTLSCertificate() (tls.Certificate, error) {
	chain := make([][]byte, 0, 1+len(a.serverChain))
	chain = append(chain, a.serverCert.Raw)
	for _, c := range a.serverChain {
		chain = append(chain, c.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: a.serverKey, Leaf: a.serverCert}, nil
}

// DeriveSecret returns a 32-byte secret bound to the signing CA's private key
// and purpose. Every controller of a network holds that key, so all of them
// derive the same secret; nobody without the key can. It lets controllers
// recompute tokens they store only as hashes.
func (a *Authority) DeriveSecret(purpose string) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(a.signingKey)
	if err != nil {
		return nil, fmt.Errorf("derive secret: the signing key cannot be exported: %w", err)
	}
	out := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, der, []byte("ostium derived secret v1"), []byte(purpose)), out); err != nil {
		return nil, fmt.Errorf("derive secret: %w", err)
	}
	return out, nil
}
