package api_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// oidcClient talks to a controller as an OpenZiti SDK does during an OIDC
// sign-in: over one TLS client (with the identity's certificate, when
// given) that never follows a redirect by itself.
type oidcClient struct {
	t    *testing.T
	c    *testCtl
	http *http.Client
}

func newOIDCClient(t *testing.T, c *testCtl, cert *tls.Certificate) *oidcClient {
	t.Helper()
	cfg := &tls.Config{RootCAs: c.ctl.CAPool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &oidcClient{t: t, c: c, http: &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// send makes a request to target (a path of the controller or a full URL)
// and returns the answer with its body read. Every answer must carry the
// instance header and no input may bring a 5xx.
func (o *oidcClient) send(method, target, contentType string, body []byte, header map[string]string) (*http.Response, []byte) {
	o.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = o.c.base + target
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		o.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := o.http.Do(req)
	if err != nil {
		o.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		o.t.Fatalf("%s %s: server error %d: %s", method, target, resp.StatusCode, out)
	}
	if resp.Header.Get("ziti-instance-id") == "" {
		o.t.Errorf("%s %s: no ziti-instance-id", method, target)
	}
	return resp, out
}

// form posts a form.
func (o *oidcClient) form(target string, values url.Values, header map[string]string) (*http.Response, map[string]any) {
	o.t.Helper()
	resp, body := o.send("POST", target, "application/x-www-form-urlencoded", []byte(values.Encode()), header)
	return resp, jsonOf(o.t, body)
}

func jsonOf(t *testing.T, body []byte) map[string]any {
	t.Helper()
	out := map[string]any{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("answer is not JSON: %q", body)
		}
	}
	return out
}

// pkce is a code verifier and its S256 challenge, as the C SDK makes them.
func pkce(t *testing.T) (verifier, challenge string) {
	var b [40]byte
	_, _ = rand.Read(b[:])
	verifier = base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

const cSDKCallback = "http://localhost:20314/auth/callback"

// tokens are what the token endpoint answered.
type tokens struct {
	Access, Refresh, ID string
	ExpiresIn           float64
}

func tokensOf(t *testing.T, resp *http.Response, body map[string]any) tokens {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token answer may be cached: %q", resp.Header.Get("Cache-Control"))
	}
	tk := tokens{}
	tk.Access, _ = body["access_token"].(string)
	tk.Refresh, _ = body["refresh_token"].(string)
	tk.ID, _ = body["id_token"].(string)
	tk.ExpiresIn, _ = body["expires_in"].(float64)
	if tk.Access == "" || body["token_type"] != "Bearer" || tk.ExpiresIn <= 0 {
		t.Fatalf("token answer: %v", body)
	}
	return tk
}

// claimsOf decodes a JWT's payload without checking it, as the C SDK does,
// and requires what it requires: a string iss and a numeric exp.
func claimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	c := jsonOf(t, raw)
	if _, ok := c["iss"].(string); !ok {
		t.Fatalf("JWT without iss: %v", c)
	}
	if _, ok := c["exp"].(float64); !ok {
		t.Fatalf("JWT without exp: %v", c)
	}
	return c
}

// cSDKSignIn runs OpenZiti's C SDK OIDC sign-in with the client's
// certificate: discovery from /version, the authorization request posted
// with its parameters in the query, the certificate login with a JSON body,
// the callback, and the code exchange. It returns the tokens.
func (o *oidcClient) cSDKSignIn() tokens {
	t := o.t
	t.Helper()
	_, body := o.send("GET", "/version", "", nil, nil)
	v := jsonOf(t, body)["data"].(map[string]any)
	if !slices.Contains(stringList(v["capabilities"]), "OIDC_AUTH") {
		t.Fatalf("capabilities: %v", v["capabilities"])
	}
	provider := v["apiVersions"].(map[string]any)["edge-oidc"].(map[string]any)["v1"].(map[string]any)["apiBaseUrls"].([]any)[0].(string)
	_, body = o.send("GET", provider+"/.well-known/openid-configuration", "", nil, nil)
	disc := jsonOf(t, body)
	if disc["issuer"] != provider {
		t.Fatalf("issuer %v, want %s", disc["issuer"], provider)
	}
	verifier, challenge := pkce(t)
	state := "c-sdk-state-0123456789abcdefghijklmnopq"
	q := url.Values{"client_id": {"openziti"}, "scope": {"openid offline_access"}, "response_type": {"code"},
		"redirect_uri": {cSDKCallback}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		"state": {state}, "audience": {"openziti"}}
	resp, body := o.send("POST", disc["authorization_endpoint"].(string)+"?"+q.Encode(), "application/json", nil, nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || !strings.Contains(loc, "authRequestID=") {
		t.Fatalf("authorize: %d %q %s", resp.StatusCode, loc, body)
	}
	id := strings.SplitN(loc[strings.Index(loc, "authRequestID=")+len("authRequestID="):], "&", 2)[0]
	login := `{"sdkInfo":{"type":"ziti-sdk-c","version":"1.18.0"},"envInfo":{"os":"Linux","arch":"x86_64","osRelease":"6.1"}}`
	resp, body = o.send("POST", "/oidc/login/cert?id="+id, "application/json", []byte(login), nil)
	if resp.StatusCode/100 != 3 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	return o.finishSignIn(resp, disc["token_endpoint"].(string), state, verifier)
}

// finishSignIn follows a login's redirect to the callback and exchanges the
// code as the C SDK does: everything after "code=" is taken as the code.
func (o *oidcClient) finishSignIn(login *http.Response, tokenEndpoint, state, verifier string) tokens {
	t := o.t
	t.Helper()
	cb, err := url.Parse(login.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(cb.Path, "/oidc/") {
		t.Fatalf("login redirect: %q", login.Header.Get("Location"))
	}
	resp, body := o.send("GET", cb.RequestURI(), "", nil, nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, cSDKCallback+"?") || !strings.Contains(loc, "state="+state) {
		t.Fatalf("callback: %d %q %s", resp.StatusCode, loc, body)
	}
	code := loc[strings.Index(loc, "code=")+len("code="):]
	r, tok := o.form(tokenEndpoint, url.Values{"state": {state}, "code": {code}, "grant_type": {"authorization_code"},
		"code_verifier": {verifier}, "client_id": {"openziti"}, "redirect_uri": {cSDKCallback}}, nil)
	return tokensOf(t, r, tok)
}

// bearer calls the client API at the root with an access token.
func (o *oidcClient) bearer(method, path, token string, body any) (int, map[string]any) {
	o.t.Helper()
	var raw []byte
	ct := ""
	if body != nil {
		raw, _ = json.Marshal(body)
		ct = "application/json"
	}
	resp, out := o.send(method, path, ct, raw, map[string]string{"Authorization": "Bearer " + token})
	return resp.StatusCode, jsonOf(o.t, out)
}

// TestOIDCSignInAsTheCSDK signs in with a certificate as OpenZiti's C SDK
// does when the controller lists OIDC_AUTH, uses the access token on the
// client API at the root, refreshes it the C SDK's way and the Go SDK's
// way, and logs out; the session is seen by administrators meanwhile, and
// nothing of it works afterwards.
func TestOIDCSignInAsTheCSDK(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	identityID, cert := enrolledIdentity(t, c, admin, "tunneler")
	admin.do("PATCH", "/identities/"+identityID, map[string]any{"roleAttributes": []string{"users"}})
	svc := admin.create("/services", map[string]any{"name": "web", "encryptionRequired": true, "roleAttributes": []string{"web"}})
	admin.create("/service-policies", map[string]any{"name": "users-dial-web", "type": "Dial", "semantic": "AllOf",
		"identityRoles": []string{"#users"}, "serviceRoles": []string{"#web"}})
	c.ctl.Routers().Connected(admin.create("/edge-routers", map[string]any{"name": "edge-1"}))
	admin.create("/edge-router-policies", map[string]any{"name": "all", "semantic": "AnyOf", "identityRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})
	admin.create("/service-edge-router-policies", map[string]any{"name": "all", "semantic": "AnyOf", "serviceRoles": []string{"#all"}, "edgeRouterRoles": []string{"#all"}})

	sdk := newOIDCClient(t, c, cert)
	tk := sdk.cSDKSignIn()
	access := claimsOf(t, tk.Access)
	claimsOf(t, tk.Refresh)
	id := claimsOf(t, tk.ID)
	asid, _ := access["z_asid"].(string)
	if access["sub"] != identityID || asid == "" || access["z_t"] != "a" || !slices.Contains(stringList(access["aud"]), "openziti") ||
		len(stringList(access["z_cfs"])) != 1 || id["aud"] != "openziti" && !slices.Contains(stringList(id["aud"]), "openziti") {
		t.Fatalf("access %v id %v", access, id)
	}

	// The access token is the credential of the client API, at the root.
	status, env := sdk.bearer("GET", "/current-api-session", tk.Access, nil)
	if status != 200 || data(env)["token"] != tk.Access || data(env)["id"] != asid {
		t.Fatalf("current-api-session: %d %v", status, env)
	}
	if status, env := sdk.bearer("GET", "/services", tk.Access, nil); status != 200 || len(items(env)) != 1 {
		t.Fatalf("services: %d %v", status, env)
	}
	if status, env := sdk.bearer("POST", "/sessions", tk.Access, map[string]any{"serviceId": svc, "type": "Dial"}); status != 201 ||
		data(env)["apiSessionId"] != asid {
		t.Fatalf("session: %d %v", status, env)
	}
	// Administrators see the API session like any other.
	if status, env := admin.do("GET", "/api-sessions/"+asid, nil); status != 200 || data(env)["identityId"] != identityID {
		t.Fatalf("admin view of the OIDC session: %d %v", status, env)
	}
	// The token is bound to the certificate it was obtained with.
	if status, _ := newOIDCClient(t, c, nil).bearer("GET", "/current-identity", tk.Access, nil); status != 401 {
		t.Fatalf("access token without its certificate: %d", status)
	}
	// An identity cannot use the management API with it.
	if status, _ := sdk.bearer("GET", "/edge/management/v1/identities", tk.Access, nil); status != 401 {
		t.Fatalf("non-admin token on the management API: %d", status)
	}

	// The C SDK's refresh: HTTP Basic with the URL-safe alphabet.
	basic := "Basic " + base64.URLEncoding.EncodeToString([]byte("openziti:"))
	resp, body := sdk.form("/oidc/oauth/token", url.Values{"client_id": {"openziti"}, "grant_type": {"refresh_token"},
		"refresh_token": {tk.Refresh}}, map[string]string{"Authorization": basic})
	refreshed := tokensOf(t, resp, body)
	if claimsOf(t, refreshed.Access)["z_asid"] != asid || refreshed.Access == tk.Access {
		t.Fatalf("refresh: %v", refreshed)
	}
	if status, _ := sdk.bearer("GET", "/current-identity", refreshed.Access, nil); status != 200 {
		t.Fatalf("refreshed token: %d", status)
	}
	// The Go SDK's: a token exchange for a refresh token, then one for an
	// ID token that comes in access_token.
	exchange := func(requested string) (*http.Response, map[string]any) {
		return sdk.form("/oidc/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token": {refreshed.Refresh}, "subject_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"},
			"requested_token_type": {requested}}, map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("native:"))})
	}
	resp, body = exchange("urn:ietf:params:oauth:token-type:refresh_token")
	if ex := tokensOf(t, resp, body); ex.Refresh == "" || body["issued_token_type"] != "urn:ietf:params:oauth:token-type:refresh_token" {
		t.Fatalf("exchange for a refresh token: %v", body)
	}
	resp, body = exchange("urn:ietf:params:oauth:token-type:id_token")
	if resp.StatusCode != 200 || claimsOf(t, body["access_token"].(string))["sid"] != asid {
		t.Fatalf("exchange for an ID token: %d %v", resp.StatusCode, body)
	}
	// A refresh without the certificate is refused.
	resp, body = newOIDCClient(t, c, nil).form("/oidc/oauth/token", url.Values{"client_id": {"openziti"},
		"grant_type": {"refresh_token"}, "refresh_token": {tk.Refresh}}, nil)
	if resp.StatusCode != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("refresh without the certificate: %d %v", resp.StatusCode, body)
	}

	// Logout ends the API session: no token of it works any more.
	if status, env := sdk.bearer("DELETE", "/current-api-session", refreshed.Access, nil); status != 200 {
		t.Fatalf("logout: %d %v", status, env)
	}
	for _, at := range []string{tk.Access, refreshed.Access} {
		if status, _ := sdk.bearer("GET", "/current-identity", at, nil); status != 401 {
			t.Fatalf("access token after logout: %d", status)
		}
	}
	resp, body = sdk.form("/oidc/oauth/token", url.Values{"client_id": {"openziti"}, "grant_type": {"refresh_token"}, "refresh_token": {tk.Refresh}}, nil)
	if resp.StatusCode != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("refresh after logout: %d %v", resp.StatusCode, body)
	}
	if status, _ := admin.do("GET", "/api-sessions/"+asid, nil); status != 404 {
		t.Fatalf("the session outlived its logout: %d", status)
	}
}

