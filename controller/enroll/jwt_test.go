package enroll_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ostium-net/ostium/controller/enroll"
)

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func selfSigned(t testing.TB, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "ctrl"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sampleClaims() enroll.Claims {
	return enroll.Claims{Issuer: "https://ctrl.example:1280", Subject: "identity-1", TokenID: "2b1d7c52-7c1e-4b53-9a43-6b7c2f0e9d11",
		ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Method: enroll.MethodOTT, Controllers: []string{"https://ctrl.example:1280"}}
}

func TestMintParseRoundTripPerKeyType(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		alg string
		key crypto.Signer
	}{
		{"ES256", ecKey(t, elliptic.P256())},
		{"ES384", ecKey(t, elliptic.P384())},
		{"ES512", ecKey(t, elliptic.P521())},
		{"RS256", rsaKey},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			s, err := enroll.NewSigner(tc.key, "kid-1")
			if err != nil {
				t.Fatal(err)
			}
			if s.Algorithm() != tc.alg || s.KeyID() != "kid-1" {
				t.Fatalf("signer %s %s", s.Algorithm(), s.KeyID())
			}
			jwt, err := s.Mint(sampleClaims())
			if err != nil {
				t.Fatal(err)
			}
			got, err := enroll.Parse(jwt, tc.key.Public())
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			want := sampleClaims()
			if got.Issuer != want.Issuer || got.Subject != want.Subject || got.TokenID != want.TokenID || !got.ExpiresAt.Equal(want.ExpiresAt) ||
				got.Method != want.Method || len(got.Controllers) != 1 || got.Controllers[0] != want.Controllers[0] {
				t.Fatalf("claims %+v, want %+v", got, want)
			}
			_, hdr, err := enroll.Peek(jwt)
			if err != nil || hdr.Algorithm != tc.alg || hdr.KeyID != "kid-1" {
				t.Fatalf("header %+v %v", hdr, err)
			}
		})
	}
}

// TestClaimsOnTheWire checks the JSON clients read: aud is [""], exp a
// number, em and ctrls present.
func TestClaimsOnTheWire(t *testing.T) {
	s, err := enroll.NewSigner(ecKey(t, elliptic.P256()), "k")
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := s.Mint(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jwt)
	}
	decode := func(seg string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	hdr, claims := decode(parts[0]), decode(parts[1])
	if hdr["alg"] != "ES256" || hdr["kid"] != "k" {
		t.Errorf("header %v", hdr)
	}
	if aud, ok := claims["aud"].([]any); !ok || len(aud) != 1 || aud[0] != "" {
		t.Errorf("aud %#v", claims["aud"])
	}
	if exp, ok := claims["exp"].(float64); !ok || int64(exp) != sampleClaims().ExpiresAt.Unix() {
		t.Errorf("exp %#v", claims["exp"])
	}
	if claims["em"] != "ott" || claims["iss"] != "https://ctrl.example:1280" || claims["sub"] != "identity-1" || claims["jti"] != sampleClaims().TokenID {
		t.Errorf("claims %v", claims)
	}
	if ctrls, ok := claims["ctrls"].([]any); !ok || len(ctrls) != 1 {
		t.Errorf("ctrls %#v", claims["ctrls"])
	}
}

func TestParseRefusals(t *testing.T) {
	key, other := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256())
	s, err := enroll.NewSigner(key, "k")
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := s.Mint(sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(jwt, ".")
	tampered := sampleClaims()
	tampered.Subject = "someone-else"
	forged, _ := s.Mint(tampered)
	fparts := strings.Split(forged, ".")
	noMethod := sampleClaims()
	noMethod.Method = ""
	unnamed, _ := s.Mint(noMethod)
	for name, tc := range map[string]struct {
		token string
		key   crypto.PublicKey
	}{
		"another key":      {jwt, other.Public()},
		"swapped payload":  {parts[0] + "." + fparts[1] + "." + parts[2], key.Public()},
		"no signature":     {parts[0] + "." + parts[1] + ".", key.Public()},
		"garbage":          {"not.a.jwt", key.Public()},
		"empty":            {"", key.Public()},
		"no em claim":      {unnamed, key.Public()},
		"unsupported key":  {jwt, ed25519.PublicKey(make([]byte, 32))},
		"oversized":        {strings.Repeat("a", enroll.MaxJWTSize+1), key.Public()},
		"alg of other key": {jwt, mustRSA(t).Public()},
	} {
		if _, err := enroll.Parse(tc.token, tc.key); !errors.Is(err, enroll.ErrInvalidJWT) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestNewSignerRefusesUnsupportedKeys(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := enroll.NewSigner(edKey, "k"); err == nil {
		t.Fatal("an Ed25519 key was accepted")
	}
	if _, err := enroll.NewSigner(ecKey(t, elliptic.P224()), "k"); err == nil {
		t.Fatal("a P-224 key was accepted")
	}
	if _, err := enroll.NewSigner(nil, "k"); err == nil {
		t.Fatal("no key was accepted")
	}
}

func TestChallengeAndKeySet(t *testing.T) {
	key := ecKey(t, elliptic.P256())
	cert := selfSigned(t, key)
	s, err := enroll.NewSigner(key, "kid-x", cert)
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte("0b7e8b0c-3f55-4f57-8d6b-2f3c1c1b9a10")
	sig, err := s.SignChallenge(nonce)
	if err != nil {
		t.Fatal(err)
	}
	if err := enroll.VerifyChallenge(s.Algorithm(), key.Public(), nonce, sig); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := enroll.VerifyChallenge(s.Algorithm(), key.Public(), []byte("another nonce"), sig); err == nil {
		t.Fatal("a signature verified over another nonce")
	}

	raw, err := s.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("key set %s: %v", raw, err)
	}
	k := set.Keys[0]
	if k["kid"] != "kid-x" || k["kty"] != "EC" || k["crv"] != "P-256" || k["alg"] != "ES256" || k["d"] != nil {
		t.Fatalf("key %v", k)
	}
	x5c, _ := k["x5c"].([]any)
	if len(x5c) != 1 {
		t.Fatalf("x5c %v", k["x5c"])
	}
	der, err := base64.StdEncoding.DecodeString(x5c[0].(string))
	if err != nil || string(der) != string(cert.Raw) {
		t.Fatalf("x5c is not the certificate: %v", err)
	}
}

// FuzzParse feeds arbitrary tokens to Peek and Parse: they must never panic,
// and whatever Parse accepts was signed by the key.
func FuzzParse(f *testing.F) {
	key := ecKey(f, elliptic.P256())
	s, err := enroll.NewSigner(key, "k")
	if err != nil {
		f.Fatal(err)
	}
	good, err := s.Mint(sampleClaims())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4IiwiZW0iOiJvdHQifQ.")
	f.Add(good[:len(good)/2])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Fuzz(func(t *testing.T, token string) {
		if c, _, err := enroll.Peek(token); err == nil && (c.Issuer == "" || c.Method == "") {
			t.Fatalf("Peek accepted claims without iss or em: %+v", c)
		}
		c, err := enroll.Parse(token, key.Public())
		if err != nil {
			if !errors.Is(err, enroll.ErrInvalidJWT) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		if c.Issuer == "" || c.Method == "" {
			t.Fatalf("Parse accepted claims without iss or em: %+v", c)
		}
	})
}
