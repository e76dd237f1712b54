// Package enroll is the client side of enrollment. From an enrollment JWT it
// establishes trust the way OpenZiti clients do — the JWT must be signed by
// the key of the certificate the controller presents at the JWT's issuer, and
// that certificate must chain to the CA bundle the controller serves at
// /.well-known/est/cacerts — then runs the method the JWT names (ott, ottca,
// updb) and returns the identity to save.
package enroll

import (
	"bytes"
	"context"
	"crypto"
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
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fullsailor/pkcs7"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/ostium-net/ostium/sdk/identity"
)

// Methods a JWT may name.
const (
	MethodOTT   = "ott"
	MethodOTTCA = "ottca"
	MethodUpdb  = "updb"
)

// ErrUntrusted means the JWT or the controller could not be verified.
var ErrUntrusted = errors.New("enrollment token is not trusted")

// Claims are the claims of an enrollment JWT that a client uses.
type Claims struct {
	Issuer      string
	Subject     string
	Token       string
	Method      string
	Controllers []string
	ExpiresAt   time.Time
}

// MaxTokenSize bounds an enrollment JWT.
const MaxTokenSize = 16 << 10

// Peek decodes a JWT's claims without verifying it.
func Peek(token string) (*Claims, error) {
	token = strings.TrimSpace(token)
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("enrollment token of %d bytes is too large", len(token))
	}
	tok, err := jwt.ParseInsecure([]byte(token))
	if err != nil {
		return nil, fmt.Errorf("parse enrollment token: %w", err)
	}
	return claimsOf(tok)
}

func claimsOf(tok jwt.Token) (*Claims, error) {
	c := &Claims{Issuer: tok.Issuer(), Subject: tok.Subject(), Token: tok.JwtID(), ExpiresAt: tok.Expiration()}
	if v, ok := tok.Get("em"); ok {
		c.Method, _ = v.(string)
	}
	if v, ok := tok.Get("ctrls"); ok {
		if list, ok := v.([]any); ok {
			for _, x := range list {
				if s, ok := x.(string); ok {
					c.Controllers = append(c.Controllers, s)
				}
			}
		}
	}
	if c.Issuer == "" || c.Token == "" || c.Method == "" {
		return nil, errors.New("enrollment token lacks iss, jti or em")
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("enrollment token issuer %q is not an https URL", c.Issuer)
	}
	return c, nil
}

// Options choose how to enroll.
type Options struct {
	// KeyAlgorithm for a new key: "ec-p256" (default), "ec-p384", "rsa-2048", "rsa-4096".
	KeyAlgorithm string
	// Key, when set, is used instead of generating one.
	Key crypto.Signer
	// Certificate is the third-party certificate (and key) for ottca.
	Certificate *tls.Certificate
	// Username and Password for updb.
	Username, Password string
	// Timeout bounds each network step (default 30 s).
	Timeout time.Duration
	// Now is the clock (tests); defaults to time.Now.
	Now func() time.Time
}

// Result is what enrollment produced.
type Result struct {
	Claims *Claims
	// Identity is set for certificate methods (ott, ottca).
	Identity *identity.Identity
}

// Enroll verifies the JWT and the controller, then enrolls.
func Enroll(ctx context.Context, token string, opts Options) (*Result, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	claims, pool, cas, err := Verify(ctx, token, opts)
	if err != nil {
		return nil, err
	}
	switch claims.Method {
	case MethodOTT:
		return enrollOTT(ctx, claims, pool, cas, opts)
	case MethodOTTCA:
		return enrollOTTCA(ctx, claims, pool, cas, opts)
	case MethodUpdb:
		return enrollUpdb(ctx, claims, pool, opts)
	}
	return nil, fmt.Errorf("enrollment method %q is not supported by this client", claims.Method)
}

