// Package apitoken defines the tokens of OpenID Connect sign-in that the
// controller signs and that edge routers verify on their own: the claims
// (OpenZiti's names, so its SDKs read them), the token types, and
// verification of a compact JWS against the key set the controller
// publishes at /oidc/keys and pushes to routers over the control channel.
// It is shared protocol: controller/oidc issues these tokens,
// router/ctrlclient checks them, and neither imports the other.
package apitoken

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Token types (the z_t claim).
const (
	TypeAccess  = "a"
	TypeRefresh = "r"
	TypeID      = "i"
)

// Audience is the audience of access and refresh tokens, as OpenZiti's
// clients request it.
const Audience = "openziti"

// Algorithm signs every token.
const Algorithm = jwa.ES256

// MaxTokenBytes bounds a token this package parses.
const MaxTokenBytes = 16 << 10

// ClockSkew is how far the clocks of the signer and a verifier may be
// apart.
const ClockSkew = 30 * time.Second

// Errors of Verify.
var (
	ErrMalformed = errors.New("token is not a well-formed JWT")
	ErrSignature = errors.New("token signature does not verify")
	ErrExpired   = errors.New("token has expired")
	ErrNotYet    = errors.New("token is not valid yet")
	ErrWrongType = errors.New("token is of another type")
	ErrAudience  = errors.New("token is for another audience")
)

// Claims are the claims of access, refresh and ID tokens. Times are Unix
// seconds, as in every JWT.
type Claims struct {
	Issuer    string    `json:"iss"`
	Subject   string    `json:"sub"`
	Audience  Audiences `json:"aud"`
	ExpiresAt int64     `json:"exp"`
	IssuedAt  int64     `json:"iat"`
	NotBefore int64     `json:"nbf,omitempty"`
	ID        string    `json:"jti,omitempty"`
	// ClientID is the OAuth client the token was issued to.
	ClientID string `json:"client_id,omitempty"`
	// AuthTime is when the identity signed in.
	AuthTime int64 `json:"auth_time,omitempty"`
	// AuthMethods are the ways it proved who it is: "cert", "password",
	// "ext-jwt", and "totp" after an MFA step.
	AuthMethods []string `json:"amr,omitempty"`
	Scopes      []string `json:"scopes,omitempty"`

	// ID tokens only.
	Nonce           string `json:"nonce,omitempty"`
	AuthorizedParty string `json:"azp,omitempty"`
	SessionID       string `json:"sid,omitempty"`
	Name            string `json:"name,omitempty"`

	// OpenZiti's claims.
	Type             string   `json:"z_t"`
	APISessionID     string   `json:"z_asid,omitempty"`
	ExternalID       string   `json:"z_eid,omitempty"`
	IsAdmin          bool     `json:"z_ia,omitempty"`
	ConfigTypes      []string `json:"z_ct,omitempty"`
	CertFingerprints []string `json:"z_cfs,omitempty"`
	IsCertExtendable bool     `json:"z_ice,omitempty"`
	AuthenticatorID  string   `json:"z_authid,omitempty"`
}

// Audiences is the aud claim: one string or a list of them.
type Audiences []string

// UnmarshalJSON reads either form.
func (a *Audiences) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audiences{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud is neither a string nor a list of strings: %w", err)
	}
	*a = many
	return nil
}

// Expiry is when the token stops being valid.
func (c *Claims) Expiry() time.Time { return time.Unix(c.ExpiresAt, 0) }

// LooksLikeJWT tells a compact JWS from the opaque tokens of the legacy
// sign-in: three base64url parts, the first a JSON object.
func LooksLikeJWT(token string) bool {
	return strings.HasPrefix(token, "ey") && strings.Count(token, ".") == 2 && len(token) <= MaxTokenBytes
}

// Sign signs claims with key (a private JWK carrying its kid and alg).
func Sign(key jwk.Key, c *Claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode token claims: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", err
	}
	out, err := jws.Sign(payload, jws.WithKey(Algorithm, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return string(out), nil
}

// Parse checks the signature of token against keys and decodes its claims,
// without judging them. Use Verify unless the claims' times do not matter
// (an expired ID token given as a logout hint).
func Parse(keys jwk.Set, token string) (*Claims, error) {
	if keys == nil || !LooksLikeJWT(token) {
		return nil, ErrMalformed
	}
	payload, err := jws.Verify([]byte(token), jws.WithCompact(), jws.WithKeySet(keys, jws.WithRequireKid(true)))
	if err != nil {
		if jws.IsVerificationError(err) {
			return nil, ErrSignature
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	return &c, nil
}

// Verify checks token: signed by one of keys, of type wantType, for
// audience (when not empty), and valid at now give or take ClockSkew.
func Verify(keys jwk.Set, token, wantType, audience string, now time.Time) (*Claims, error) {
	c, err := Parse(keys, token)
	if err != nil {
		return nil, err
	}
	if err := c.Check(wantType, audience, now); err != nil {
		return nil, err
	}
	return c, nil
}

// Check judges the claims of a token whose signature verified.
func (c *Claims) Check(wantType, audience string, now time.Time) error {
	switch {
	case c.Type != wantType:
		return ErrWrongType
	case c.ExpiresAt == 0 || now.Add(-ClockSkew).Unix() >= c.ExpiresAt:
		return ErrExpired
	case c.NotBefore != 0 && now.Add(ClockSkew).Unix() < c.NotBefore:
		return ErrNotYet
	case audience != "" && !slices.Contains(c.Audience, audience):
		return ErrAudience
	case c.Subject == "":
		return fmt.Errorf("%w: no subject", ErrMalformed)
	case (c.Type == TypeAccess || c.Type == TypeRefresh) && c.APISessionID == "":
		return fmt.Errorf("%w: no API session", ErrMalformed)
	}
	return nil
}

// ParseKeySet reads a JWKS document of public keys, refusing private ones
// and keys of other algorithms.
func ParseKeySet(doc []byte) (jwk.Set, error) {
	set, err := jwk.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("parse token key set: %w", err)
	}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if k.KeyID() == "" {
			return nil, errors.New("token key set: a key has no kid")
		}
		if k.Algorithm().String() != Algorithm.String() {
			return nil, fmt.Errorf("token key set: key %s is for %q, want %s", k.KeyID(), k.Algorithm(), Algorithm)
		}
		if _, private := k.(jwk.ECDSAPrivateKey); private {
			return nil, fmt.Errorf("token key set: key %s is private", k.KeyID())
		}
	}
	return set, nil
}
