package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/ostium-net/ostium/controller/pki"
	"github.com/ostium-net/ostium/controller/store"
)

// Limits of ext-jwt authentication.
const (
	maxBearerTokenSize   = 16 << 10
	maxJWKSSize          = 1 << 20
	jwksFetchTimeout     = 5 * time.Second
	jwksCacheLifetime    = 5 * time.Minute
	jwksRefetchMinPeriod = 5 * time.Second
	extJWTClockSkew      = 30 * time.Second
	// maxKeysTriedWithoutKid bounds the work a token without a kid causes
	// against a key set.
	maxKeysTriedWithoutKid = 8
)

// extJWTAlgorithms are the signature algorithms accepted from external
// signers: asymmetric only, so a public key can never serve as an HMAC secret.
var extJWTAlgorithms = []jwa.SignatureAlgorithm{
	jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512,
	jwa.ES256, jwa.ES384, jwa.ES512, jwa.EdDSA,
}

// defaultJWKSClient fetches key sets when Deps.JWKSClient is nil: system
// roots, HTTPS only, a bounded time per request.
var defaultJWKSClient = sync.OnceValue(func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{
		Transport: tr,
		Timeout:   jwksFetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" {
				return errors.New("refusing a redirect away from https")
			}
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
})

func (s *Server) jwksHTTPClient() *http.Client {
	if s.JWKSClient != nil {
		return s.JWKSClient
	}
	return defaultJWKSClient()
}

// identityFromExtJWT authenticates the bearer JWT of r against the enabled
// external JWT signers and returns the identity it names and the signer that
// vouched for it. Every failure is errInvalidAuth; the token is never logged.
func (s *Server) identityFromExtJWT(r *http.Request) (*store.Identity, *store.ExternalJWTSigner, error) {
	raw, err := bearerToken(r)
	if err != nil {
		return nil, nil, errInvalidAuth
	}
	alg, kid, issuer, err := inspectJWT(raw)
	if err != nil {
		return nil, nil, errInvalidAuth
	}
	for _, sg := range s.extJWTCandidates(kid, issuer) {
		tok, err := s.verifyExtJWT(requestContext(r), raw, alg, kid, sg)
		if err != nil {
			s.Log.Debug("ext-jwt rejected", "signer", sg.ID, "error", err)
			continue
		}
		identity, err := s.identityForClaim(sg, tok)
		if err != nil {
			s.Log.Debug("ext-jwt names no identity", "signer", sg.ID, "error", err)
			return nil, nil, errInvalidAuth
		}
		return identity, sg, nil
	}
	return nil, nil, errInvalidAuth
}

// bearerToken is the JWT of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, error) {
	if r == nil {
		return "", errors.New("no request")
	}
	h := r.Header.Get("Authorization")
	if len(h) > maxBearerTokenSize+len("Bearer ") {
		return "", errors.New("bearer token too large")
	}
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New("no bearer token")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", errors.New("empty bearer token")
	}
	return token, nil
}

