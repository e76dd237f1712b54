package api_test

import (
	"strings"
	"testing"

	"github.com/ostium-net/ostium/controller/pki"
)

func TestExternalJWTSignerCRUD(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	signerCA := newThirdPartyCA(t, "JWT Signer")

	withCert := admin.create("/external-jwt-signers", map[string]any{"name": "idp-cert", "enabled": true, "issuer": "https://idp.example",
		"audience": "ostium", "certPem": signerCA.pem, "kid": "key-1", "scopes": []string{"openid"}})
	status, env := admin.do("GET", "/external-jwt-signers/"+withCert, nil)
	d := data(env)
	if status != 200 || d["name"] != "idp-cert" || d["fingerprint"] != pki.Fingerprint(signerCA.cert.Raw) || d["kid"] != "key-1" ||
		d["commonName"] != "JWT Signer" || d["claimsProperty"] != "sub" || d["useExternalId"] != false || d["notAfter"] == nil {
		t.Fatalf("detail: %d %v", status, env)
	}
	withJWKS := admin.create("/external-jwt-signers", map[string]any{"name": "idp-jwks", "enabled": false, "issuer": "https://other.example",
		"audience": "ostium", "jwksEndpoint": "https://other.example/keys", "claimsProperty": "email", "useExternalId": true,
		"externalAuthUrl": "https://other.example/auth", "clientId": "cid"})
	_, env = admin.do("GET", "/external-jwt-signers/"+withJWKS, nil)
	d = data(env)
	if d["jwksEndpoint"] != "https://other.example/keys" || d["certPem"] != nil || d["claimsProperty"] != "email" || d["useExternalId"] != true || d["clientId"] != "cid" {
		t.Fatalf("jwks detail: %v", d)
	}
	// Kids and names are unique.
	if status, env := admin.do("POST", "/external-jwt-signers", map[string]any{"name": "third", "enabled": true, "issuer": "i", "audience": "a",
		"certPem": signerCA.pem, "kid": "key-1"}); status != 409 {
		t.Fatalf("duplicate kid: %d %v", status, env)
	}

	// PATCH: switching to a JWKS endpoint drops the certificate.
	if status, env := admin.do("PATCH", "/external-jwt-signers/"+withCert, map[string]any{"jwksEndpoint": "https://idp.example/jwks"}); status != 200 {
		t.Fatalf("patch: %d %v", status, env)
	}
	_, env = admin.do("GET", "/external-jwt-signers/"+withCert, nil)
	if d := data(env); d["jwksEndpoint"] != "https://idp.example/jwks" || d["certPem"] != nil || d["fingerprint"] != nil || d["issuer"] != "https://idp.example" {
		t.Fatalf("after patch: %v", d)
	}
	// PUT replaces everything.
	if status, env := admin.do("PUT", "/external-jwt-signers/"+withCert, map[string]any{"name": "idp-cert2", "enabled": false,
		"issuer": "https://idp2.example", "audience": "aud2", "certPem": signerCA.pem}); status != 200 {
		t.Fatalf("put: %d %v", status, env)
	}
	_, env = admin.do("GET", "/external-jwt-signers/"+withCert, nil)
	if d := data(env); d["name"] != "idp-cert2" || d["enabled"] != false || d["kid"] != nil || d["jwksEndpoint"] != nil || len(d["scopes"].([]any)) != 0 {
		t.Fatalf("after put: %v", d)
	}

	// A signer named by an auth policy cannot be deleted.
	pol := fullAuthPolicy("jwt-policy")
	pol["primary"].(map[string]any)["extJwt"] = map[string]any{"allowed": true, "allowedSigners": []string{withJWKS}}
	polID := admin.create("/auth-policies", pol)
	if status, env := admin.do("DELETE", "/external-jwt-signers/"+withJWKS, nil); status != 409 {
		t.Fatalf("delete of a signer in use: %d %v", status, env)
	}
	if status, _ := admin.do("DELETE", "/auth-policies/"+polID, nil); status != 200 {
		t.Fatalf("delete policy: %d", status)
	}
	for _, id := range []string{withJWKS, withCert} {
		if status, _ := admin.do("DELETE", "/external-jwt-signers/"+id, nil); status != 200 {
			t.Fatalf("delete: %d", status)
		}
	}
	if status, env := admin.do("GET", "/external-jwt-signers", nil); status != 200 || len(items(env)) != 0 {
		t.Fatalf("list after delete: %d %v", status, env)
	}

	// Bad input, on the same controller.
	t.Run("bad input", func(t *testing.T) { externalJWTSignerBadInput(t, c) })
}

// externalJWTSignerBadInput sends bad input to every operation of the entity.
func externalJWTSignerBadInput(t *testing.T, c *testCtl) {
	admin := c.adminClient(t)
	signerCA := newThirdPartyCA(t, "JWT Signer")
	id := admin.create("/external-jwt-signers", map[string]any{"name": "s", "enabled": true, "issuer": "i", "audience": "a", "jwksEndpoint": "https://x.example/k"})
	base := func(extra map[string]any) map[string]any {
		m := map[string]any{"name": "n", "enabled": true, "issuer": "i", "audience": "a"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for name, body := range map[string]any{
		"malformed JSON":   `{"name": `,
		"wrong type":       base(map[string]any{"enabled": "yes", "jwksEndpoint": "https://x.example/k2"}),
		"neither key":      base(nil),
		"both keys":        base(map[string]any{"certPem": signerCA.pem, "jwksEndpoint": "https://x.example/k2"}),
		"bad certificate":  base(map[string]any{"certPem": "nope"}),
		"missing issuer":   map[string]any{"name": "n", "enabled": true, "audience": "a", "jwksEndpoint": "https://x.example/k2"},
		"missing audience": map[string]any{"name": "n", "enabled": true, "issuer": "i", "jwksEndpoint": "https://x.example/k2"},
		"over-long name":   base(map[string]any{"name": strings.Repeat("n", 256), "jwksEndpoint": "https://x.example/k2"}),
		"not a URL":        base(map[string]any{"jwksEndpoint": "not a url"}),
	} {
		if status, env := admin.do("POST", "/external-jwt-signers", body); status != 400 || errorCode(env) != "COULD_NOT_VALIDATE" {
			t.Errorf("create, %s: %d %v", name, status, env)
		}
	}
	if status, env := admin.do("PATCH", "/external-jwt-signers/"+id, map[string]any{"certPem": signerCA.pem, "jwksEndpoint": "https://x.example/k3"}); status != 400 {
		t.Errorf("patch both keys: %d %v", status, env)
	}
	if status, env := admin.do("PATCH", "/external-jwt-signers/"+id, map[string]any{"issuer": ""}); status != 400 {
		t.Errorf("patch empty issuer: %d %v", status, env)
	}
	for _, op := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/external-jwt-signers/nope", nil},
		{"DELETE", "/external-jwt-signers/nope", nil},
		{"PUT", "/external-jwt-signers/nope", base(map[string]any{"jwksEndpoint": "https://x.example/k4"})},
		{"PATCH", "/external-jwt-signers/nope", map[string]any{"name": "x"}},
	} {
		if status, env := admin.do(op.method, op.path, op.body); status != 404 || errorCode(env) != "NOT_FOUND" {
			t.Errorf("%s %s: %d %v", op.method, op.path, status, env)
		}
	}
}
