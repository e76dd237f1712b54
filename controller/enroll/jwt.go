// Package enroll owns enrollment as clients see it: the JWTs that carry
// one-time enrollment tokens (minted and signed with the key of the TLS
// server certificate the controller presents at their issuer, and parsed
// back), the key set and challenge signatures that let a client check it
// talks to the network that issued its JWT, and the rules an enrollment must
// pass before it is used: its method and its expiry, how its token is
// derived, and the name an auto-enrolled identity gets from its CA.
//
// It knows nothing of HTTP or raft: the API handlers call it, and the
// one-time use of a token is decided by a raft command (package command).
package enroll

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/cert"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Enrollment methods as they appear in the em claim.
const (
	MethodOTT     = "ott"
	MethodOTTCA   = "ottca"
	MethodUpdb    = "updb"
	MethodERott   = "erott"
	MethodCA      = "ca"
	MethodNetwork = "network"
)

// Names of the private claims.
const (
	claimMethod      = "em"
	claimControllers = "ctrls"
)

// MaxJWTSize bounds the size of a JWT Parse and Peek accept.
const MaxJWTSize = 16 << 10

// ErrInvalidJWT means a JWT could not be parsed, its signature does not
// verify, or a claim every enrollment JWT carries is missing.
var ErrInvalidJWT = errors.New("invalid enrollment JWT")

// Claims are the claims of an enrollment JWT.
type Claims struct {
	// Issuer is https://<controller address>; clients fetch the signing
	// certificate there.
	Issuer string
	// Subject is the identity, router or CA the JWT enrolls.
	Subject string
	// TokenID (jti) is the one-time enrollment token, or the CA id for em "ca".
	TokenID string
	// ExpiresAt is when the token stops working; zero means no exp claim.
	ExpiresAt time.Time
	// Method (em) is ott, ottca, updb, erott, ca or network.
	Method string
	// Controllers (ctrls) are the URLs of the network's controllers.
	Controllers []string
}

// Header is what the protected header of a JWT says about its key.
type Header struct {
	Algorithm string
	KeyID     string
}

// Signer signs enrollment JWTs and challenges with the controller's TLS
// server key. It is safe for concurrent use.
type Signer struct {
	key   crypto.Signer
	alg   jwa.SignatureAlgorithm
	kid   string
	chain []*x509.Certificate
}

// NewSigner makes a Signer for key, whose certificate chain (leaf first) is
// published with the key set. kid names the key in JWT headers. The
// algorithm follows the key: ES256, ES384 or ES512 for P-256, P-384 and P-521
// keys, RS256 for RSA keys.
func NewSigner(key crypto.Signer, kid string, chain ...*x509.Certificate) (*Signer, error) {
	if key == nil {
		return nil, errors.New("enrollment signer: no key")
	}
	alg, err := AlgorithmFor(key.Public())
	if err != nil {
		return nil, fmt.Errorf("enrollment signer: %w", err)
	}
	return &Signer{key: key, alg: alg, kid: kid, chain: append([]*x509.Certificate(nil), chain...)}, nil
}

// AlgorithmFor is the JWS algorithm used with a public key.
func AlgorithmFor(pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
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
		return "", fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PublicKey:
		return jwa.RS256, nil
	}
	return "", fmt.Errorf("unsupported key type %T", pub)
}

// KeyID is the kid of the signing key.
func (s *Signer) KeyID() string { return s.kid }

// Algorithm is the JWS algorithm of the signing key (ES256, …).
func (s *Signer) Algorithm() string { return s.alg.String() }

// Public is the public half of the signing key.
func (s *Signer) Public() crypto.PublicKey { return s.key.Public() }