// inspectJWT reads, without trusting them, the parts of a compact JWS needed
// to pick the signer: the algorithm, the key id and the issuer.
func inspectJWT(raw string) (alg jwa.SignatureAlgorithm, kid, issuer string, err error) {
	if strings.Count(raw, ".") != 2 {
		return "", "", "", errors.New("not a compact JWS")
	}
	msg, err := jws.Parse([]byte(raw))
	if err != nil {
		return "", "", "", fmt.Errorf("parse JWS: %w", err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return "", "", "", errors.New("want exactly one signature")
	}
	hdr := sigs[0].ProtectedHeaders()
	alg = hdr.Algorithm()
	if !slices.Contains(extJWTAlgorithms, alg) {
		return "", "", "", fmt.Errorf("algorithm %q is not accepted", alg)
	}
	unverified, err := jwt.Parse([]byte(raw), jwt.WithVerify(false), jwt.WithValidate(false))
	if err != nil {
		return "", "", "", fmt.Errorf("parse claims: %w", err)
	}
	return alg, hdr.KeyID(), unverified.Issuer(), nil
}

// extJWTCandidates are the enabled signers that may have issued a token: the
// one whose kid it names or, when no signer has that kid, those with its
// issuer.
func (s *Server) extJWTCandidates(kid, issuer string) []*store.ExternalJWTSigner {
	var out []*store.ExternalJWTSigner
	_ = s.State.View(func(tx *store.Tx) error {
		if kid != "" {
			if id, ok := tx.Lookup(store.ExternalJWTSigners, "kid", kid); ok {
				if sg, err := store.Get[*store.ExternalJWTSigner](tx, store.ExternalJWTSigners, id); err == nil && sg.Enabled {
					out = append(out, sg)
				}
				return nil
			}
		}
		if issuer == "" {
			return nil
		}
		return tx.ForEach(store.ExternalJWTSigners, func(r store.Record) error {
			if sg := r.(*store.ExternalJWTSigner); sg.Enabled && sg.Issuer == issuer {
				out = append(out, sg)
			}
			return nil
		})
	})
	return out
}

// verifyExtJWT checks the signature of raw with the key of sg and validates
// its claims: issuer, audience, expiry (required) and not-before.
func (s *Server) verifyExtJWT(ctx context.Context, raw string, alg jwa.SignatureAlgorithm, kid string, sg *store.ExternalJWTSigner) (jwt.Token, error) {
	keys, err := s.signerKeys(ctx, sg, kid)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, key := range keys {
		tok, err := jwt.Parse([]byte(raw),
			jwt.WithKey(alg, key),
			jwt.WithValidate(true),
			jwt.WithIssuer(sg.Issuer),
			jwt.WithAudience(sg.Audience),
			jwt.WithRequiredClaim(jwt.ExpirationKey),
			jwt.WithAcceptableSkew(extJWTClockSkew),
		)
		if err == nil {
			return tok, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = errors.New("no key to verify with")
	}
	return nil, lastErr
}

// signerKeys are the public keys that may have signed a token of sg with the
// given kid: its certificate's key, or the matching keys of its JWKS.
func (s *Server) signerKeys(ctx context.Context, sg *store.ExternalJWTSigner, kid string) ([]any, error) {
	if sg.CertPEM != "" {
		certs, err := pki.ParseCertificatesPEM([]byte(sg.CertPEM))
		if err != nil {
			return nil, fmt.Errorf("signer certificate: %w", err)
		}
		return []any{certs[0].PublicKey}, nil
	}
	if sg.JWKSEndpoint == "" {
		return nil, errors.New("the signer has neither a certificate nor a JWKS endpoint")
	}
	set, err := s.jwks.keySet(ctx, s.jwksHTTPClient(), sg.JWKSEndpoint, kid)
	if err != nil {
		return nil, err
	}
	var out []any
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if k.KeyUsage() == string(jwk.ForEncryption) {
			continue
		}
		if kid != "" && k.KeyID() != kid {
			continue
		}
		out = append(out, k)
		if kid == "" && len(out) == maxKeysTriedWithoutKid {
			break
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the key set has no matching key")
	}
	return out, nil
}

// identityForClaim finds the identity named by the signer's claim in tok:
// by external id or by identity id.
func (s *Server) identityForClaim(sg *store.ExternalJWTSigner, tok jwt.Token) (*store.Identity, error) {
	claim := orDefault(sg.ClaimsProperty, jwt.SubjectKey)
	v, ok := tok.Get(claim)
	if !ok {
		return nil, fmt.Errorf("claim %q missing", claim)
	}
	name, ok := v.(string)
	if !ok || name == "" {
		return nil, fmt.Errorf("claim %q is not a non-empty string", claim)
	}
	var identity *store.Identity
	err := s.State.View(func(tx *store.Tx) error {
		if !sg.UseExternalID {
			i, err := store.Get[*store.Identity](tx, store.Identities, name)
			if err != nil {
				return err
			}
			identity = i
			return nil
		}
		return tx.ForEach(store.Identities, func(r store.Record) error {
			if i := r.(*store.Identity); identity == nil && i.ExternalID == name {
				identity = i
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("find identity: %w", err)
	}
	if identity == nil {
		return nil, errors.New("no identity has that external id")
	}
	return identity, nil
}

// jwksCache keeps the key sets of JWKS endpoints for a while. The zero value
// is ready to use.
type jwksCache struct {
	mu      sync.Mutex
	entries map[string]*jwksEntry
}

type jwksEntry struct {
	mu      sync.Mutex // serialises fetches of this endpoint
	set     jwk.Set
	fetched time.Time
}

func (c *jwksCache) entry(endpoint string) *jwksEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*jwksEntry{}
	}
	e, ok := c.entries[endpoint]
	if !ok {
		e = &jwksEntry{}
		c.entries[endpoint] = e
	}
	return e
}

// keySet returns the key set of endpoint, fetching it when none is cached or
// the cached one is old, and once more when it lacks kid (unless it was just
// fetched).
func (c *jwksCache) keySet(ctx context.Context, client *http.Client, endpoint, kid string) (jwk.Set, error) {
	e := c.entry(endpoint)
	e.mu.Lock()
	defer e.mu.Unlock()
	age := time.Since(e.fetched)
	fresh := e.set != nil && age < jwksCacheLifetime
	if fresh {
		if kid == "" {
			return e.set, nil
		}
		if _, ok := e.set.LookupKeyID(kid); ok || age < jwksRefetchMinPeriod {
			return e.set, nil
		}
	}
	set, err := fetchJWKS(ctx, client, endpoint)
	if err != nil {
		if fresh {
			return e.set, nil
		}
		return nil, err
	}
	e.set, e.fetched = set, time.Now()
	return set, nil
}

// fetchJWKS downloads and parses a key set over HTTPS.
func fetchJWKS(ctx context.Context, client *http.Client, endpoint string) (jwk.Set, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("a JWKS endpoint must be an https URL")
	}
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	if len(body) > maxJWKSSize {
		return nil, errors.New("JWKS too large")
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	return set, nil
}

// checkAuthPolicy refuses a primary authentication method that the
// identity's auth policy does not allow. signerID names the external JWT
// signer for method ext-jwt.
func checkAuthPolicy(tx *store.Tx, identity *store.Identity, method, signerID string) error {
	policyID := orDefault(identity.AuthPolicyID, DefaultAuthPolicyID)
	policy, err := store.Peek[*store.AuthPolicy](tx, store.AuthPolicies, policyID)
	if err != nil {
		if policyID != DefaultAuthPolicyID || !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("auth policy %s: %w", policyID, err)
		}
		policy = DefaultAuthPolicy()
	}
	p := policy.Primary
	switch method {
	case "cert":
		if p.CertAllowed {
			return nil
		}
	case "password":
		if p.UpdbAllowed {
			return nil
		}
	case "ext-jwt":
		if p.ExtJWTAllowed && (len(p.ExtJWTAllowedSigners) == 0 || slices.Contains(p.ExtJWTAllowedSigners, signerID)) {
			return nil
		}
	}
	return fmt.Errorf("auth policy %s does not allow method %s", policyID, method)
}

// secondaryExtJWTSigner is the signer whose JWT the identity's auth policy
// requires as a second factor, or "".
func secondaryExtJWTSigner(tx *store.Tx, identity *store.Identity) string {
	policy, err := store.Peek[*store.AuthPolicy](tx, store.AuthPolicies, orDefault(identity.AuthPolicyID, DefaultAuthPolicyID))
	if err != nil {
		return ""
	}
	return policy.Secondary.RequireExtJWTSigner
}
