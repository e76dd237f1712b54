package api_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/ostium-net/ostium/controller"
)

// jwksServer serves a key set with one EC P-256 and one RSA key over TLS and
// holds their private halves.
type jwksServer struct {
	srv     *httptest.Server
	ecKey   jwk.Key // private, kid "ec-1"
	rsaKey  jwk.Key // private, kid "rsa-1"
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	ecRaw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaRaw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	j := &jwksServer{ecKey: privateJWK(t, ecRaw, "ec-1", jwa.ES256), rsaKey: privateJWK(t, rsaRaw, "rsa-1", jwa.RS256)}
	public := jwk.NewSet()
	for _, k := range []jwk.Key{j.ecKey, j.rsaKey} {
		pub, err := k.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := public.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	body, err := json.Marshal(public)
	if err != nil {
		t.Fatal(err)
	}
	j.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks" {
			http.NotFound(w, r)
			return
		}
		j.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func privateJWK(t *testing.T, raw any, kid string, alg jwa.SignatureAlgorithm) jwk.Key {
	t.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.AlgorithmKey, alg); err != nil {
		t.Fatal(err)
	}
	return k
}

// jwtClaims are the claims of a test token; zero fields are left out.
type jwtClaims struct {
	iss, sub string
	aud      []string
	exp, nbf time.Time
	extra    map[string]any
}

// signJWT signs claims with key and alg, putting kid (only) in the header
// when set.
func signJWT(t *testing.T, c jwtClaims, alg jwa.SignatureAlgorithm, key any, kid string) string {
	t.Helper()
	b := jwt.NewBuilder().IssuedAt(time.Now())
	if c.iss != "" {
		b = b.Issuer(c.iss)
	}
	if c.sub != "" {
		b = b.Subject(c.sub)
	}
	if c.aud != nil {
		b = b.Audience(c.aud)
	}
	if !c.exp.IsZero() {
		b = b.Expiration(c.exp)
	}
	if !c.nbf.IsZero() {
		b = b.NotBefore(c.nbf)
	}
	for k, v := range c.extra {
		b = b.Claim(k, v)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := key.(jwk.Key); ok {
		// Sign with the raw key so that the header carries exactly kid.
		var raw any
		if err := k.Raw(&raw); err != nil {
			t.Fatal(err)
		}
		key = raw
	}
	hdr := jws.NewHeaders()
	if kid != "" {
		if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
			t.Fatal(err)
		}
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(signed)
}

// extJWTLogin posts /authenticate?method=ext-jwt with authorization as the
// Authorization header (none when empty) and returns the status and envelope.
func extJWTLogin(t *testing.T, c *testCtl, authorization string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", c.base+"/edge/client/v1/authenticate?method=ext-jwt", strings.NewReader(`{"configTypes":["all"]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	env := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("ext-jwt answer %d is not JSON: %v", resp.StatusCode, err)
	}
	if resp.StatusCode == 200 && resp.Header.Get("zt-session") == "" {
		t.Fatal("ext-jwt login without a zt-session header")
	}
	return resp.StatusCode, env
}

// wantExtJWTIdentity logs in with token and checks that the API session
// belongs to identityID and works.
func wantExtJWTIdentity(t *testing.T, c *testCtl, token, identityID string) {
	t.Helper()
	status, env := extJWTLogin(t, c, "Bearer "+token)
	if status != 200 {
		t.Fatalf("ext-jwt login: %d %v", status, env)
	}
	if got := data(env)["identityId"]; got != identityID {
		t.Fatalf("logged in as %v, want %s", got, identityID)
	}
	cl := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1", token: data(env)["token"].(string)}
	status, env = cl.do("GET", "/current-identity", nil)
	if status != 200 || data(env)["id"] != identityID {
		t.Fatalf("current identity with the ext-jwt session: %d %v", status, env)
	}
}

func wantInvalidAuth(t *testing.T, c *testCtl, what, authorization string) {
	t.Helper()
	status, env := extJWTLogin(t, c, authorization)
	if status != 401 || errorCode(env) != "INVALID_AUTH" {
		t.Errorf("%s: want 401 INVALID_AUTH, got %d %v", what, status, env)
	}
}