// Mint builds and signs the JWT of c.
func (s *Signer) Mint(c Claims) (string, error) {
	tok := jwt.New()
	set := func(k string, v any) error {
		if err := tok.Set(k, v); err != nil {
			return fmt.Errorf("mint enrollment JWT: claim %s: %w", k, err)
		}
		return nil
	}
	claims := []struct {
		key string
		val any
	}{
		{jwt.IssuerKey, c.Issuer},
		{jwt.SubjectKey, c.Subject},
		{jwt.JwtIDKey, c.TokenID},
		// Clients expect an audience of one empty string.
		{jwt.AudienceKey, []string{""}},
		{claimMethod, c.Method},
		{claimControllers, nonNil(c.Controllers)},
	}
	if !c.ExpiresAt.IsZero() {
		claims = append(claims, struct {
			key string
			val any
		}{jwt.ExpirationKey, c.ExpiresAt.UTC()})
	}
	for _, cl := range claims {
		if err := set(cl.key, cl.val); err != nil {
			return "", err
		}
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, s.kid); err != nil {
		return "", fmt.Errorf("mint enrollment JWT: %w", err)
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", fmt.Errorf("mint enrollment JWT: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(s.alg, s.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("mint enrollment JWT: %w", err)
	}
	return string(signed), nil
}

func nonNil(in []string) []string {
	if in == nil {
		return []string{}
	}
	return in
}

// SignChallenge signs nonce with the signing key as a JWS signature of the
// key's algorithm (for ECDSA the fixed-size r‖s form of RFC 7518).
func (s *Signer) SignChallenge(nonce []byte) ([]byte, error) {
	signer, err := jws.NewSigner(s.alg)
	if err != nil {
		return nil, fmt.Errorf("sign challenge: %w", err)
	}
	sig, err := signer.Sign(nonce, s.key)
	if err != nil {
		return nil, fmt.Errorf("sign challenge: %w", err)
	}
	return sig, nil
}

// VerifyChallenge checks a signature made by SignChallenge with pub.
func VerifyChallenge(alg string, pub crypto.PublicKey, nonce, sig []byte) error {
	v, err := jws.NewVerifier(jwa.SignatureAlgorithm(alg))
	if err != nil {
		return fmt.Errorf("verify challenge: %w", err)
	}
	if err := v.Verify(nonce, sig, pub); err != nil {
		return fmt.Errorf("verify challenge: %w", err)
	}
	return nil
}

// JWKS returns the JSON Web Key Set of the signing key: its public key with
// kid, alg, use "sig" and the certificate chain as x5c.
func (s *Signer) JWKS() ([]byte, error) {
	key, err := jwk.FromRaw(s.key.Public())
	if err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	fields := map[string]any{jwk.KeyIDKey: s.kid, jwk.AlgorithmKey: s.alg, jwk.KeyUsageKey: "sig"}
	if len(s.chain) > 0 {
		chain := &cert.Chain{}
		for _, c := range s.chain {
			if err := chain.AddString(base64.StdEncoding.EncodeToString(c.Raw)); err != nil {
				return nil, fmt.Errorf("key set: x5c: %w", err)
			}
		}
		fields[jwk.X509CertChainKey] = chain
	}
	for k, v := range fields {
		if err := key.Set(k, v); err != nil {
			return nil, fmt.Errorf("key set: %s: %w", k, err)
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(key); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	out, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	return out, nil
}

// Parse verifies the JWT's signature with pub and returns its claims. The
// algorithm must be the one AlgorithmFor gives for pub. Expiry is not
// checked here: see Claims.Expired. Errors wrap ErrInvalidJWT.
func Parse(token string, pub crypto.PublicKey) (*Claims, error) {
	if len(token) > MaxJWTSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds the limit of %d", ErrInvalidJWT, len(token), MaxJWTSize)
	}
	alg, err := AlgorithmFor(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJWT, err)
	}
	tok, err := jwt.ParseString(token, jwt.WithKey(alg, pub), jwt.WithValidate(false))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJWT, err)
	}
	return claimsOf(tok)
}

// Peek parses a JWT without verifying its signature: a client reads the
// issuer from it to fetch the key that verifies it. Nothing it returns may
// be trusted before Parse succeeds. Errors wrap ErrInvalidJWT.
func Peek(token string) (*Claims, Header, error) {
	if len(token) > MaxJWTSize {
		return nil, Header{}, fmt.Errorf("%w: %d bytes exceeds the limit of %d", ErrInvalidJWT, len(token), MaxJWTSize)
	}
	msg, err := jws.ParseString(token)
	if err != nil {
		return nil, Header{}, fmt.Errorf("%w: %v", ErrInvalidJWT, err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, Header{}, fmt.Errorf("%w: %d signatures", ErrInvalidJWT, len(sigs))
	}
	h := sigs[0].ProtectedHeaders()
	tok, err := jwt.ParseInsecure([]byte(token))
	if err != nil {
		return nil, Header{}, fmt.Errorf("%w: %v", ErrInvalidJWT, err)
	}
	c, err := claimsOf(tok)
	if err != nil {
		return nil, Header{}, err
	}
	return c, Header{Algorithm: h.Algorithm().String(), KeyID: h.KeyID()}, nil
}

func claimsOf(tok jwt.Token) (*Claims, error) {
	c := &Claims{Issuer: tok.Issuer(), Subject: tok.Subject(), TokenID: tok.JwtID(), ExpiresAt: tok.Expiration()}
	if v, ok := tok.Get(claimMethod); ok {
		s, isString := v.(string)
		if !isString {
			return nil, fmt.Errorf("%w: claim %s is not a string", ErrInvalidJWT, claimMethod)
		}
		c.Method = s
	}
	if v, ok := tok.Get(claimControllers); ok {
		list, isList := v.([]any)
		if !isList {
			return nil, fmt.Errorf("%w: claim %s is not a list", ErrInvalidJWT, claimControllers)
		}
		for _, x := range list {
			s, isString := x.(string)
			if !isString {
				return nil, fmt.Errorf("%w: claim %s holds a %T", ErrInvalidJWT, claimControllers, x)
			}
			c.Controllers = append(c.Controllers, s)
		}
	}
	switch {
	case c.Issuer == "":
		return nil, fmt.Errorf("%w: no iss claim", ErrInvalidJWT)
	case c.Method == "":
		return nil, fmt.Errorf("%w: no em claim", ErrInvalidJWT)
	}
	return c, nil
}

// Expired reports whether the claims' expiry has passed at now.
func (c *Claims) Expired(now time.Time) bool {
	return !c.ExpiresAt.IsZero() && now.After(c.ExpiresAt)
}