// Verify establishes trust in the token and its issuer and returns the
// network's CA pool.
func Verify(ctx context.Context, token string, opts Options) (*Claims, *x509.CertPool, []*x509.Certificate, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	claims, err := Peek(token)
	if err != nil {
		return nil, nil, nil, err
	}
	if !claims.ExpiresAt.IsZero() && opts.Now().After(claims.ExpiresAt) {
		return nil, nil, nil, fmt.Errorf("enrollment token expired at %s", claims.ExpiresAt.Format(time.RFC3339))
	}
	u, _ := url.Parse(claims.Issuer)
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	// 1. The certificate the issuer presents, not yet trusted.
	chain, err := peerChain(ctx, host, u.Hostname(), opts.Timeout)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("fetch the controller certificate at %s: %w", host, err)
	}
	// 2. The JWT must be signed by that certificate's key.
	alg, err := algorithmFor(chain[0].PublicKey)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := jws.Verify([]byte(strings.TrimSpace(token)), jws.WithKey(alg, chain[0].PublicKey)); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: signature does not match the certificate served at %s: %v", ErrUntrusted, claims.Issuer, err)
	}
	// 3. The CA bundle, fetched over that same (pinned) certificate.
	pinned := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true, // verified by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, chain[0].Raw) {
				return errors.New("controller certificate changed during enrollment")
			}
			return nil
		}}
	body, err := get(ctx, pinned, opts.Timeout, strings.TrimRight(claims.Issuer, "/")+"/.well-known/est/cacerts")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("fetch cacerts: %w", err)
	}
	cas, err := ParseCACerts(body)
	if err != nil {
		return nil, nil, nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	// 4. The controller's certificate must chain to that bundle for its name.
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: u.Hostname(), CurrentTime: opts.Now()}); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: the controller certificate does not chain to its own CA bundle: %v", ErrUntrusted, err)
	}
	return claims, pool, cas, nil
}

func peerChain(ctx context.Context, addr, serverName string, timeout time.Duration) ([]*x509.Certificate, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: &tls.Config{
		MinVersion: tls.VersionTLS12, ServerName: serverName,
		InsecureSkipVerify: true, // the certificate is checked against the JWT and cacerts next
	}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	chain := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return nil, errors.New("no certificate presented")
	}
	return chain, nil
}

func algorithmFor(pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jwa.ES256, nil
		case elliptic.P384():
			return jwa.ES384, nil
		case elliptic.P521():
			return jwa.ES512, nil
		}
	case *rsa.PublicKey:
		return jwa.RS256, nil
	}
	return "", fmt.Errorf("%w: unsupported controller key type %T", ErrUntrusted, pub)
}

// ParseCACerts decodes the base64 PKCS#7 bundle of /.well-known/est/cacerts.
func ParseCACerts(body []byte) ([]*x509.Certificate, error) {
	clean := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, string(body))
	der, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("cacerts is not base64: %w", err)
	}
	p7, err := parsePKCS7(der)
	if err != nil {
		return nil, fmt.Errorf("cacerts is not PKCS#7: %w", err)
	}
	if len(p7.Certificates) == 0 {
		return nil, errors.New("cacerts holds no certificate")
	}
	return p7.Certificates, nil
}

// parsePKCS7 guards the PKCS#7 parser, which panics on some malformed
// input (its BER reader indexes past the end): bad bytes are an error here.
func parsePKCS7(der []byte) (p7 *pkcs7.PKCS7, err error) {
	defer func() {
		if r := recover(); r != nil {
			p7, err = nil, fmt.Errorf("malformed PKCS#7: %v", r)
		}
	}()
	return pkcs7.Parse(der)
}

const maxResponse = 1 << 20

func get(ctx context.Context, tlsCfg *tls.Config, timeout time.Duration, u string) ([]byte, error) {
	return do(ctx, tlsCfg, timeout, http.MethodGet, u, "", nil)
}

