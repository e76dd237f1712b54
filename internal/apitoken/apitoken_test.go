package apitoken

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// testKeys makes a signing key and the public set that verifies it.
func testKeys(t testing.TB, kid string) (jwk.Key, jwk.Set) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := jwk.FromRaw(priv)
	pub, _ := jwk.FromRaw(&priv.PublicKey)
	for _, k := range []jwk.Key{key, pub} {
		_ = k.Set(jwk.KeyIDKey, kid)
		_ = k.Set(jwk.AlgorithmKey, Algorithm)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	return key, set
}

func accessClaims(now time.Time) *Claims {
	return &Claims{Issuer: "https://ctrl:1280/oidc", Subject: "identity-1", Audience: Audiences{Audience}, IssuedAt: now.Unix(),
		ExpiresAt: now.Add(time.Minute).Unix(), Type: TypeAccess, APISessionID: "as-1", CertFingerprints: []string{"ab12"}}
}

func TestSignAndVerify(t *testing.T) {
	key, set := testKeys(t, "k1")
	now := time.Now()
	token, err := Sign(key, accessClaims(now))
	if err != nil {
		t.Fatal(err)
	}
	if !LooksLikeJWT(token) || LooksLikeJWT("0123abcd") {
		t.Fatal("LooksLikeJWT")
	}
	c, err := Verify(set, token, TypeAccess, Audience, now)
	if err != nil || c.APISessionID != "as-1" || c.Subject != "identity-1" || c.CertFingerprints[0] != "ab12" {
		t.Fatalf("verify: %+v %v", c, err)
	}
	for name, tc := range map[string]struct {
		set      jwk.Set
		token    string
		typ, aud string
		at       time.Time
		want     error
	}{
		"other key":        {set: func() jwk.Set { _, s := testKeys(t, "k1"); return s }(), token: token, typ: TypeAccess, at: now, want: ErrSignature},
		"unknown kid":      {set: func() jwk.Set { _, s := testKeys(t, "k2"); return s }(), token: token, typ: TypeAccess, at: now, want: ErrMalformed},
		"expired":          {set: set, token: token, typ: TypeAccess, at: now.Add(2 * time.Minute), want: ErrExpired},
		"refresh expected": {set: set, token: token, typ: TypeRefresh, at: now, want: ErrWrongType},
		"other audience":   {set: set, token: token, typ: TypeAccess, aud: "someone", at: now, want: ErrAudience},
		"tampered":         {set: set, token: tamper(token), typ: TypeAccess, at: now, want: ErrSignature},
		"not a JWT":        {set: set, token: "abc", typ: TypeAccess, at: now, want: ErrMalformed},
		"no keys":          {set: nil, token: token, typ: TypeAccess, at: now, want: ErrMalformed},
	} {
		if _, err := Verify(tc.set, tc.token, tc.typ, tc.aud, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// Within the clock skew a token is still good.
	if _, err := Verify(set, token, TypeAccess, Audience, now.Add(time.Minute+ClockSkew/2)); err != nil {
		t.Fatalf("within skew: %v", err)
	}
}

// tamper changes the payload but keeps the signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	c := accessClaims(time.Now())
	c.APISessionID = "someone-else"
	b, _ := json.Marshal(c)
	parts[1] = strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(b64(b)), "=")
	return strings.Join(parts, ".")
}

func TestAlgorithmNoneAndHMACAreRefused(t *testing.T) {
	_, set := testKeys(t, "k1")
	now := time.Now()
	payload, _ := json.Marshal(accessClaims(now))
	none := "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ." + strings.TrimRight(b64url(payload), "=") + "."
	if _, err := Verify(set, none, TypeAccess, Audience, now); err == nil {
		t.Fatal("alg none accepted")
	}
	hmacKey, _ := jwk.FromRaw([]byte("a shared secret of thirty-two by"))
	_ = hmacKey.Set(jwk.KeyIDKey, "k1")
	_ = hmacKey.Set(jwk.AlgorithmKey, jwa.HS256)
	tok, err := signWith(hmacKey, jwa.HS256, payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(set, tok, TypeAccess, Audience, now); err == nil {
		t.Fatal("HS256 token accepted")
	}
}

func TestParseKeySetRefusesPrivateAndForeignKeys(t *testing.T) {
	key, set := testKeys(t, "k1")
	doc, _ := json.Marshal(set)
	if _, err := ParseKeySet(doc); err != nil {
		t.Fatal(err)
	}
	priv := jwk.NewSet()
	_ = priv.AddKey(key)
	doc, _ = json.Marshal(priv)
	if _, err := ParseKeySet(doc); err == nil {
		t.Fatal("a private key was accepted")
	}
	for _, bad := range []string{`{`, `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"x","alg":"HS256"}]}`, `{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`} {
		if _, err := ParseKeySet([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// FuzzVerify: whatever a client presents as a token, verification answers
// with an error or the claims of a token our key signed, and never panics.
func FuzzVerify(f *testing.F) {
	key, set := testKeys(f, "k1")
	now := time.Unix(1_800_000_000, 0)
	good, _ := Sign(key, accessClaims(now))
	f.Add(good)
	f.Add(tamper(good))
	f.Add("eyJ.eyJ.")
	f.Add("eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.e30.AAAA")
	f.Add(strings.Repeat("ey.", 3))
	f.Fuzz(func(t *testing.T, token string) {
		c, err := Verify(set, token, TypeAccess, Audience, now)
		if err == nil && (c.APISessionID == "" || c.Subject == "" || c.Type != TypeAccess) {
			t.Fatalf("accepted claims %+v", c)
		}
		if err == nil && token != good {
			// Only the token we signed verifies (ECDSA signatures are not
			// malleable past what jws checks).
			if c2, err2 := Verify(set, good, TypeAccess, Audience, now); err2 != nil || c2.APISessionID != c.APISessionID {
				t.Fatalf("a different token %q verified as %+v", token, c)
			}
		}
	})
}

// FuzzParseKeySet: a key set from the control channel is parsed or refused.
func FuzzParseKeySet(f *testing.F) {
	_, set := testKeys(f, "k1")
	doc, _ := json.Marshal(set)
	f.Add(doc)
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseKeySet(b)
		if err == nil && s == nil {
			t.Fatal("nil set without an error")
		}
	})
}
