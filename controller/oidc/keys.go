package oidc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/ostium-net/ostium/internal/apitoken"
)

// Keys sign the tokens of this network and verify them. The signing key is
// derived from a secret every controller of the network holds (the signing
// CA's key, through pki.Authority.DeriveSecret), so every node of a cluster
// signs with the same key and verifies what any other signed, and nothing
// about the key needs replicating. Routers get the public half.
type Keys struct {
	private jwk.Key
	public  jwk.Set
	doc     []byte
}

// keyPurpose names the derived secret; a new purpose is a new key.
const keyPurpose = "oidc token signing key v1"

// DeriveKeys makes the network's token key from derive (pki.Authority's
// DeriveSecret).
func DeriveKeys(derive func(purpose string) ([]byte, error)) (*Keys, error) {
	// A 32-byte secret is a valid P-256 scalar unless it is zero or not
	// below the group order (a chance of about 2^-32); the next candidate
	// is taken then.
	for i := range 8 {
		seed, err := derive(fmt.Sprintf("%s #%d", keyPurpose, i))
		if err != nil {
			return nil, fmt.Errorf("derive token key: %w", err)
		}
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed)
		if err != nil {
			continue
		}
		return newKeys(priv)
	}
	return nil, errors.New("derive token key: no candidate was a valid P-256 key")
}

func newKeys(priv *ecdsa.PrivateKey) (*Keys, error) {
	key, err := jwk.FromRaw(priv)
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	pub, err := jwk.FromRaw(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("token key thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(thumb)
	for _, k := range []jwk.Key{key, pub} {
		for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: apitoken.Algorithm, jwk.KeyUsageKey: "sig"} {
			if err := k.Set(name, v); err != nil {
				return nil, fmt.Errorf("token key: %w", err)
			}
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, err
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encode token key set: %w", err)
	}
	return &Keys{private: key, public: set, doc: doc}, nil
}

// KeySet is the JWKS document of the public keys: /oidc/keys serves it and
// routers receive it.
func (k *Keys) KeySet() []byte { return append([]byte(nil), k.doc...) }

// Public is the set of public keys, for verification.
func (k *Keys) Public() jwk.Set { return k.public }

// KeyID is the kid of the signing key.
func (k *Keys) KeyID() string { return k.private.KeyID() }

// Sign signs a token's claims.
func (k *Keys) Sign(c *apitoken.Claims) (string, error) { return apitoken.Sign(k.private, c) }