func do(ctx context.Context, tlsCfg *tls.Config, timeout time.Duration, method, u, contentType string, body []byte) ([]byte, error) {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, apiError(resp.StatusCode, data)
	}
	return data, nil
}

// Error is an error answer of the controller.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("controller answered %d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("controller answered %d", e.Status)
}

func apiError(status int, body []byte) error {
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &env)
	return &Error{Status: status, Code: env.Error.Code, Message: env.Error.Message}
}

func enrollURL(c *Claims) string {
	return strings.TrimRight(c.Issuer, "/") + "/edge/client/v1/enroll?method=" + url.QueryEscape(c.Method) + "&token=" + url.QueryEscape(c.Token)
}

func newKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "", "ec-p256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ec-p384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "rsa-2048":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "rsa-4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, fmt.Errorf("unknown key algorithm %q (use ec-p256, ec-p384, rsa-2048 or rsa-4096)", alg)
}

func enrollOTT(ctx context.Context, c *Claims, pool *x509.CertPool, cas []*x509.Certificate, opts Options) (*Result, error) {
	key := opts.Key
	if key == nil {
		var err error
		if key, err = newKey(opts.KeyAlgorithm); err != nil {
			return nil, err
		}
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: c.Subject}}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	body, err := do(ctx, tlsCfg, opts.Timeout, http.MethodPost, enrollURL(c), "application/x-pem-file", csrPEM)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	var env struct {
		Data struct {
			Cert string `json:"cert"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Data.Cert == "" {
		return nil, fmt.Errorf("enroll: unexpected answer %q", truncate(body))
	}
	chain, err := identity.ParseCertificates([]byte(env.Data.Cert))
	if err != nil || len(chain) == 0 {
		return nil, fmt.Errorf("enroll: the returned certificate does not parse: %v", err)
	}
	return &Result{Claims: c, Identity: newIdentity(c, key, chain, pool, cas)}, nil
}

func enrollOTTCA(ctx context.Context, c *Claims, pool *x509.CertPool, cas []*x509.Certificate, opts Options) (*Result, error) {
	if opts.Certificate == nil || opts.Certificate.Leaf == nil && len(opts.Certificate.Certificate) == 0 {
		return nil, errors.New("ottca enrollment needs the certificate (and key) issued by the third-party CA")
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{*opts.Certificate}}
	if _, err := do(ctx, tlsCfg, opts.Timeout, http.MethodPost, enrollURL(c), "application/json", []byte("{}")); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	var chain []*x509.Certificate
	for _, der := range opts.Certificate.Certificate {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("parse the third-party certificate: %w", err)
		}
		chain = append(chain, cert)
	}
	key, ok := opts.Certificate.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("the third-party certificate's key cannot sign")
	}
	return &Result{Claims: c, Identity: newIdentity(c, key, chain, pool, cas)}, nil
}

func enrollUpdb(ctx context.Context, c *Claims, pool *x509.CertPool, opts Options) (*Result, error) {
	if opts.Password == "" {
		return nil, errors.New("updb enrollment needs a password")
	}
	body, _ := json.Marshal(map[string]string{"username": opts.Username, "password": opts.Password})
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if _, err := do(ctx, tlsCfg, opts.Timeout, http.MethodPost, enrollURL(c), "application/json", body); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	return &Result{Claims: c}, nil
}

func newIdentity(c *Claims, key crypto.Signer, chain []*x509.Certificate, pool *x509.CertPool, cas []*x509.Certificate) *identity.Identity {
	id := &identity.Identity{ControllerURL: strings.TrimRight(c.Issuer, "/"), Key: key, Chain: chain, CAs: pool, CACerts: cas}
	id.Controllers = []string{id.ControllerURL}
	for _, ctrl := range c.Controllers {
		if ctrl = strings.TrimRight(ctrl, "/"); ctrl != id.ControllerURL {
			id.Controllers = append(id.Controllers, ctrl)
		}
	}
	return id
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