func TestExtJWTAuthentication(t *testing.T) {
	t.Parallel()
	keys := newJWKSServer(t)
	c := newTestController(t, controller.WithJWKSClient(keys.srv.Client()))
	admin := c.adminClient(t)
	certIssuer := newThirdPartyCA(t, "Cert Issuer")

	const aud = "ostium-clients"
	certSigner := admin.create("/external-jwt-signers", map[string]any{"name": "cert-idp", "enabled": true, "issuer": "https://cert-idp.test",
		"audience": aud, "certPem": certIssuer.pem, "kid": "cert-kid"})
	admin.create("/external-jwt-signers", map[string]any{"name": "jwks-idp", "enabled": true, "issuer": "https://jwks-idp.test",
		"audience": aud, "jwksEndpoint": keys.srv.URL + "/jwks"})
	admin.create("/external-jwt-signers", map[string]any{"name": "email-idp", "enabled": true, "issuer": "https://email-idp.test",
		"audience": aud, "jwksEndpoint": keys.srv.URL + "/jwks", "claimsProperty": "email", "useExternalId": true})
	disabled := newThirdPartyCA(t, "Disabled Issuer")
	admin.create("/external-jwt-signers", map[string]any{"name": "off-idp", "enabled": false, "issuer": "https://off-idp.test",
		"audience": aud, "certPem": disabled.pem, "kid": "off-kid"})

	user := admin.create("/identities", map[string]any{"name": "jwt-user", "type": "User", "isAdmin": false})
	external := admin.create("/identities", map[string]any{"name": "ext-user", "type": "User", "isAdmin": false, "externalId": "ext@example.test"})

	soon := time.Now().Add(10 * time.Minute)
	certClaims := jwtClaims{iss: "https://cert-idp.test", sub: user, aud: []string{"other", aud}, exp: soon}
	jwksClaims := jwtClaims{iss: "https://jwks-idp.test", sub: user, aud: []string{aud}, exp: soon}

	t.Run("cert signer", func(t *testing.T) {
		wantExtJWTIdentity(t, c, signJWT(t, certClaims, jwa.ES256, certIssuer.key, "cert-kid"), user)
		// Without a kid the issuer picks the signer.
		wantExtJWTIdentity(t, c, signJWT(t, certClaims, jwa.ES256, certIssuer.key, ""), user)
	})
	t.Run("jwks signer", func(t *testing.T) {
		wantExtJWTIdentity(t, c, signJWT(t, jwksClaims, jwa.ES256, keys.ecKey, "ec-1"), user)
		wantExtJWTIdentity(t, c, signJWT(t, jwksClaims, jwa.RS256, keys.rsaKey, "rsa-1"), user)
		// Without a kid every key of the set is tried.
		wantExtJWTIdentity(t, c, signJWT(t, jwksClaims, jwa.ES256, keys.ecKey, ""), user)
		wantExtJWTIdentity(t, c, signJWT(t, jwksClaims, jwa.RS256, keys.rsaKey, ""), user)
		// A not-before in the past is fine, and so is one within the skew.
		nbf := jwksClaims
		nbf.nbf = time.Now().Add(10 * time.Second)
		wantExtJWTIdentity(t, c, signJWT(t, nbf, jwa.ES256, keys.ecKey, ""), user)
		if n := keys.fetches.Load(); n != 1 {
			t.Errorf("the key set was fetched %d times, want once (cached)", n)
		}
	})
	t.Run("external id claim", func(t *testing.T) {
		claims := jwtClaims{iss: "https://email-idp.test", sub: "ignored", aud: []string{aud}, exp: soon,
			extra: map[string]any{"email": "ext@example.test"}}
		wantExtJWTIdentity(t, c, signJWT(t, claims, jwa.RS256, keys.rsaKey, ""), external)
		claims.extra["email"] = "nobody@example.test"
		wantInvalidAuth(t, c, "unknown external id", "Bearer "+signJWT(t, claims, jwa.RS256, keys.rsaKey, ""))
		delete(claims.extra, "email")
		wantInvalidAuth(t, c, "missing claim", "Bearer "+signJWT(t, claims, jwa.RS256, keys.rsaKey, ""))
	})

	t.Run("refused", func(t *testing.T) {
		otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		with := func(change func(*jwtClaims)) jwtClaims {
			c := jwksClaims
			change(&c)
			return c
		}
		cases := []struct {
			name, authorization string
		}{
			{"wrong issuer", "Bearer " + signJWT(t, with(func(c *jwtClaims) { c.iss = "https://evil.test" }), jwa.ES256, keys.ecKey, "")},
			{"wrong audience", "Bearer " + signJWT(t, with(func(c *jwtClaims) { c.aud = []string{"someone-else"} }), jwa.ES256, keys.ecKey, "")},
			{"no audience", "Bearer " + signJWT(t, with(func(c *jwtClaims) { c.aud = nil }), jwa.ES256, keys.ecKey, "")},
			{"expired", "Bearer " + signJWT(t, with(func(c *jwtClaims) { c.exp = time.Now().Add(-2 * time.Minute) }), jwa.ES256, keys.ecKey, "")},
			{"no expiry", "Bearer " + signJWT(t, with(func(c *jwtClaims) { c.exp = time.Time{} }), jwa.ES256, keys.ecKey, "")},
			{"not yet valid", "Bearer " + signJWT(t, with(func(c *jwtClaims) { c.nbf = time.Now().Add(5 * time.Minute) }), jwa.ES256, keys.ecKey, "")},
			{"bad signature (jwks)", "Bearer " + signJWT(t, jwksClaims, jwa.ES256, otherKey, "ec-1")},
			{"bad signature (cert)", "Bearer " + signJWT(t, certClaims, jwa.ES256, otherKey, "cert-kid")},
			{"cert kid, other signer's key", "Bearer " + signJWT(t, certClaims, jwa.RS256, keys.rsaKey, "cert-kid")},
			{"unknown kid", "Bearer " + signJWT(t, jwksClaims, jwa.ES256, keys.ecKey, "no-such-kid")},
			{"disabled signer", "Bearer " + signJWT(t, jwtClaims{iss: "https://off-idp.test", sub: user, aud: []string{aud}, exp: soon}, jwa.ES256, disabled.key, "off-kid")},
			{"unknown identity", "Bearer " + signJWT(t, with(func(c *jwtClaims) { c.sub = "no-such-identity" }), jwa.ES256, keys.ecKey, "")},
			{"symmetric algorithm", "Bearer " + signJWT(t, jwksClaims, jwa.HS256, []byte("a shared secret of some length"), "ec-1")},
			{"garbage token", "Bearer not.a.jwt"},
			{"tampered payload", "Bearer " + tamper(signJWT(t, jwksClaims, jwa.ES256, keys.ecKey, ""))},
			{"oversized token", "Bearer " + strings.Repeat("a", 17<<10)},
			{"other scheme", "Basic " + signJWT(t, jwksClaims, jwa.ES256, keys.ecKey, "")},
			{"missing header", ""},
		}
		for _, tc := range cases {
			wantInvalidAuth(t, c, tc.name, tc.authorization)
		}
		// The token of an identity that is disabled opens no session.
		if status, env := admin.do("POST", "/identities/"+user+"/disable", map[string]any{"durationMinutes": 0}); status != 200 {
			t.Fatalf("disable identity: %d %v", status, env)
		}
		wantInvalidAuth(t, c, "disabled identity", "Bearer "+signJWT(t, jwksClaims, jwa.ES256, keys.ecKey, ""))
		if status, env := admin.do("POST", "/identities/"+user+"/enable", nil); status != 200 {
			t.Fatalf("enable identity: %d %v", status, env)
		}
		wantExtJWTIdentity(t, c, signJWT(t, jwksClaims, jwa.ES256, keys.ecKey, ""), user)
	})

	t.Run("signer disabled later", func(t *testing.T) {
		if status, env := admin.do("PATCH", "/external-jwt-signers/"+certSigner, map[string]any{"enabled": false}); status != 200 {
			t.Fatalf("disable signer: %d %v", status, env)
		}
		wantInvalidAuth(t, c, "signer disabled after issuing", "Bearer "+signJWT(t, certClaims, jwa.ES256, certIssuer.key, "cert-kid"))
	})
}