// TestOIDCRevokeAndCodeReuse: /oidc/revoke ends a sign-in, and an
// authorization code used twice ends the sign-in it gave.
func TestOIDCRevokeAndCodeReuse(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	_, cert := enrolledIdentity(t, c, admin, "revoker")
	sdk := newOIDCClient(t, c, cert)

	tk := sdk.cSDKSignIn()
	if status, _ := sdk.bearer("GET", "/current-identity", tk.Access, nil); status != 200 {
		t.Fatalf("before revocation: %d", status)
	}
	resp, _ := sdk.send("POST", "/oidc/revoke", "application/x-www-form-urlencoded",
		[]byte(url.Values{"client_id": {"openziti"}, "token": {tk.Refresh}, "token_type_hint": {"refresh_token"}}.Encode()), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if status, _ := sdk.bearer("GET", "/current-identity", tk.Access, nil); status != 401 {
		t.Fatalf("access token after revocation: %d", status)
	}
	// Revoking what is not a token of ours is no error (RFC 7009).
	resp, _ = sdk.send("POST", "/oidc/revoke", "application/x-www-form-urlencoded", []byte("client_id=openziti&token=nonsense"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("revoking nonsense: %d", resp.StatusCode)
	}

	// A code used twice.
	verifier, challenge := pkce(t)
	q := url.Values{"client_id": {"native"}, "scope": {"openid"}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:8080/auth/callback"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"s1"}, "nonce": {"n1"}}
	resp, _ = sdk.send("GET", "/oidc/authorize?"+q.Encode(), "", nil, nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Path != "/oidc/login/cert" {
		t.Fatalf("authorize with a certificate: %d %v", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The Go SDK reads the id from the login page's header.
	page, _ := sdk.send("GET", loc.RequestURI(), "", nil, nil)
	reqID := page.Header.Get("auth-request-id")
	if page.StatusCode != 200 || reqID == "" {
		t.Fatalf("login page: %d %v", page.StatusCode, page.Header)
	}
	resp, _ = sdk.send("POST", "/oidc/login/cert", "application/x-www-form-urlencoded", []byte("id="+url.QueryEscape(reqID)), nil)
	cb, _ := url.Parse(resp.Header.Get("Location"))
	resp, _ = sdk.send("GET", cb.RequestURI(), "", nil, nil)
	final, _ := url.Parse(resp.Header.Get("Location"))
	code := final.Query().Get("code")
	redeem := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "client_id": {"native"},
		"redirect_uri": {"http://127.0.0.1:8080/auth/callback"}}
	r1, b1 := sdk.form("/oidc/token", redeem, nil)
	first := tokensOf(t, r1, b1)
	if first.Refresh != "" {
		t.Fatal("a refresh token without offline_access")
	}
	if claimsOf(t, first.ID)["nonce"] != "n1" {
		t.Fatalf("ID token nonce: %v", claimsOf(t, first.ID))
	}
	r2, b2 := sdk.form("/oidc/token", redeem, nil)
	if r2.StatusCode != 400 || b2["error"] != "invalid_grant" {
		t.Fatalf("second use of a code: %d %v", r2.StatusCode, b2)
	}
	if status, _ := sdk.bearer("GET", "/current-identity", first.Access, nil); status != 401 {
		t.Fatalf("the sign-in of a replayed code still works: %d", status)
	}
}

// TestOIDCPasswordWithTOTP signs in with a password as the Go SDK does
// (form posts), meets the TOTP step, fails it once, passes it with a
// recovery code, and gets tokens.
func TestOIDCPasswordWithTOTP(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	admin := c.adminClient(t)
	cl, _ := clientFor(t, c, admin, "mfa-user")
	codes, recovery := enrollTOTP(t, cl)
	sdk := newOIDCClient(t, c, nil)
	verifier, challenge := pkce(t)
	q := url.Values{"client_id": {"native"}, "scope": {"openid offline_access"}, "response_type": {"code"}, "redirect_uri": {cSDKCallback},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"st"}}
	resp, _ := sdk.send("GET", "/oidc/authorize?"+q.Encode(), "", nil, nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil || loc.Path != "/oidc/login/username" {
		t.Fatalf("authorize without a certificate: %v", resp.Header.Get("Location"))
	}
	reqID := loc.Query().Get("authRequestID")
	login := url.Values{"id": {reqID}, "username": {"mfa-user-user"}, "password": {"wrong"}, "configTypes": {"intercept.v1"}, "sdkType": {"ziti-sdk-golang"}}
	resp, body := sdk.form("/oidc/login/password", login, nil)
	if resp.StatusCode != 401 || body["error"] != "access_denied" {
		t.Fatalf("wrong password: %d %v", resp.StatusCode, body)
	}
	login.Set("password", "mfa-user-password")
	resp, body = sdk.form("/oidc/login/password", login, nil)
	if resp.StatusCode != 200 || resp.Header.Get("totp-required") != "true" || len(body["authQueries"].([]any)) != 1 {
		t.Fatalf("password login of an MFA identity: %d %v %v", resp.StatusCode, resp.Header, body)
	}
	// No code, no tokens: the callback refuses.
	if resp, _ := sdk.send("GET", "/oidc/authorize/callback?id="+url.QueryEscape(reqID), "", nil, nil); resp.StatusCode != 403 {
		t.Fatalf("callback before TOTP: %d", resp.StatusCode)
	}
	resp, body = sdk.form("/oidc/login/totp", url.Values{"id": {reqID}, "code": {wrongTOTP(t, codes.secret)}}, nil)
	if resp.StatusCode != 400 {
		t.Fatalf("wrong TOTP: %d %v", resp.StatusCode, body)
	}
	resp, _ = sdk.send("POST", "/oidc/login/totp", "application/json", []byte(`{"id":"`+reqID+`","code":"`+recovery[0]+`"}`), nil)
	if resp.StatusCode != 302 {
		t.Fatalf("recovery code: %d", resp.StatusCode)
	}
	tk := sdk.finishSignIn(resp, "/oidc/oauth/token", "st", verifier)
	c1 := claimsOf(t, tk.Access)
	if !slices.Contains(stringList(c1["amr"]), "totp") || !slices.Contains(stringList(c1["z_ct"]), "intercept.v1") {
		t.Fatalf("claims: %v", c1)
	}
	if status, env := sdk.bearer("GET", "/current-api-session", tk.Access, nil); status != 200 || data(env)["isMfaComplete"] != true {
		t.Fatalf("MFA session: %d %v", status, env)
	}
}

// TestOIDCBadInput sends what a careless or hostile client would to every
// OIDC endpoint: each answer is a 4xx with an OAuth error document.
func TestOIDCBadInput(t *testing.T) {
	t.Parallel()
	c := newTestController(t)
	o := newOIDCClient(t, c, nil)
	long := strings.Repeat("x", 70000)
	_, challenge := pkce(t)
	good := url.Values{"client_id": {"openziti"}, "scope": {"openid"}, "response_type": {"code"}, "redirect_uri": {cSDKCallback},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	with := func(k, v string) string {
		q := url.Values{}
		for kk, vv := range good {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q.Encode()
	}
	cases := []struct {
		method, path, ct, body string
		status                 int
		code                   string
	}{
		{"GET", "/oidc/authorize?" + with("client_id", "evil"), "", "", 400, "unauthorized_client"},
		{"GET", "/oidc/authorize?" + with("redirect_uri", "https://evil.example/cb"), "", "", 400, "invalid_request"},
		{"GET", "/oidc/authorize?" + with("redirect_uri", "http://localhost:1/other"), "", "", 400, "invalid_request"},
		{"GET", "/oidc/authorize?" + good.Encode() + "&client_id=native", "", "", 400, "invalid_request"},
		{"GET", "/oidc/authorize?%zz", "", "", 400, "invalid_request"},
		{"POST", "/oidc/authorize", "application/x-www-form-urlencoded", long, 400, "invalid_request"},
		{"GET", "/oidc/authorize/callback?id=nope", "", "", 400, "invalid_request"},
		{"GET", "/oidc/login/cert?authRequestID=nope", "", "", 400, "invalid_request"},
		{"POST", "/oidc/login/cert?id=nope", "application/json", `{}`, 400, "invalid_request"},
		{"POST", "/oidc/login/cert", "application/json", `{"id": 7}`, 400, "invalid_request"},
		{"POST", "/oidc/login/password", "application/json", `{"id":`, 400, "invalid_request"},
		{"POST", "/oidc/login/password", "text/xml", `<id/>`, 400, "invalid_request"},
		{"POST", "/oidc/login/password", "application/json", `{"id":"a","envInfo":{"os":"` + strings.Repeat("o", 600) + `"}}`, 400, "invalid_request"},
		{"POST", "/oidc/login/totp", "application/x-www-form-urlencoded", "id=nope&code=123456", 400, "invalid_request"},
		{"POST", "/oidc/login/totp", "application/json", `[]`, 400, "invalid_request"},
		{"POST", "/oidc/oauth/token", "application/json", `{"grant_type":"authorization_code"}`, 400, "invalid_request"},
		{"POST", "/oidc/oauth/token", "application/x-www-form-urlencoded", "grant_type=password&client_id=openziti", 400, "unsupported_grant_type"},
		{"POST", "/oidc/oauth/token", "application/x-www-form-urlencoded", "grant_type=authorization_code&client_id=evil", 401, "invalid_client"},
		{"POST", "/oidc/oauth/token", "application/x-www-form-urlencoded", "grant_type=authorization_code&client_id=openziti&client_secret=s", 401, "invalid_client"},
		{"POST", "/oidc/oauth/token", "application/x-www-form-urlencoded", "grant_type=authorization_code&client_id=openziti&code=x&code_verifier=" + strings.Repeat("v", 50), 400, "invalid_grant"},
		{"POST", "/oidc/oauth/token", "application/x-www-form-urlencoded", "grant_type=authorization_code&client_id=openziti", 400, "invalid_request"},
		{"POST", "/oidc/oauth/token", "application/x-www-form-urlencoded", "grant_type=refresh_token&client_id=openziti&refresh_token=eyJ.e30.x", 400, "invalid_grant"},
		{"POST", "/oidc/oauth/token", "application/x-www-form-urlencoded", "grant_type=refresh_token&client_id=openziti&refresh_token=a&refresh_token=b", 400, "invalid_request"},
		{"POST", "/oidc/token", "application/x-www-form-urlencoded", "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&client_id=openziti&subject_token=x", 400, "invalid_request"},
		{"POST", "/oidc/revoke", "application/x-www-form-urlencoded", "client_id=openziti", 400, "invalid_request"},
		{"GET", "/oidc/userinfo", "", "", 401, "invalid_token"},
		{"GET", "/oidc/end_session?id_token_hint=garbage", "", "", 400, "invalid_request"},
		{"DELETE", "/oidc/keys", "", "", 405, "invalid_request"},
		{"GET", "/oidc/nothing-here", "", "", 404, "invalid_request"},
	}
	for _, tc := range cases {
		resp, body := o.send(tc.method, tc.path, tc.ct, []byte(tc.body), nil)
		doc := jsonOf(t, body)
		if resp.StatusCode != tc.status || doc["error"] != tc.code || doc["error_description"] == "" {
			t.Errorf("%s %.80s: %d %v, want %d %s", tc.method, tc.path, resp.StatusCode, doc, tc.status, tc.code)
		}
	}
	// Errors found once the redirect URI is trusted go back to it.
	for k, v := range map[string]string{"response_type": "token", "code_challenge": "", "code_challenge_method": "plain", "scope": "email"} {
		resp, _ := o.send("GET", "/oidc/authorize?"+with(k, v), "", nil, nil)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 302 || loc == nil || !strings.HasPrefix(loc.String(), cSDKCallback) || loc.Query().Get("error") == "" {
			t.Errorf("authorize with %s=%q: %d %q", k, v, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// An invalid or foreign bearer token is refused by the API with its envelope.
	for _, token := range []string{"not-a-jwt", "eyJhbGciOiJub25lIn0.eyJ6X3QiOiJhIn0.", long[:5000]} {
		req, _ := http.NewRequest("GET", c.base+"/current-identity", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || errorCode(jsonOf(t, raw)) != "UNAUTHORIZED" {
			t.Errorf("bearer %.20q: %d %s", token, resp.StatusCode, raw)
		}
	}
}