// tamper changes the subject in a token's payload, keeping its signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return token + "x"
	}
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil {
		return token + "x"
	}
	claims["sub"] = "admin"
	out, _ := json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(out)
	return strings.Join(parts, ".")
}

func TestAuthPolicyEnforcement(t *testing.T) {
	t.Parallel()
	keys := newJWKSServer(t)
	c := newTestController(t, controller.WithJWKSClient(keys.srv.Client()))
	admin := c.adminClient(t)
	certIssuer := newThirdPartyCA(t, "Cert Issuer")
	const aud = "ostium"
	certSigner := admin.create("/external-jwt-signers", map[string]any{"name": "cert-idp", "enabled": true, "issuer": "https://cert-idp.test",
		"audience": aud, "certPem": certIssuer.pem, "kid": "cert-kid"})
	jwksSigner := admin.create("/external-jwt-signers", map[string]any{"name": "jwks-idp", "enabled": true, "issuer": "https://jwks-idp.test",
		"audience": aud, "jwksEndpoint": keys.srv.URL + "/jwks"})

	policy := func(name string, updb, extJWT bool, signers ...string) string {
		p := fullAuthPolicy(name)
		p["primary"].(map[string]any)["updb"].(map[string]any)["allowed"] = updb
		p["primary"].(map[string]any)["extJwt"] = map[string]any{"allowed": extJWT, "allowedSigners": append([]string{}, signers...)}
		return admin.create("/auth-policies", p)
	}
	noPasswords := policy("no-passwords", false, true)
	jwksOnly := policy("jwks-only", true, true, jwksSigner)
	noJWT := policy("no-jwt", true, false)

	identity := func(name, policyID string) string {
		body := map[string]any{"name": name, "type": "User", "isAdmin": false}
		if policyID != "" {
			body["authPolicyId"] = policyID
		}
		id := admin.create("/identities", body)
		admin.create("/authenticators", map[string]any{"method": "updb", "identityId": id, "username": name, "password": name + "-password"})
		return id
	}
	defaultID := identity("default-user", "")
	noPasswordsID := identity("no-password-user", noPasswords)
	jwksOnlyID := identity("jwks-only-user", jwksOnly)
	noJWTID := identity("no-jwt-user", noJWT)

	cl := &apiClient{t: t, ctl: c, prefix: "/edge/client/v1"}
	password := func(name string) int {
		status, _ := cl.do("POST", "/authenticate?method=password", map[string]any{"username": name, "password": name + "-password"})
		return status
	}
	if s := password("default-user"); s != 200 {
		t.Errorf("default policy, password: %d", s)
	}
	if s := password("jwks-only-user"); s != 200 {
		t.Errorf("policy allowing passwords: %d", s)
	}
	status, env := cl.do("POST", "/authenticate?method=password", map[string]any{"username": "no-password-user", "password": "no-password-user-password"})
	if status != 401 || errorCode(env) != "INVALID_AUTH" {
		t.Errorf("policy without passwords, password: %d %v", status, env)
	}

	soon := time.Now().Add(10 * time.Minute)
	viaCert := func(sub string) string {
		return signJWT(t, jwtClaims{iss: "https://cert-idp.test", sub: sub, aud: []string{aud}, exp: soon}, jwa.ES256, certIssuer.key, "cert-kid")
	}
	viaJWKS := func(sub string) string {
		return signJWT(t, jwtClaims{iss: "https://jwks-idp.test", sub: sub, aud: []string{aud}, exp: soon}, jwa.ES256, keys.ecKey, "")
	}
	wantExtJWTIdentity(t, c, viaCert(defaultID), defaultID)
	wantExtJWTIdentity(t, c, viaJWKS(defaultID), defaultID)
	wantExtJWTIdentity(t, c, viaCert(noPasswordsID), noPasswordsID)
	wantExtJWTIdentity(t, c, viaJWKS(jwksOnlyID), jwksOnlyID)
	wantInvalidAuth(t, c, "signer not in the allowed list", "Bearer "+viaCert(jwksOnlyID))
	wantInvalidAuth(t, c, "policy without ext-jwt (cert signer)", "Bearer "+viaCert(noJWTID))
	wantInvalidAuth(t, c, "policy without ext-jwt (jwks signer)", "Bearer "+viaJWKS(noJWTID))

	// Moving an identity to another policy takes effect at its next login.
	if status, env := admin.do("PATCH", "/identities/"+defaultID, map[string]any{"authPolicyId": noPasswords}); status != 200 {
		t.Fatalf("patch identity: %d %v", status, env)
	}
	if s := password("default-user"); s != 401 {
		t.Errorf("password after moving to a policy without passwords: %d", s)
	}
	// Allowing the cert signer too lets the restricted identity in with it.
	if status, env := admin.do("PATCH", "/auth-policies/"+jwksOnly, map[string]any{"primary": map[string]any{"extJwt": map[string]any{
		"allowed": true, "allowedSigners": []string{jwksSigner, certSigner}}}}); status != 200 {
		t.Fatalf("patch policy: %d %v", status, env)
	}
	wantExtJWTIdentity(t, c, viaCert(jwksOnlyID), jwksOnlyID)

	// A policy that requires the JWKS signer's JWT as a second factor: the
	// password alone is refused; with the identity's JWT in the same request
	// it is accepted; a JWT naming someone else is refused.
	second := fullAuthPolicy("second-factor")
	second["secondary"] = map[string]any{"requireTotp": false, "requireExtJwtSigner": jwksSigner}
	secondID := admin.create("/auth-policies", second)
	twoFactorID := identity("two-factor-user", secondID)
	if s := password("two-factor-user"); s != 401 {
		t.Errorf("password without the second-factor JWT: %d", s)
	}
	withJWT := func(jwt string) int {
		body := []byte(`{"username":"two-factor-user","password":"two-factor-user-password"}`)
		req, _ := http.NewRequest("POST", c.base+"/edge/client/v1/authenticate?method=password", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+jwt)
		resp, err := c.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := withJWT(viaJWKS(twoFactorID)); s != 200 {
		t.Errorf("password with the second-factor JWT: %d", s)
	}
	if s := withJWT(viaJWKS(defaultID)); s != 401 {
		t.Errorf("second-factor JWT of another identity: %d", s)
	}
	if s := withJWT(viaCert(twoFactorID)); s != 401 {
		t.Errorf("second-factor JWT of the wrong signer: %d", s)
	}
}
